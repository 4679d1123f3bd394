import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newClusterRegistration } from "../../src/api/cluster.js";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import type { LocalControlPlane } from "../../src/runtime/local.js";
import { applyToStore } from "../../src/store/objects.js";
import { tenantManifests } from "../../src/cli/tenant.js";
import { freshNamespace } from "../env/kube-client.js";
import { adminCluster } from "../apply/helpers.js";
import {
  configMap,
  gitAuthSecret,
  gitSource,
  kustomization,
  live,
  plane,
  statusOf,
  untilReady,
  yamlOf,
} from "./helpers.js";

// A tenant repo tries, one way per test, to reach outside its namespace. The tenant's Kustomization
// runs as its service account (admin of its own namespace only, as `sluice create tenant` sets it
// up); the control plane runs with noCrossNamespaceRefs, Flux's multi-tenancy lockdown.

const { kube, git } = inject("testbed");
let lp: LocalControlPlane;
let admin: Cluster;
const namespaces: { name: string; remove(): Promise<void> }[] = [];
let platform: string; // plays flux-system
let tenantA: string;
let tenantB: string;

beforeAll(async () => {
  admin = await adminCluster(kube);
  for (const prefix of ["platform", "tenant-a", "tenant-b"]) namespaces.push(await freshNamespace(kube, prefix));
  [platform, tenantA, tenantB] = namespaces.map((n) => n.name) as [string, string, string];
  await applyAll(
    admin,
    [
      ...tenantManifests("tenant-a", { withNamespace: [tenantA], clusterRole: "cluster-admin" }),
      ...tenantManifests("tenant-b", { withNamespace: [tenantB], clusterRole: "cluster-admin" }),
    ],
    { force: true },
  );
  for (const ns of [platform, tenantA, tenantB]) await gitAuthSecret(admin, git, ns);
  lp = await plane(kube, { noCrossNamespaceRefs: true });
});

afterAll(async () => {
  await lp?.stop();
  for (const ns of namespaces) await ns.remove();
});

let serial = 0;

/** Tenant A's repo with `objects` at its root, reconciled by a Kustomization in tenant A's namespace acting as tenant-a. */
async function tenantARepo(
  objects: KubeObject[],
  spec: Record<string, unknown> = {},
): Promise<{ name: string; push(objects: KubeObject[]): Promise<string> }> {
  const repo = await gitSource(lp, git, tenantA, { "all.yaml": yamlOf(...objects) });
  const name = `apps-${serial++}`;
  await applyToStore(
    lp.runtime.store,
    kustomization(name, tenantA, {
      serviceAccountName: "tenant-a",
      sourceRef: { kind: "GitRepository", name: repo.name },
      ...spec,
    }),
  );
  return { name, push: (next) => repo.push({ "all.yaml": yamlOf(...next) }) };
}

const stored = (kind: string, namespace: string, name: string) => lp.runtime.store.get({ kind, namespace, name });
const tenantKs = (
  name: string,
  namespace: string,
  spec: Record<string, unknown> = {},
  annotations?: Record<string, string>,
) => kustomization(name, namespace, { sourceRef: { kind: "GitRepository", name: "anything" }, ...spec }, annotations);

describe(`multi-tenancy: tenant escapes refused, kube-apiserver ${kube.version} (RBAC), local runtime with noCrossNamespaceRefs`, () => {
  it("a tenant's own apps reconcile: its ConfigMap is applied and its nested Kustomization (acting as tenant-a) is registered and Ready", async () => {
    // Arrange
    const inner = await gitSource(lp, git, tenantA, { "cm.yaml": yamlOf(configMap("inner", tenantA)) });
    // Act
    const { name } = await tenantARepo([
      configMap("own", tenantA),
      kustomization("nested", tenantA, {
        serviceAccountName: "tenant-a",
        sourceRef: { kind: "GitRepository", name: inner.name },
      }),
    ]);
    await untilReady(lp, "Kustomization", tenantA, name, "ReconciliationSucceeded");
    await untilReady(lp, "Kustomization", tenantA, "nested", "ReconciliationSucceeded");
    // Assess
    expect(await live(admin, "v1", "ConfigMap", tenantA, "own")).toBeDefined();
    expect(await live(admin, "v1", "ConfigMap", tenantA, "inner")).toBeDefined();
    expect((await statusOf(lp, "Kustomization", tenantA, name)).inventory?.entries.map((e) => e.id)).toContain(
      `${tenantA}_nested_kustomize.toolkit.fluxcd.io_Kustomization`,
    );
  });

  it("a workload in another tenant's namespace is refused by the API server as tenant-a, and nothing of the render is applied", async () => {
    // Act
    const { name } = await tenantARepo([configMap("benign", tenantA), configMap("intruder", tenantB)]);
    const ready = await untilReady(lp, "Kustomization", tenantA, name, "ReconciliationFailed");
    // Assess
    expect(ready.message).toContain(`ConfigMap/${tenantB}/intruder`);
    expect(ready.message).toMatch(/forbidden.*system:serviceaccount:.*:tenant-a/s);
    expect(await live(admin, "v1", "ConfigMap", tenantB, "intruder")).toBeUndefined();
    expect(await live(admin, "v1", "ConfigMap", tenantA, "benign")).toBeUndefined();
  });

  it("a ClusterRoleBinding to cluster-admin is refused by the API server as tenant-a and not created", async () => {
    // Arrange
    const binding: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `escape-${tenantA}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: "tenant-a", namespace: tenantA }],
    };
    // Act
    const { name } = await tenantARepo([binding]);
    const ready = await untilReady(lp, "Kustomization", tenantA, name, "ReconciliationFailed");
    // Assess
    expect(ready.message).toContain(`ClusterRoleBinding/escape-${tenantA}`);
    expect(ready.message).toContain("forbidden");
    expect(
      await live(admin, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", `escape-${tenantA}`),
    ).toBeUndefined();
  });

  it("a Kustomization in the platform's namespace without serviceAccountName is refused before anything is registered or applied", async () => {
    // Act
    const { name } = await tenantARepo([configMap("alongside", tenantA), tenantKs("escape", platform)]);
    const ready = await untilReady(lp, "Kustomization", tenantA, name, "AccessDenied");
    // Assess
    expect(ready.message).toContain(
      `Kustomization/${platform}/escape create refused: system:serviceaccount:${tenantA}:tenant-a may not create kustomizations.kustomize.toolkit.fluxcd.io in namespace ${platform}`,
    );
    expect(await stored("Kustomization", platform, "escape")).toBeUndefined();
    expect(await live(admin, "v1", "ConfigMap", tenantA, "alongside")).toBeUndefined();
  });

  it("a Kustomization under a made-up API group is authorized as the Kustomization it becomes in the Store, and refused", async () => {
    // Arrange: the Store keys objects by kind; the group must not pick the RBAC rule
    const spoofed = {
      ...tenantKs("spoofed", platform, { serviceAccountName: "tenant-a" }),
      apiVersion: "evil.toolkit.fluxcd.io/v1",
    };
    // Act
    const { name } = await tenantARepo([spoofed]);
    const ready = await untilReady(lp, "Kustomization", tenantA, name, "AccessDenied");
    // Assess
    expect(ready.message).toContain(`Kustomization/${platform}/spoofed create refused`);
    expect(ready.message).toContain("kustomizations.kustomize.toolkit.fluxcd.io");
    expect(await stored("Kustomization", platform, "spoofed")).toBeUndefined();
  });

  it("a Kustomization in the tenant's own namespace that sheds the service account (none, or an empty name) is refused", async () => {
    // Act
    const { name } = await tenantARepo([
      tenantKs("unidentified", tenantA),
      tenantKs("empty-sa", tenantA, { serviceAccountName: "" }),
    ]);
    const ready = await untilReady(lp, "Kustomization", tenantA, name, "AccessDenied");
    // Assess
    expect(ready.message).toContain(
      `Kustomization/${tenantA}/unidentified register refused: it names no serviceAccountName and would act as the control plane`,
    );
    expect(ready.message).toContain(`Kustomization/${tenantA}/empty-sa register refused`);
    expect(await stored("Kustomization", tenantA, "unidentified")).toBeUndefined();
    expect(await stored("Kustomization", tenantA, "empty-sa")).toBeUndefined();
  });

  it("another tenant's source across namespaces: the registered Kustomization stalls with Flux's AccessDenied message and applies nothing", async () => {
    // Arrange: tenant B's source holds a ConfigMap
    const theirs = await gitSource(lp, git, tenantB, { "cm.yaml": yamlOf(configMap("b-secret-sauce", tenantB)) });
    // Act
    const { name } = await tenantARepo([
      tenantKs("borrow", tenantA, {
        serviceAccountName: "tenant-a",
        sourceRef: { kind: "GitRepository", name: theirs.name, namespace: tenantB },
      }),
    ]);
    await untilReady(lp, "Kustomization", tenantA, name, "ReconciliationSucceeded");
    const ready = await untilReady(lp, "Kustomization", tenantA, "borrow", "AccessDenied");
    // Assess
    expect(ready.message).toBe(
      `can't access 'GitRepository/${tenantB}/${theirs.name}', cross-namespace references have been blocked`,
    );
    expect(
      (await statusOf(lp, "Kustomization", tenantA, "borrow")).conditions?.find((c) => c.type === "Stalled"),
    ).toMatchObject({ status: "True", reason: "AccessDenied" });
    expect(await live(admin, "v1", "ConfigMap", tenantB, "b-secret-sauce")).toBeUndefined();
  });

  it("a dependsOn into another namespace is refused the same way under noCrossNamespaceRefs", async () => {
    // Arrange
    const own = await gitSource(lp, git, tenantA, { "cm.yaml": yamlOf(configMap("waits", tenantA)) });
    // Act
    await applyToStore(
      lp.runtime.store,
      kustomization("depends", tenantA, {
        serviceAccountName: "tenant-a",
        sourceRef: { kind: "GitRepository", name: own.name },
        dependsOn: [{ name: "infra", namespace: platform }],
      }),
    );
    const ready = await untilReady(lp, "Kustomization", tenantA, "depends", "AccessDenied");
    // Assess
    expect(ready.message).toBe(
      `can't access 'Kustomization/${platform}/infra', cross-namespace references have been blocked`,
    );
    expect(await live(admin, "v1", "ConfigMap", tenantA, "waits")).toBeUndefined();
  });

  it("a HelmRelease whose chart comes from another namespace's source is refused, and no HelmChart is made there", async () => {
    // Act
    await applyToStore(lp.runtime.store, {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "borrowed-chart", namespace: tenantA },
      spec: {
        interval: "5m",
        serviceAccountName: "tenant-a",
        chart: {
          spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "charts", namespace: tenantB } },
        },
      },
    });
    const ready = await untilReady(lp, "HelmRelease", tenantA, "borrowed-chart", "AccessDenied");
    // Assess
    expect(ready.message).toBe(
      `can't access 'HelmRepository/${tenantB}/charts', cross-namespace references have been blocked`,
    );
    expect(await lp.runtime.store.list({ kind: "HelmChart", namespace: tenantB })).toEqual([]);
  });

  it("a stalled Kustomization whose spec is fixed no longer says Stalled while it waits on a dependency", async () => {
    // Arrange: stalled by a cross-namespace dependsOn
    const own = await gitSource(lp, git, tenantA, { "cm.yaml": yamlOf(configMap("fixed-later", tenantA)) });
    const spec = { serviceAccountName: "tenant-a", sourceRef: { kind: "GitRepository", name: own.name } };
    await applyToStore(
      lp.runtime.store,
      kustomization("fixed", tenantA, { ...spec, dependsOn: [{ name: "infra", namespace: platform }] }),
    );
    await untilReady(lp, "Kustomization", tenantA, "fixed", "AccessDenied");
    // Act: the dependency moves into the tenant's own namespace, where it does not exist yet
    await applyToStore(
      lp.runtime.store,
      kustomization("fixed", tenantA, { ...spec, dependsOn: [{ name: "not-there-yet" }] }),
    );
    await untilReady(lp, "Kustomization", tenantA, "fixed", "DependencyNotReady");
    // Assess
    expect(
      (await statusOf(lp, "Kustomization", tenantA, "fixed")).conditions?.find((c) => c.type === "Stalled"),
    ).toBeUndefined();
  });

  it("a Kustomization annotated with another team's cluster is refused at registration, and a registered one refuses to reconcile", async () => {
    // Arrange: cluster team-b admits tenant B's namespace only
    await applyToStore(lp.runtime.store, newClusterRegistration(`team-b-${tenantB}`, "direct", [tenantB]));
    const target = { "sluice.dev/cluster": `team-b-${tenantB}` };
    // Act: rendered by the tenant
    const { name } = await tenantARepo([
      configMap("not-yet", tenantA),
      tenantKs("elsewhere", tenantA, { serviceAccountName: "tenant-a" }, target),
    ]);
    const rendered = await untilReady(lp, "Kustomization", tenantA, name, "AccessDenied");
    // Act: registered directly with the annotation (say by a careless platform repo)
    await applyToStore(
      lp.runtime.store,
      kustomization(
        "annotated",
        tenantA,
        { serviceAccountName: "tenant-a", sourceRef: { kind: "GitRepository", name: "whatever" } },
        target,
      ),
    );
    const annotated = await untilReady(lp, "Kustomization", tenantA, "annotated", "AccessDenied");
    // Assess
    expect(rendered.message).toContain(
      `Kustomization/${tenantA}/elsewhere target refused: cluster 'team-b-${tenantB}' does not allow namespace '${tenantA}'`,
    );
    expect(await stored("Kustomization", tenantA, "elsewhere")).toBeUndefined();
    expect(await live(admin, "v1", "ConfigMap", tenantA, "not-yet")).toBeUndefined();
    expect(annotated.message).toContain(
      `refused for system:serviceaccount:${tenantA}:tenant-a: cluster 'team-b-${tenantB}' does not allow namespace '${tenantA}'`,
    );
  });

  it("a rendered Kustomization inherits its owner's cluster and cannot drop it with an empty annotation", async () => {
    // Arrange: a cluster tenant A may use
    const mine = `team-a-${tenantA}`;
    await applyToStore(lp.runtime.store, newClusterRegistration(mine, "direct", [tenantA]));
    const inner = await gitSource(lp, git, tenantA, { "cm.yaml": yamlOf(configMap("inherited", tenantA)) });
    const repo = await gitSource(lp, git, tenantA, {
      "ks.yaml": yamlOf(
        tenantKs(
          "child",
          tenantA,
          { serviceAccountName: "tenant-a", sourceRef: { kind: "GitRepository", name: inner.name } },
          { "sluice.dev/cluster": "" },
        ),
      ),
    });
    // Act
    await applyToStore(
      lp.runtime.store,
      kustomization(
        "parent",
        tenantA,
        { serviceAccountName: "tenant-a", sourceRef: { kind: "GitRepository", name: repo.name } },
        { "sluice.dev/cluster": mine },
      ),
    );
    await untilReady(lp, "Kustomization", tenantA, "child", "ReconciliationSucceeded");
    // Assess
    expect((await stored("Kustomization", tenantA, "child"))?.object.metadata.annotations?.["sluice.dev/cluster"]).toBe(
      mine,
    );
  });

  it("pruning a Flux object the tenant may no longer delete is refused; the object stays registered", async () => {
    // Arrange: a tenant with its own namespace registers a GitRepository
    const ns = await freshNamespace(kube, "tenant-c");
    namespaces.push(ns);
    await applyAll(admin, tenantManifests("tenant-c", { withNamespace: [ns.name], clusterRole: "cluster-admin" }), {
      force: true,
    });
    await gitAuthSecret(admin, git, ns.name);
    const extra = {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "extra", namespace: ns.name },
      spec: { interval: "1h", url: "https://git.invalid/x.git", ref: { branch: "main" } },
    };
    const repo = await gitSource(lp, git, ns.name, { "all.yaml": yamlOf(extra) });
    await applyToStore(
      lp.runtime.store,
      kustomization("apps", ns.name, {
        serviceAccountName: "tenant-c",
        sourceRef: { kind: "GitRepository", name: repo.name },
      }),
    );
    await untilReady(lp, "Kustomization", ns.name, "apps", "ReconciliationSucceeded");
    // Arrange: the platform narrows tenant C to everything but delete
    const rules = [
      { apiGroups: ["*"], resources: ["*"], verbs: ["get", "list", "watch", "create", "update", "patch"] },
    ];
    await applyAll(admin, [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: `no-delete-${ns.name}` },
        rules,
      } as KubeObject,
    ]);
    await applyAll(
      admin,
      tenantManifests("tenant-c", { withNamespace: [ns.name], clusterRole: `no-delete-${ns.name}` }),
      { force: true },
    );
    // Act: the repo drops the GitRepository
    await repo.push({ "all.yaml": yamlOf(configMap("kept-out", ns.name)) });
    await lp.queue.enqueue({ key: `GitRepository/${ns.name}/${repo.name}`, reason: "webhook" });
    const ready = await untilReady(lp, "Kustomization", ns.name, "apps", "AccessDenied");
    // Assess
    expect(ready.message).toBe(
      `GitRepository/${ns.name}/extra delete refused: system:serviceaccount:${ns.name}:tenant-c may not delete gitrepositories.source.toolkit.fluxcd.io in namespace ${ns.name}`,
    );
    expect((await stored("GitRepository", ns.name, "extra"))?.object.metadata.deletionTimestamp).toBeUndefined();
    expect(await live(admin, "v1", "ConfigMap", ns.name, "kept-out")).toBeUndefined();
  });
});

describe("multi-tenancy: defaultServiceAccount and kubeconfig TLS lockdown", () => {
  let locked: LocalControlPlane;
  beforeAll(async () => {
    locked = await plane(kube, { defaultServiceAccount: "tenant-b" });
  });
  afterAll(async () => {
    await locked?.stop();
  });

  it("a Kustomization without serviceAccountName impersonates the default service account: another namespace's ConfigMap is forbidden", async () => {
    // Arrange
    const repo = await gitSource(locked, git, tenantB, {
      "cm.yaml": yamlOf(configMap("own-b", tenantB), configMap("into-a", tenantA)),
    });
    // Act
    await applyToStore(
      locked.runtime.store,
      kustomization("defaulted", tenantB, { sourceRef: { kind: "GitRepository", name: repo.name } }),
    );
    const ready = await untilReady(locked, "Kustomization", tenantB, "defaulted", "ReconciliationFailed");
    // Assess
    expect(ready.message).toMatch(
      new RegExp(`ConfigMap/${tenantA}/into-a.*forbidden.*system:serviceaccount:${tenantB}:tenant-b`, "s"),
    );
    expect(await live(admin, "v1", "ConfigMap", tenantA, "into-a")).toBeUndefined();
  });

  it("registering a Flux object is authorized as the default service account too", async () => {
    // Arrange
    const repo = await gitSource(locked, git, tenantB, { "ks.yaml": yamlOf(tenantKs("sneaky", platform)) });
    // Act
    await applyToStore(
      locked.runtime.store,
      kustomization("defaulted-fleet", tenantB, { sourceRef: { kind: "GitRepository", name: repo.name } }),
    );
    const ready = await untilReady(locked, "Kustomization", tenantB, "defaulted-fleet", "AccessDenied");
    // Assess
    expect(ready.message).toContain(
      `Kustomization/${platform}/sneaky create refused: system:serviceaccount:${tenantB}:tenant-b may not create`,
    );
    expect(
      await locked.runtime.store.get({ kind: "Kustomization", namespace: platform, name: "sneaky" }),
    ).toBeUndefined();
  });

  it("a kubeConfig secret that skips TLS verification is refused unless insecureKubeConfigTLS is set", async () => {
    // Arrange: the test bed's kubeconfig with its CA dropped for insecure-skip-tls-verify
    const insecure = kube.kubeconfig.replace(/certificate-authority-data: .*/, "insecure-skip-tls-verify: true");
    await applyAll(admin, [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "remote", namespace: tenantB },
        stringData: { value: insecure },
      } as KubeObject,
    ]);
    const repo = await gitSource(locked, git, tenantB, { "cm.yaml": yamlOf(configMap("remote-cm", tenantB)) });
    // Act
    await applyToStore(
      locked.runtime.store,
      kustomization("remote", tenantB, {
        sourceRef: { kind: "GitRepository", name: repo.name },
        kubeConfig: { secretRef: { name: "remote" } },
      }),
    );
    const ready = await untilReady(locked, "Kustomization", tenantB, "remote", "ReconciliationFailed");
    // Assess
    expect(insecure).toContain("insecure-skip-tls-verify: true");
    expect(ready.message).toContain(
      "sets insecure-skip-tls-verify, which is refused unless the control plane allows it (--insecure-kubeconfig-tls)",
    );
    expect(await live(admin, "v1", "ConfigMap", tenantB, "remote-cm")).toBeUndefined();
  });
});
