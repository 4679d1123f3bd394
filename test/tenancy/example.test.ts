import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import type { LocalControlPlane } from "../../src/runtime/local.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { adminCluster } from "../apply/helpers.js";
import { configMap, gitRepository, kustomization, live, plane, untilReady, yamlOf } from "./helpers.js";

// examples/tenants as a platform team would run it: the platform repo (no service account) creates
// the tenants' namespaces, service accounts and RoleBindings and registers each tenant's repo; each
// tenant's Kustomization then acts as its own service account.

const { kube, git } = inject("testbed");
const EXAMPLE = "examples/tenants";
let lp: LocalControlPlane;
let admin: Cluster;
const urls: Record<string, string> = {};

beforeAll(async () => {
  admin = await adminCluster(kube);
  const credentials = { username: git.username, password: git.password };
  const secret = (name: string, namespace: string) =>
    ({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData: credentials }) as KubeObject;
  // The namespaces exist first only so the Git credentials can be put in them; the platform repo takes them over.
  const namespace = (name: string) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } }) as KubeObject;
  await applyAll(admin, [namespace("flux-system"), namespace("team-a"), namespace("team-b")]);
  await applyAll(admin, [
    secret("git-auth", "flux-system"),
    secret("team-a-git", "team-a"),
    secret("team-b-git", "team-b"),
  ]);
  for (const repo of ["platform", "team-a", "team-b"]) {
    urls[repo] = await createRepo(git, `tenants-${repo}`);
    await pushTree(git, `tenants-${repo}`, { folder: `${EXAMPLE}/${repo}` });
  }
  lp = await plane(kube, { noCrossNamespaceRefs: true });
  const root = parse(await readFile(`${EXAMPLE}/platform/clusters/local/tenants.yaml`, "utf8")) as KubeObject & {
    spec: { postBuild: { substitute: Record<string, string> } };
  };
  root.spec.postBuild.substitute = { TEAM_A_URL: urls["team-a"]!, TEAM_B_URL: urls["team-b"]! };
  await applyToStore(lp.runtime.store, gitRepository("platform", "flux-system", urls.platform!));
  await applyToStore(lp.runtime.store, root);
});

afterAll(async () => {
  await lp?.stop();
});

describe(`examples/tenants: a platform repo onboarding two tenant repos, kube-apiserver ${kube.version} (RBAC)`, () => {
  it("the platform sets up both tenants and each tenant's own apps reconcile as its service account", async () => {
    // Act
    await untilReady(lp, "Kustomization", "flux-system", "tenants", "ReconciliationSucceeded");
    await untilReady(lp, "Kustomization", "team-a", "team-a", "ReconciliationSucceeded");
    await untilReady(lp, "Kustomization", "team-b", "team-b", "ReconciliationSucceeded");
    // Assess
    const binding = await live(admin, "rbac.authorization.k8s.io/v1", "RoleBinding", "team-a", "team-a-reconciler");
    expect(binding).toMatchObject({
      roleRef: { kind: "ClusterRole", name: "cluster-admin" },
      subjects: expect.arrayContaining([{ kind: "ServiceAccount", name: "team-a", namespace: "team-a" }]),
    });
    for (const team of ["team-a", "team-b"]) {
      expect((await live(admin, "v1", "ConfigMap", team, "podinfo-config"))?.data).toEqual({ team });
      expect(await live(admin, "apps/v1", "Deployment", team, "podinfo")).toBeDefined();
      expect(
        (await lp.runtime.store.get({ kind: "Kustomization", namespace: team, name: team }))?.object.spec,
      ).toMatchObject({ serviceAccountName: team });
    }
  });

  it("team A's attempts on team B's namespace and on flux-system are refused; team B's apps stay as they were", async () => {
    // Arrange
    await untilReady(lp, "Kustomization", "team-a", "team-a", "ReconciliationSucceeded");
    const escapes = yamlOf(
      configMap("planted", "team-b"),
      kustomization("takeover", "flux-system", { sourceRef: { kind: "GitRepository", name: "platform" } }),
    );
    // Act: a Flux object outside the namespace is refused before the render writes anything
    await pushTree(git, "tenants-team-a", {
      files: {
        "kustomization.yaml": "resources: [app.yaml, escapes.yaml]\n",
        "app.yaml": await readFile(`${EXAMPLE}/team-a/app.yaml`, "utf8"),
        "escapes.yaml": escapes,
      },
    });
    await lp.queue.enqueue({ key: "GitRepository/team-a/team-a", reason: "webhook" });
    const refused = await untilReady(lp, "Kustomization", "team-a", "team-a", "AccessDenied");
    // Assess
    expect(refused.message.split("\n")).toEqual([
      "Kustomization/flux-system/takeover create refused: system:serviceaccount:team-a:team-a may not create kustomizations.kustomize.toolkit.fluxcd.io in namespace flux-system",
      "Kustomization/flux-system/takeover register refused: it names no serviceAccountName and would act as the control plane; " +
        "system:serviceaccount:team-a:team-a may register only Kustomizations that act as a service account",
    ]);
    expect(
      await lp.runtime.store.get({ kind: "Kustomization", namespace: "flux-system", name: "takeover" }),
    ).toBeUndefined();
    expect(await live(admin, "v1", "ConfigMap", "team-b", "planted")).toBeUndefined();

    // Act: without the Flux object, the API server refuses the ConfigMap in team B's namespace
    await pushTree(git, "tenants-team-a", {
      files: {
        "kustomization.yaml": "resources: [app.yaml, escapes.yaml]\n",
        "app.yaml": await readFile(`${EXAMPLE}/team-a/app.yaml`, "utf8"),
        "escapes.yaml": yamlOf(configMap("planted", "team-b")),
      },
    });
    await lp.queue.enqueue({ key: "GitRepository/team-a/team-a", reason: "webhook" });
    const forbidden = await untilReady(lp, "Kustomization", "team-a", "team-a", "ReconciliationFailed");
    // Assess
    expect(forbidden.message).toMatch(/ConfigMap\/team-b\/planted.*forbidden.*system:serviceaccount:team-a:team-a/s);
    expect(await live(admin, "v1", "ConfigMap", "team-b", "planted")).toBeUndefined();
    expect((await live(admin, "v1", "ConfigMap", "team-b", "podinfo-config"))?.data).toEqual({ team: "team-b" });
  });
});
