import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Artifact } from "../../src/api/meta.js";
import { readArchive } from "../../src/artifacts/extract.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { adminKubeConfig } from "../env/kube-client.js";
import { CoreV1Api } from "@kubernetes/client-node";
import { ready, startTestPlane, storedStatus, until, type TestPlane } from "./helpers.js";

// Flux's reference fleet (test/fixtures/flux2-kustomize-helm-example, unchanged) bootstrapped on clusters/staging in a
// local control plane: its ArtifactGenerator splits the monorepo into the `infrastructure` and `apps`
// ExternalArtifacts its Kustomizations read, and a commit that does not touch an artifact's files changes neither its
// revision nor wakes the Kustomizations reading it.

const { kube, git } = inject("testbed");
const FIXTURE = join(import.meta.dirname, "../fixtures/flux2-kustomize-helm-example");
const NS = "flux-system";
const logs: { object?: string; msg?: string; reason?: string }[] = [];
const core = adminKubeConfig(kube).makeApiClient(CoreV1Api);
const suffix = Math.random().toString(16).slice(2, 8);
const secretName = `reference-fleet-${suffix}`;
let plane: TestPlane | undefined;

afterAll(async () => {
  await plane?.stop();
  await core.deleteNamespacedSecret({ namespace: NS, name: secretName }).catch(() => undefined);
  for (const name of ["cert-manager", "envoy-gateway-system"])
    await core.deleteNamespace({ name }).catch(() => undefined);
});

/** The files of a stored ExternalArtifact's artifact. */
async function filesOf(artifact: Artifact): Promise<string[]> {
  const data = (await plane!.runtime.artifacts.get(artifact.path, artifact.digest))!;
  const { tree } = await readArchive(data);
  const files: string[] = [];
  const walk = async (folder: string) => {
    for (const entry of await tree.list(folder)) {
      const path = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.directory) await walk(path);
      else files.push(path);
    }
  };
  await walk("");
  return files.sort();
}

const artifactOf = async (name: string) =>
  (
    (await plane!.runtime.store.get({ kind: "ExternalArtifact", namespace: NS, name }))?.object.status as
      { artifact?: Artifact } | undefined
  )?.artifact;
/** Reconciles of a Kustomization that a source woke (reason "source"). */
const wakes = (name: string) =>
  logs.filter((l) => l.object === `Kustomization/${NS}/${name}` && l.msg === "reconciled" && l.reason === "source")
    .length;

describe("Flux's reference fleet (flux2-kustomize-helm-example) on a local control plane", () => {
  it("splits the monorepo into ExternalArtifacts; an unrelated commit changes no artifact revision and wakes no Kustomization", async () => {
    // Prepare: the fleet pushed as published, bootstrapped as `flux bootstrap` would (clusters/staging).
    await core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: secretName }, stringData: { username: git.username, password: git.password } },
    });
    const repo = `reference-fleet-${suffix}`;
    const url = await createRepo(git, repo);
    const work = await mkdtemp(join(tmpdir(), "sluice-reference-fleet-"));
    await cp(FIXTURE, work, { recursive: true });
    const first = await pushTree(git, repo, { folder: work });
    plane = await startTestPlane(kube, {
      log: pino(
        { level: "info" },
        new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(JSON.parse(chunk.toString())), done()) }),
      ),
    });
    const store = plane.runtime.store;
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "flux-system", namespace: NS },
      spec: { interval: "1h", url, ref: { branch: "main" }, secretRef: { name: secretName } },
    });
    await applyToStore(store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "flux-system", namespace: NS },
      spec: { interval: "1h", path: "./clusters/staging", prune: true, sourceRef: { kind: "GitRepository", name: NS } },
    });
    const push = async (path: string, change: (text: string) => string) => {
      await writeFile(join(work, path), change(await readFile(join(work, path), "utf8")));
      const commit = await pushTree(git, repo, { folder: work });
      await plane!.runtime.queue.enqueue({ key: `GitRepository/${NS}/flux-system`, reason: "webhook" });
      await until(`commit ${commit} in both ExternalArtifacts`, async () => {
        const [infra, apps] = [await artifactOf("infrastructure"), await artifactOf("apps")];
        const origin = `main@sha1:${commit}`;
        const key = "org.opencontainers.image.revision";
        return infra?.metadata?.[key] === origin && apps?.metadata?.[key] === origin;
      });
      return commit;
    };

    // Act
    const generated = await until("the ArtifactGenerator Ready", async () => {
      const status = await storedStatus(plane!, "ArtifactGenerator", NS, "flux-system");
      return ready(status)?.status === "True" && status;
    });
    const infrastructure = (await artifactOf("infrastructure"))!;
    const apps = (await artifactOf("apps"))!;
    const waiting = await until("infra-controllers' HelmReleases registered and judged", async () => {
      const status = await storedStatus(plane!, "HelmRelease", "cert-manager", "cert-manager");
      return ready(status)?.status === "False" && ready(status);
    });
    const attempted = await until("infra-controllers' attempt recorded", async () => {
      const status = await storedStatus(plane!, "Kustomization", NS, "infra-controllers");
      return status.lastAttemptedRevision !== undefined && status;
    });
    const [infraWakes, appsWakes] = [wakes("infra-controllers"), wakes("apps")];
    const unrelated = await push("clusters/production/apps.yaml", (t) => t.replace("interval: 1h", "interval: 2h"));
    const afterUnrelated = { infrastructure: (await artifactOf("infrastructure"))!, apps: (await artifactOf("apps"))! };
    const wakesAfterUnrelated = [wakes("infra-controllers"), wakes("apps")];
    await push("infrastructure/configs/gateway.yaml", (t) => t.replace("port: 80", "port: 8080"));
    const afterInfra = { infrastructure: (await artifactOf("infrastructure"))!, apps: (await artifactOf("apps"))! };
    await until("infra-controllers woken by its new artifact", async () => wakes("infra-controllers") > infraWakes);

    // Assess: the split, as source-watcher makes it.
    expect(ready(generated)?.message).toBe("reconciliation succeeded, generated 2 artifact(s)");
    expect(await filesOf(infrastructure)).toEqual([
      "configs/cluster-issuers.yaml",
      "configs/gateway.yaml",
      "configs/kustomization.yaml",
      "controllers/cert-manager.yaml",
      "controllers/envoy-gateway.yaml",
      "controllers/kustomization.yaml",
    ]);
    expect(await filesOf(apps)).toEqual([
      "base/podinfo/kustomization.yaml",
      "base/podinfo/namespace.yaml",
      "base/podinfo/release.yaml",
      "base/podinfo/repository.yaml",
      "staging/kustomization.yaml",
      "staging/podinfo-values.yaml",
    ]);
    expect(apps.revision).toBe(`latest@${apps.digest}`);
    expect(apps.metadata).toEqual({ "org.opencontainers.image.revision": `main@sha1:${first}` });
    // infra-controllers read its ExternalArtifact and registered the chart sources and releases; the releases (their
    // RetryOnFailure strategy accepted) wait on their charts, which come from registries this test bed does not reach.
    expect(attempted.lastAttemptedRevision).toBe(infrastructure.revision);
    expect(waiting.reason).not.toBe("UnsupportedField");
    // The unrelated commit: same revisions (only the origin revision moved), nobody woken.
    expect(afterUnrelated.infrastructure.revision).toBe(infrastructure.revision);
    expect(afterUnrelated.apps.revision).toBe(apps.revision);
    expect(afterUnrelated.apps.metadata).toEqual({ "org.opencontainers.image.revision": `main@sha1:${unrelated}` });
    expect(wakesAfterUnrelated).toEqual([infraWakes, appsWakes]);
    // A commit to infrastructure/: its artifact changes, the apps artifact does not, and apps is not woken.
    expect(afterInfra.infrastructure.revision).not.toBe(infrastructure.revision);
    expect(afterInfra.apps.revision).toBe(apps.revision);
    expect(wakes("apps")).toBe(appsWakes);
  });
});
