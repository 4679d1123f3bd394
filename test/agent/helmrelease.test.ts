import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { newClusterRegistration } from "../../src/api/cluster.js";
import { applyAll } from "../../src/apply/apply.js";
import { S3BundleChannel } from "../../src/aws/s3-bundle-channel.js";
import { publicKeyVerifier, type HelmReleaseBundle, type SealedBundle } from "../../src/bundle/bundle.js";
import type { AgentReport, BundleIndex } from "../../src/bundle/channel.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import { defaultRenderLimits } from "../../src/render/limits.js";
import { resolveTools } from "../../src/render/tools.js";
import type { AwsConfig } from "../../src/runtime/lambda/config.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { applyToStore, requestDeletion } from "../../src/store/objects.js";
import { adminCluster, configMap } from "../apply/helpers.js";
import { testHelm } from "../env/charts.js";
import { freshNamespace } from "../env/kube-client.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";
import { PODINFO } from "../env/podinfo.js";
import { agentControlPlane } from "./control-plane.js";

// HelmReleases for an agent cluster, end to end: the AWS control plane (on moto) resolves the chart
// from the test bed's Helm repository and publishes the HelmRelease with it as a signed bundle; the
// pull agent releases podinfo into the real kube-apiserver as Helm would (Helm's own storage, read
// back with the real helm), with values from a ConfigMap that exists only in its cluster, and its
// report becomes the HelmRelease's status. The control plane never connects to the cluster.

const { aws, kube, helmRepo } = inject("testbed");
const id = randomBytes(3).toString("hex");
const cluster = `edge-helm-${id}`;
const events: FluxEvent[] = [];
let config: AwsConfig;
let runtime: ReconcilerPorts;
let admin: Cluster;
let s3: S3Client;
let agent: Agent;
let kubelet: Kubelet;
let ns: { name: string; remove(): Promise<void> };

const quiet: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => quiet };

beforeAll(async () => {
  ns = await freshNamespace(kube, "agent-helm");
  admin = await adminCluster(kube);
  kubelet = await startKubelet(kube, { namespaces: [ns.name] });
  const plane = await agentControlPlane(aws, `sluice-agent-helm-${id}`, quiet, (e) => events.push(e));
  ({ config, runtime } = plane);
  s3 = plane.clients.s3;
  agent = new Agent({
    cluster,
    inbox: new S3BundleChannel(s3, config.bucket, cluster),
    verifier: publicKeyVerifier(plane.keyId, plane.publicKey),
    kube: admin,
    clock: systemClock,
    log: quiet,
    version: "test",
    pollMs: 100,
    releases: {
      tools: await resolveTools({ cacheDir: cacheDir() }),
      workDir: await mkdtemp(join(tmpdir(), "sluice-agent-helm-")),
      settings: { healthPollMs: 200, hookBudgetMs: 60_000, renderLimits: defaultRenderLimits },
    },
  });
  // Values only the agent's cluster holds: the control plane cannot read them, the agent composes them.
  await applyAll(
    admin,
    [configMap("podinfo-values", { "values.yaml": "ui:\n  message: from the edge\n" }, { namespace: ns.name })],
    {
      fieldManager: "test",
    },
  );
  await applyToStore(runtime.store, newClusterRegistration(cluster, "agent", [ns.name]));
  await applyToStore(runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "HelmRepository",
    metadata: { name: "podinfo", namespace: ns.name },
    spec: { interval: "5m", url: helmRepo.url },
  });
  await putRelease({ replicaCount: 2 });
});

afterAll(async () => {
  kubelet?.stop();
  await ns?.remove();
});

async function putRelease(values: Record<string, unknown>): Promise<void> {
  await applyToStore(runtime.store, {
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    kind: "HelmRelease",
    metadata: { name: "podinfo", namespace: ns.name, annotations: { "sluice.dev/cluster": cluster } },
    spec: {
      interval: "5m",
      timeout: "1m",
      chart: {
        spec: { chart: PODINFO.chart, version: "6.9.x", sourceRef: { kind: "HelmRepository", name: "podinfo" } },
      },
      values,
      valuesFrom: [{ kind: "ConfigMap", name: "podinfo-values" }],
    },
  });
}

/** What the worker does on a tick: the repository, the HelmRelease (which generates its HelmChart), the chart, again. */
async function reconcile(): Promise<void> {
  await dispatch(runtime, { key: `HelmRepository/${ns.name}/podinfo`, reason: "test" });
  await dispatch(runtime, { key: `HelmRelease/${ns.name}/podinfo`, reason: "test" });
  await dispatch(runtime, { key: `HelmChart/${ns.name}/${ns.name}-podinfo`, reason: "test" });
  await dispatch(runtime, { key: `HelmRelease/${ns.name}/podinfo`, reason: "test" });
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
type ReleaseStatus = { conditions?: Condition[]; history?: { version: number; status: string }[]; helmChart?: string };

async function status(): Promise<ReleaseStatus> {
  return ((await runtime.store.get({ kind: "HelmRelease", namespace: ns.name, name: "podinfo" }))?.object.status ??
    {}) as ReleaseStatus;
}
const readyOf = (s: ReleaseStatus) => s.conditions?.find((c) => c.type === "Ready");

/** Ticks the agent and reconciles the HelmRelease until its Ready condition has `reason`. */
async function agentUntil(reason: string, timeoutMs = 90_000): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await (
      await agent.tick()
    ).settled;
    await dispatch(runtime, { key: `HelmRelease/${ns.name}/podinfo`, reason: "health" });
    const current = await status();
    if (readyOf(current)?.reason === reason) return current;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${reason}: ${JSON.stringify(readyOf(current))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function helmHistory(): Promise<{ revision: number; status: string; chart: string }[]> {
  const { stdout } = await testHelm([
    "history",
    "podinfo",
    "-n",
    ns.name,
    "-o",
    "json",
    "--kubeconfig",
    kube.kubeconfigPath,
  ]);
  return JSON.parse(stdout) as { revision: number; status: string; chart: string }[];
}

async function readJson<T>(key: string): Promise<T> {
  const answer = await s3.send(new GetObjectCommand({ Bucket: config.bucket, Key: key }));
  return JSON.parse(await answer.Body!.transformToString()) as T;
}
const indexKey = () => `bundles/${cluster}/index.json`;
const releaseEntry = async () => (await readJson<BundleIndex>(indexKey())).bundles[`HelmRelease/${ns.name}/podinfo`]!;

describe(`HelmRelease on an agent cluster (${aws.version}, kube-apiserver ${kube.version})`, () => {
  it("the control plane publishes the HelmRelease with its chart; the agent installs it with Helm's storage and its own values", async () => {
    await reconcile();
    expect(readyOf(await status())).toMatchObject({
      status: "Unknown",
      message: expect.stringContaining(`published to cluster '${cluster}'; waiting for its agent`),
    });
    const entry = await releaseEntry();
    expect(entry.kustomization).toEqual({ kind: "HelmRelease", namespace: ns.name, name: "podinfo" });
    const bundle = await readJson<SealedBundle<HelmReleaseBundle>>(
      `bundles/${cluster}/helmreleases/${ns.name}/podinfo/${entry.digest.slice("sha256:".length)}.json`,
    );
    expect(bundle.content.helmRelease.chart).toMatchObject({ name: "podinfo", version: "6.9.3" });
    // The values from the cluster's ConfigMap never travel: only the reference does.
    expect(JSON.stringify(bundle)).not.toContain("from the edge");

    const installed = await agentUntil("InstallSucceeded");

    expect(readyOf(installed)).toMatchObject({
      status: "True",
      message: `Helm install succeeded for release ${ns.name}/podinfo.v1 with chart podinfo@6.9.3`,
    });
    expect(installed.helmChart).toBe(`${ns.name}/${ns.name}-podinfo`);
    expect(installed.history?.[0]).toMatchObject({ version: 1, status: "deployed" });
    expect(await helmHistory()).toEqual([
      expect.objectContaining({ revision: 1, status: "deployed", chart: "podinfo-6.9.3" }),
    ]);
    const { stdout: values } = await testHelm([
      "get",
      "values",
      "podinfo",
      "-n",
      ns.name,
      "-o",
      "json",
      "--kubeconfig",
      kube.kubeconfigPath,
    ]);
    expect(JSON.parse(values)).toEqual({ replicaCount: 2, ui: { message: "from the edge" } });
    expect(events.map((e) => e.reason)).toContain("InstallSucceeded");
  }, 150_000);

  it("a values change is a new bundle: the agent upgrades to revision 2", async () => {
    await putRelease({ replicaCount: 3 });
    await reconcile();
    const upgraded = await agentUntil("UpgradeSucceeded");
    expect(readyOf(upgraded)?.message).toBe(
      `Helm upgrade succeeded for release ${ns.name}/podinfo.v2 with chart podinfo@6.9.3`,
    );
    expect((await helmHistory()).map((r) => [r.revision, r.status])).toEqual([
      [1, "superseded"],
      [2, "deployed"],
    ]);
  }, 150_000);

  it("a HelmRelease bundle listed as a Kustomization's is refused, and the release stays as it is", async () => {
    const entry = await releaseEntry();
    const hex = entry.digest.slice("sha256:".length);
    const genuine = await readJson<SealedBundle>(`bundles/${cluster}/helmreleases/${ns.name}/podinfo/${hex}.json`);
    // Whoever can write the bucket lists the genuine, signed HelmRelease bundle under a Kustomization's key and path.
    await s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: `bundles/${cluster}/${ns.name}/podinfo/${hex}.json`,
        Body: JSON.stringify(genuine),
      }),
    );
    const index = await readJson<BundleIndex>(indexKey());
    index.bundles[`${ns.name}/podinfo`] = { ...entry, kustomization: { namespace: ns.name, name: "podinfo" } };
    await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: indexKey(), Body: JSON.stringify(index) }));

    await (
      await agent.tick()
    ).settled;

    const report = await readJson<AgentReport>(`status/${cluster}/kustomizations/${ns.name}/podinfo.json`);
    expect(report).toMatchObject({ ready: "False", reason: "BundleRejected" });
    expect(report.message).toContain(
      `bundle is for HelmRelease ${ns.name}/podinfo, but the index lists it under ${ns.name}/podinfo`,
    );
    expect((await helmHistory()).map((r) => r.revision)).toEqual([1, 2]);
    delete index.bundles[`${ns.name}/podinfo`];
    await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: indexKey(), Body: JSON.stringify(index) }));
  }, 60_000);

  it("deleting the HelmRelease publishes a signed withdrawal: the agent uninstalls the release", async () => {
    await requestDeletion(runtime.store, { kind: "HelmRelease", namespace: ns.name, name: "podinfo" }, new Date());
    await dispatch(runtime, { key: `HelmRelease/${ns.name}/podinfo`, reason: "test" });
    expect(await runtime.store.get({ kind: "HelmRelease", namespace: ns.name, name: "podinfo" })).toBeUndefined();
    expect((await releaseEntry()).withdrawn).toBe(true);

    const deadline = Date.now() + 60_000;
    let report: AgentReport | undefined;
    while (report?.reason !== "Withdrawn" && Date.now() < deadline) {
      await (
        await agent.tick()
      ).settled;
      report = await readJson<AgentReport>(`status/${cluster}/helmreleases/${ns.name}/podinfo.json`);
    }
    expect(report).toMatchObject({ reason: "Withdrawn" });
    expect(report?.helmRelease?.event?.message).toContain(`Helm uninstall succeeded for release ${ns.name}/podinfo.v2`);
    await expect(helmHistory()).rejects.toThrow(/release: not found/);
  }, 90_000);
});
