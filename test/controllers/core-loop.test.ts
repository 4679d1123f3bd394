import { Writable } from "node:stream";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { CLUSTER_ANNOTATION, newClusterRegistration } from "../../src/api/cluster.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject, jsonPatch } from "../../src/apply/objects-api.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { ageKey, sopsEncrypt } from "../env/sops.js";
import { configMap, deployment } from "../apply/helpers.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

const { kube, git } = inject("testbed");
let skew = 0;
const clock = { now: () => Date.now() + skew, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
const logs: string[] = [];
const events: FluxEvent[] = [];
let serial = 0;
const local = planeSuite(kube, git, {
  namespace: "core",
  clock,
  log: pino(
    { level: "debug" },
    new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(chunk.toString()), done()) }),
  ),
  onEvent: (e) => events.push(e),
  settings: { dependencyRequeueMs: 5_000 },
});

const ns = () => local.namespace;
const service = (name: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name },
  spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 9898 }] },
});
const hpa = (name: string): KubeObject => ({
  apiVersion: "autoscaling/v2",
  kind: "HorizontalPodAutoscaler",
  metadata: { name },
  spec: {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
    minReplicas: 1,
    maxReplicas: 4,
    metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 99 } } }],
  },
});
const yamlOf = (...objects: KubeObject[]) => objects.map((o) => stringify(o)).join("---\n");

/** A repo with `files`, plus its GitRepository (with the auth secret) registered in the Store. */
async function source(
  files: Record<string, string>,
): Promise<{ name: string; push(files: Record<string, string>): Promise<string>; first: string }> {
  const name = `repo-${serial++}`;
  const url = await createRepo(git, `${ns()}-${name}`);
  const first = await pushTree(git, `${ns()}-${name}`, { files });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "1m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  return { name, first, push: (next) => pushTree(git, `${ns()}-${name}`, { files: next }) };
}

function kustomization(name: string, sourceName: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns() },
    spec: {
      interval: "10m",
      path: "./deploy",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name: sourceName },
      ...spec,
    },
  };
}

const statusOf = (kind: string, name: string) => storedStatus(local.plane, kind, ns(), name);
const untilReady = (kind: string, name: string, reason = "ReconciliationSucceeded") =>
  until(`${kind} ${name} Ready (${reason})`, async () => {
    const status = await statusOf(kind, name);
    return ready(status)?.reason === reason && status;
  });

async function live(
  kind: "ConfigMap" | "Secret" | "Service" | "Deployment" | "HorizontalPodAutoscaler",
  name: string,
): Promise<KubeObject | undefined> {
  const apiVersion = {
    ConfigMap: "v1",
    Secret: "v1",
    Service: "v1",
    Deployment: "apps/v1",
    HorizontalPodAutoscaler: "autoscaling/v2",
  }[kind];
  return getObject(local.admin, (await local.admin.discovery.find(apiVersion, kind))!, ns(), name);
}

describe(`core loop: GitRepository → Kustomization → kube-apiserver ${kube.version}, local runtime`, () => {
  it("applies a podinfo-style app from Git over authenticated HTTP, then a new revision, then prunes what Git dropped", async () => {
    // Arrange
    const repo = await source({
      "deploy/app.yaml": yamlOf(
        deployment("podinfo"),
        service("podinfo"),
        hpa("podinfo"),
        configMap("podinfo-config", { level: "info" }),
      ),
    });
    // Act
    await applyToStore(local.plane.runtime.store, kustomization("podinfo", repo.name, { wait: true }));
    const first = await untilReady("Kustomization", "podinfo");
    // Assess
    expect(first.lastAppliedRevision).toBe(`main@sha1:${repo.first}`);
    expect(first.conditions?.find((c) => c.type === "Healthy")).toMatchObject({ status: "True", reason: "Succeeded" });
    expect(first.inventory?.entries.map((e) => e.id).sort()).toEqual([
      `${ns()}_podinfo-config__ConfigMap`,
      `${ns()}_podinfo__Service`,
      `${ns()}_podinfo_apps_Deployment`,
      `${ns()}_podinfo_autoscaling_HorizontalPodAutoscaler`,
    ]);
    expect((await live("Deployment", "podinfo"))?.metadata.labels).toMatchObject({
      "kustomize.toolkit.fluxcd.io/name": "podinfo",
      "kustomize.toolkit.fluxcd.io/namespace": ns(),
    });

    // Act: a new revision that changes the config and drops the Service
    const second = await repo.push({
      "deploy/app.yaml": yamlOf(deployment("podinfo"), hpa("podinfo"), configMap("podinfo-config", { level: "debug" })),
    });
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/${repo.name}`, reason: "webhook" });
    await until(
      "second revision applied",
      async () => (await statusOf("Kustomization", "podinfo")).lastAppliedRevision === `main@sha1:${second}`,
    );
    // Assess
    expect((await live("ConfigMap", "podinfo-config"))?.data).toEqual({ level: "debug" });
    expect(await live("Service", "podinfo")).toBeUndefined();
    // The event follows the status write, so it may arrive a moment later.
    const pruned = await until("prune event", async () =>
      events.find((e) => e.involvedObject.name === "podinfo" && e.message.includes(`Service/${ns()}/podinfo deleted`)),
    );
    expect(pruned.metadata.revision).toBe(`main@sha1:${second}`);
  });

  it("reverts an out-of-band edit on the next interval of an unchanged revision, and says what it corrected", async () => {
    // Arrange
    const repo = await source({ "deploy/cm.yaml": yamlOf(configMap("drifty", { color: "blue" })) });
    await applyToStore(local.plane.runtime.store, kustomization("drifty", repo.name));
    await untilReady("Kustomization", "drifty");
    const info = (await local.admin.discovery.find("v1", "ConfigMap"))!;
    await jsonPatch(
      local.admin,
      info,
      ns(),
      "drifty",
      [{ op: "replace", path: "/data/color", value: "red" }],
      "kubectl-edit",
    );
    // Act
    await local.plane.queue.enqueue({ key: `Kustomization/${ns()}/drifty`, reason: "interval" });
    await until(
      "drift reverted",
      async () => ((await live("ConfigMap", "drifty"))?.data as { color?: string } | undefined)?.color === "blue",
    );
    // Assess
    const corrected = await until("drift event", async () =>
      events.find((e) => e.involvedObject.name === "drifty" && e.message.startsWith("drift corrected")),
    );
    expect(corrected.message).toContain(`ConfigMap/${ns()}/drifty configured`);
    expect(corrected.metadata.revision).toBe(`main@sha1:${repo.first}`);
  });

  it("holds a Kustomization until the one it dependsOn is Ready, then runs it at once (no polling)", async () => {
    // Arrange
    const repo = await source({
      "deploy/a.yaml": yamlOf(configMap("dep-a", { a: "1" })),
      "later/b.yaml": yamlOf(configMap("dep-b", { b: "1" })),
    });
    // Act: the dependent first; its dependency is registered only later
    await applyToStore(
      local.plane.runtime.store,
      kustomization("second", repo.name, { path: "./later", dependsOn: [{ name: "first" }] }),
    );
    const held = await untilReady("Kustomization", "second", "DependencyNotReady");
    await applyToStore(local.plane.runtime.store, kustomization("first", repo.name));
    const firstReady = await untilReady("Kustomization", "first");
    const secondReady = await untilReady("Kustomization", "second", "ReconciliationSucceeded");
    // Assess
    expect(ready(held)?.message).toBe(`dependency '${ns()}/first' not found`);
    expect(Date.parse(ready(secondReady)!.lastTransitionTime)).toBeGreaterThanOrEqual(
      Date.parse(ready(firstReady)!.lastTransitionTime),
    );
    expect(await live("ConfigMap", "dep-b")).toBeDefined();
  });

  it("fails with HealthCheckFailed when a rollout does not finish within the timeout", async () => {
    // Arrange: 2 replicas never become available (no kubelet on the test bed)
    const repo = await source({ "deploy/app.yaml": yamlOf(deployment("stuck", { replicas: 2 })) });
    await applyToStore(local.plane.runtime.store, kustomization("stuck", repo.name, { wait: true, timeout: "30s" }));
    await untilReady("Kustomization", "stuck", "Progressing");
    // Act: let the timeout pass
    skew += 31_000;
    const failed = await untilReady("Kustomization", "stuck", "HealthCheckFailed");
    skew -= 31_000;
    // Assess
    expect(ready(failed)?.message).toMatch(
      new RegExp(`^timeout waiting for: \\[Deployment/${ns()}/stuck status: 'InProgress'`),
    );
    expect(failed.conditions?.find((c) => c.type === "Healthy")).toMatchObject({
      status: "False",
      reason: "HealthCheckFailed",
    });
  });

  it("records status.history as Flux does: a snapshot per rendered digest and outcome, counted on each interval", async () => {
    // Arrange
    const repo = await source({ "deploy/app.yaml": yamlOf(configMap("journal", { v: "1" })) });
    await applyToStore(local.plane.runtime.store, kustomization("journal", repo.name, { wait: true, timeout: "30s" }));
    const first = await untilReady("Kustomization", "journal");
    // Act: an interval with nothing new, then a revision whose rollout times out (polled, not blocking)
    await local.plane.queue.enqueue({ key: `Kustomization/${ns()}/journal`, reason: "interval" });
    const counted = await until("second reconcile counted", async () => {
      const status = await statusOf("Kustomization", "journal");
      return status.history?.[0]?.totalReconciliations === 2 && status;
    });
    const stuck = await repo.push({ "deploy/app.yaml": yamlOf(deployment("journal-app", { replicas: 2 })) });
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/${repo.name}`, reason: "webhook" });
    await untilReady("Kustomization", "journal", "Progressing");
    skew += 31_000;
    const failed = await untilReady("Kustomization", "journal", "HealthCheckFailed");
    skew -= 31_000;
    // Assess
    const revision = `main@sha1:${repo.first}`;
    expect(first.history).toEqual([
      {
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        firstReconciled: expect.any(String),
        lastReconciled: expect.any(String),
        lastReconciledDuration: expect.stringMatching(/^\d+(\.\d+)?(ms|s)$/),
        lastReconciledStatus: "ReconciliationSucceeded",
        totalReconciliations: 1,
        metadata: { revision },
      },
    ]);
    expect(first.lastAppliedOriginRevision).toBeUndefined(); // only OCI artifacts carry an origin revision
    expect(counted.history).toHaveLength(1);
    const [latest, previous] = failed.history ?? [];
    expect(latest).toMatchObject({
      lastReconciledStatus: "HealthCheckFailed",
      metadata: { revision: `main@sha1:${stuck}` },
    });
    expect(latest!.digest).not.toBe(previous!.digest);
    expect(previous).toMatchObject({ lastReconciledStatus: "ReconciliationSucceeded", totalReconciliations: 2 });
  });

  it("a GitRepository whose artifact cannot be stored says so as Flux does, keeps its artifact, and recovers", async () => {
    // Arrange: stored once, then a new commit while the artifact folder is replaced by a file (ENOTDIR, even for root)
    const repo = await source({ "deploy/cm.yaml": yamlOf(configMap("stored", { v: "1" })) });
    const first = await until("artifact stored", async () => {
      const status = await statusOf("GitRepository", repo.name);
      return ready(status)?.status === "True" && status;
    });
    const folder = join(statePaths(local.plane.stateDir).artifacts, "gitrepository", ns(), repo.name);
    const second = await repo.push({ "deploy/cm.yaml": yamlOf(configMap("stored", { v: "2" })) });
    await rename(folder, `${folder}.aside`);
    await writeFile(folder, "not a folder");
    // Act
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/${repo.name}`, reason: "webhook" });
    const failed = await until("storage failure", async () => {
      const status = await statusOf("GitRepository", repo.name);
      return ready(status)?.reason === "ArchiveOperationFailed" && status;
    });
    await rm(folder);
    await rename(`${folder}.aside`, folder);
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/${repo.name}`, reason: "webhook" });
    const recovered = await until("recovered", async () => {
      const status = await statusOf("GitRepository", repo.name);
      return ready(status)?.status === "True" && status;
    });
    // Assess
    const condition = (status: typeof failed, type: string) => status.conditions?.find((c) => c.type === type);
    expect(ready(failed)?.message).toMatch(/^unable to archive artifact to storage: /);
    expect(condition(failed, "StorageOperationFailed")).toMatchObject({
      status: "True",
      reason: "ArchiveOperationFailed",
    });
    expect(condition(failed, "ArtifactOutdated")).toMatchObject({
      status: "True",
      reason: "NewRevision",
      message: `new upstream revision 'main@sha1:${second}'`,
    });
    expect((failed as { artifact?: unknown }).artifact).toEqual((first as { artifact?: unknown }).artifact);
    expect(condition(recovered, "StorageOperationFailed")).toBeUndefined();
    expect(condition(recovered, "ArtifactOutdated")).toBeUndefined();
    expect(ready(recovered)?.message).toBe(`stored artifact for revision 'main@sha1:${second}'`);
  });

  it("reports a render error as BuildFailed and prunes nothing", async () => {
    // Arrange
    const repo = await source({ "deploy/cm.yaml": yamlOf(configMap("kept", { v: "1" })) });
    await applyToStore(local.plane.runtime.store, kustomization("fragile", repo.name));
    const good = await untilReady("Kustomization", "fragile");
    // Act: a broken kustomization.yaml
    const broken = await repo.push({ "deploy/kustomization.yaml": "resources:\n  - missing.yaml\n" });
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/${repo.name}`, reason: "webhook" });
    const failed = await untilReady("Kustomization", "fragile", "BuildFailed");
    // Assess
    expect(ready(failed)?.message).toContain("missing.yaml");
    expect(failed.lastAttemptedRevision).toBe(`main@sha1:${broken}`);
    expect(failed.lastAppliedRevision).toBe(good.lastAppliedRevision);
    expect(failed.inventory).toEqual(good.inventory);
    expect(await live("ConfigMap", "kept")).toBeDefined();
  });

  it("registers Flux objects from Git in the Store; an invalid one fails alone with its field path", async () => {
    // Arrange: a fleet path with two child Kustomizations, one with a field of the wrong type (an unknown one is dropped, as Flux drops it)
    const repoName = `repo-${serial}`; // the name source() gives the repo created next
    const fleet = yamlOf(
      kustomization("child-good", repoName, { path: "./apps" }),
      kustomization("child-bad", repoName, { path: "./apps", retryInterval: 3 }),
    );
    const repo = await source({
      "clusters/dev/apps.yaml": fleet,
      "apps/cm.yaml": yamlOf(configMap("from-child", { ok: "yes" })),
    });
    // Act
    await applyToStore(
      local.plane.runtime.store,
      kustomization("fleet", repo.name, { path: "./clusters/dev", targetNamespace: undefined }),
    );
    await untilReady("Kustomization", "fleet");
    const good = await untilReady("Kustomization", "child-good");
    const bad = await untilReady("Kustomization", "child-bad", "InvalidSpec");
    // Assess
    expect(good.lastAppliedRevision).toBe(`main@sha1:${repo.first}`);
    expect(ready(bad)?.message).toContain("spec.retryInterval: Invalid input: expected string, received number");
    expect(await live("ConfigMap", "from-child")).toBeDefined();
  });

  it("decrypts SOPS Secrets with the age key of spec.decryption.secretRef; without spec.decryption they are refused, not applied", async () => {
    // Arrange: the key in a Secret next to the Kustomization, the file encrypted by the real sops.
    const key = await ageKey();
    await local.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns()}/secrets`,
      body: { metadata: { name: "sops-age" }, stringData: { "age.agekey": key.identity } },
    });
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "api-token", namespace: ns() },
      stringData: { token: "s3cr3t-t0ken" },
    };
    const encrypted = await sopsEncrypt(secret, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
    const repo = await source({
      "deploy/token.yaml": stringify(encrypted),
      "deploy/kustomization.yaml": "resources:\n  - token.yaml\n",
    });
    // Act
    await applyToStore(
      local.plane.runtime.store,
      kustomization("sealed", repo.name, { decryption: { provider: "sops", secretRef: { name: "sops-age" } } }),
    );
    await applyToStore(
      local.plane.runtime.store,
      kustomization("unsealed", repo.name, { path: "./deploy", targetNamespace: undefined }),
    );
    await untilReady("Kustomization", "sealed");
    const refused = await untilReady("Kustomization", "unsealed", "BuildFailed");
    // Assess
    const token = (await live("Secret", "api-token"))?.data as Record<string, string>;
    expect(Buffer.from(token.token!, "base64").toString()).toBe("s3cr3t-t0ken");
    expect(ready(refused)?.message).toBe(
      `decryption failed: Secret/${ns()}/api-token is SOPS-encrypted but spec.decryption is not set`,
    );
    expect(
      JSON.stringify(await local.plane.runtime.store.list()) + JSON.stringify(events) + logs.join(""),
    ).not.toContain("s3cr3t-t0ken");
  });

  it("a Kustomization naming an unregistered cluster, or an agent cluster without a bundle channel, fails with what to do", async () => {
    // Arrange
    const repo = await source({ "deploy/cm.yaml": yamlOf(configMap("elsewhere", { v: "1" })) });
    await applyToStore(local.plane.runtime.store, newClusterRegistration(`edge-${ns()}`, "agent"));
    const targeting = (name: string, cluster: string) => ({
      ...kustomization(name, repo.name),
      metadata: { name, namespace: ns(), annotations: { [CLUSTER_ANNOTATION]: cluster } },
    });
    // Act
    await applyToStore(local.plane.runtime.store, targeting("to-nowhere", "nowhere"));
    await applyToStore(local.plane.runtime.store, targeting("to-edge", `edge-${ns()}`));
    const nowhere = await untilReady("Kustomization", "to-nowhere", "ReconciliationFailed");
    const edge = await untilReady("Kustomization", "to-edge", "ReconciliationFailed");
    // Assess
    expect(ready(nowhere)?.message).toBe(
      "metadata.annotations[sluice.dev/cluster]: cluster 'nowhere' is not registered (sluice create cluster nowhere --mode agent|direct)",
    );
    expect(ready(edge)?.message).toContain(
      `cluster 'edge-${ns()}' is in agent mode: its bundles are published to S3, so it needs the AWS control plane`,
    );
    expect(await live("ConfigMap", "elsewhere")).toBeUndefined();
  });

  it("healthCheckExprs decide health where given (a CEL rule passes a rollout kstatus would wait on); a bad expression stalls it, naming its field, before anything is applied", async () => {
    // Arrange: 2 replicas never become available without a kubelet, so kstatus alone would time out.
    const repo = await source({ "deploy/app.yaml": yamlOf(deployment("celapp", { replicas: 2 })) });
    const exprs = (current: string) => ({
      wait: true,
      timeout: "30s",
      healthCheckExprs: [{ apiVersion: "apps/v1", kind: "Deployment", current }],
    });
    // Act
    await applyToStore(local.plane.runtime.store, kustomization("cel-good", repo.name, exprs("spec.replicas == 2")));
    const other = await source({ "deploy/cm.yaml": yamlOf(configMap("cel-cm", { a: "1" })) });
    await applyToStore(local.plane.runtime.store, kustomization("cel-bad", other.name, exprs("spec.replicas ==")));
    const good = await untilReady("Kustomization", "cel-good");
    const bad = await untilReady("Kustomization", "cel-bad", "InvalidCELExpression");
    // Assess: a configuration error, terminal as in Flux, found before anything is applied.
    expect(good.conditions?.find((c) => c.type === "Healthy")).toMatchObject({ status: "True" });
    expect(ready(bad)?.message).toMatch(
      /^Reconciliation failed terminally due to configuration error: spec\.healthCheckExprs\[0\]\.current: /,
    );
    expect(bad.conditions?.find((c) => c.type === "Stalled")).toMatchObject({ status: "True" });
    expect(await live("ConfigMap", "cel-cm")).toBeUndefined();
  });

  it("keeps credentials out of logs, events and statuses", async () => {
    const state = local.plane.runtime.store;
    const statuses = JSON.stringify(await state.list());
    const eventFile = await readFile(statePaths(join(local.plane.runtime.workDir, "..")).events, "utf8");
    expect(logs.length).toBeGreaterThan(0);
    for (const text of [logs.join(""), eventFile, statuses, JSON.stringify(events)])
      expect(text).not.toContain(git.password);
  });
});
