import { randomBytes } from "node:crypto";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { Agent } from "../../src/agent/agent.js";
import { publicKeyVerifier, sealBundle, type KustomizationBundle, type SealedBundle } from "../../src/bundle/bundle.js";
import { kmsPublicKey, kmsSigner } from "../../src/aws/kms.js";
import type { AgentReport, BundleIndex, IndexEntry } from "../../src/bundle/channel.js";
import { newClusterRegistration } from "../../src/api/cluster.js";
import { getObject, jsonPatch } from "../../src/apply/objects-api.js";
import { S3BundleChannel } from "../../src/aws/s3-bundle-channel.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import type { AwsConfig } from "../../src/runtime/lambda/config.js";
import { awsClients, awsRuntime, type AwsClients } from "../../src/runtime/lambda/worker.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import { applyToStore, requestDeletion } from "../../src/store/objects.js";
import { adminCluster, configMap } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { freshNamespace } from "../env/kube-client.js";

// Someone can write the bundle prefix and the index of a cluster, but does not hold the signing key:
// each attack below uses only genuine bundles (or the bucket's bytes) and must change nothing in
// the cluster. Every refusal is reported as BundleRejected and the control plane publishes again.

const { aws, kube, git } = inject("testbed");
const id = randomBytes(3).toString("hex");
const cluster = `edge-${id}`;
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
let clients: AwsClients;
let s3: S3Client;
let bucket: string;
let keyId: string;
let publicKey: Buffer;
let runtime: ReconcilerPorts;
let admin: Cluster;
let ns: { name: string; remove(): Promise<void> };
/** Genuine bundles kept for replay, by name. */
const kept: Record<string, IndexEntry> = {};

const indexKey = () => `bundles/${cluster}/index.json`;
const key = (name: string) => `${ns.name}/${name}`;
const bundleKey = (name: string, digest: string) =>
  `bundles/${cluster}/${ns.name}/${name}/${digest.slice("sha256:".length)}.json`;
const reportKey = (name: string) => `status/${cluster}/kustomizations/${ns.name}/${name}.json`;

beforeAll(async () => {
  ns = await freshNamespace(kube, "agent-attacks");
  admin = await adminCluster(kube);
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  clients = awsClients(base as AwsConfig);
  s3 = clients.s3;
  bucket = `sluice-attacks-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  keyId = (await clients.kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" })))
    .KeyMetadata!.KeyId!;
  publicKey = await kmsPublicKey(clients.kms, keyId);
  const fifo = await clients.sqs.send(
    new CreateQueueCommand({ QueueName: `sluice-attacks-${id}.fifo`, Attributes: { FifoQueue: "true" } }),
  );
  const delay = await clients.sqs.send(new CreateQueueCommand({ QueueName: `sluice-attacks-delay-${id}` }));
  await clients.secretsManager.send(
    new CreateSecretCommand({
      Name: `sluice/${ns.name}/git-auth`,
      SecretString: JSON.stringify({ username: git.username, password: git.password }),
    }),
  );
  const config: AwsConfig = {
    ...base,
    bucket,
    fifoUrl: fifo.QueueUrl!,
    delayUrl: delay.QueueUrl!,
    cluster: "",
    bundleKey: `kms:${keyId}`,
    settings: { allowPrivateNetworks: true },
  };
  runtime = await awsRuntime(config, clients, quietLog(), { emit: async () => {} }, systemClock);
  const repo = `${ns.name}-fleet`;
  const url = await createRepo(git, repo);
  const folder = (name: string, value: string) => ({
    [`${name}/app.yaml`]: stringify(configMap(`${name}-settings`, { value }, { namespace: ns.name })),
  });
  await pushTree(git, repo, { files: { ...folder("a", "a1"), ...folder("b", "b1") } });
  await applyToStore(runtime.store, newClusterRegistration(cluster, "agent"));
  await applyToStore(runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: "fleet", namespace: ns.name },
    spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  for (const name of ["a", "b"]) await createKustomization(name);
  await dispatch(runtime, { key: `GitRepository/${ns.name}/fleet`, reason: "test" });
  for (const name of ["a", "b"]) await reconcile(name);
  await syncOnce(await resumedAgent());
  for (const name of ["a", "b"]) kept[name] = await entryOf(name);
}, 120_000);

afterAll(async () => {
  await ns?.remove();
});

async function createKustomization(name: string): Promise<void> {
  await applyToStore(runtime.store, {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns.name, annotations: { "sluice.dev/cluster": cluster } },
    spec: { interval: "10m", path: `./${name}`, prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } },
  });
}

function quietLog(): Log {
  const log: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => log };
  return log;
}

/** What the worker does on a tick for one Kustomization: render, publish (again, after a refusal), fold in the report. */
async function reconcile(name: string): Promise<void> {
  await dispatch(runtime, { key: `Kustomization/${ns.name}/${name}`, reason: "test" });
}

/** A restarted agent: a new process that knows only what it persisted (its reports). */
async function resumedAgent(): Promise<Agent> {
  const agent = new Agent({
    cluster,
    inbox: new S3BundleChannel(s3, bucket, cluster),
    verifier: publicKeyVerifier(keyId, publicKey),
    kube: admin,
    clock: systemClock,
    log: quietLog(),
    version: "test",
    pollMs: 100,
  });
  await agent.resume();
  return agent;
}

async function syncOnce(agent: Agent): Promise<void> {
  await (
    await agent.tick()
  ).settled;
}

async function readJson<T>(s3Key: string): Promise<T> {
  return JSON.parse(
    await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: s3Key }))).Body!.transformToString(),
  ) as T;
}

const put = (s3Key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: s3Key, Body: body }));
const copy = (from: string, to: string) =>
  s3.send(new CopyObjectCommand({ Bucket: bucket, CopySource: `${bucket}/${from}`, Key: to }));
const readIndex = () => readJson<BundleIndex>(indexKey());
const entryOf = async (name: string) => (await readIndex()).bundles[key(name)]!;
const reportOf = (name: string) => readJson<AgentReport>(reportKey(name));

/** Rewrites the index as someone with write access to the bucket would. */
async function setEntry(name: string, entry: unknown): Promise<void> {
  const index = await readIndex();
  await put(indexKey(), JSON.stringify({ bundles: { ...index.bundles, [key(name)]: entry } }));
}

async function liveValue(name: string): Promise<string | undefined> {
  const found = await getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, `${name}-settings`);
  return (found?.data as { value?: string } | undefined)?.value;
}

async function handEdit(name: string): Promise<void> {
  await jsonPatch(
    admin,
    (await admin.discovery.find("v1", "ConfigMap"))!,
    ns.name,
    `${name}-settings`,
    [{ op: "replace", path: "/data/value", value: "hand-edited" }],
    "kubectl-edit",
  );
}

async function setSpec(name: string, fields: Record<string, unknown>): Promise<void> {
  const stored = (await runtime.store.get({ kind: "Kustomization", namespace: ns.name, name }))!.object;
  await applyToStore(runtime.store, { ...stored, spec: { ...(stored.spec as object), ...fields } });
  await reconcile(name);
}

/** The control plane sees the refusal, publishes the genuine bundle again, and the agent applies it. */
async function recovers(name: string, agent: Agent): Promise<AgentReport> {
  const refused = await entryOf(name);
  await reconcile(name);
  const republished = await entryOf(name);
  expect(republished.digest).not.toBe(refused.digest);
  expect(republished.sequence).toBeGreaterThan(kept[name]?.sequence ?? 0);
  await syncOnce(agent);
  return reportOf(name);
}

describe(`pull agent against a bucket writer without the signing key (kube-apiserver ${kube.version}, ${aws.version})`, () => {
  it("an index key pointing at another Kustomization's genuine bundle is refused, copied under its key or not; both keep their objects", async () => {
    // Arrange
    const agent = await resumedAgent();
    const b = await entryOf("b");
    const bReport = await reportOf("b");
    // Act 1: a's entry names b's digest, where a's prefix holds no such bundle.
    await setEntry("a", { ...(await entryOf("a")), digest: b.digest });
    await syncOnce(agent);
    const missing = await reportOf("a");
    const afterMissing = await recovers("a", agent);
    // Act 2: b's genuine bundle is copied under a's prefix as well, and the entry looks like b's.
    const applied = await entryOf("a");
    await copy(bundleKey("b", b.digest), bundleKey("a", b.digest));
    await setEntry("a", { ...applied, digest: b.digest, contentDigest: b.contentDigest });
    await syncOnce(agent);
    const copied = await reportOf("a");
    // Assess
    expect(missing).toMatchObject({
      reason: "BundleRejected",
      digest: b.digest,
      message: expect.stringContaining(`${bundleKey("a", b.digest)}: no such bundle`),
      applied: { digest: kept.a!.digest },
    });
    expect(afterMissing).toMatchObject({ ready: "True", reason: "ReconciliationSucceeded" });
    expect(copied).toMatchObject({
      reason: "BundleRejected",
      message: expect.stringContaining(
        `bundle is for Kustomization ${key("b")}, but the index lists it under ${key("a")}`,
      ),
      applied: { digest: applied.digest },
    });
    expect({ a: await liveValue("a"), b: await liveValue("b") }).toEqual({ a: "a1", b: "b1" });
    expect(await reportOf("b")).toEqual(bReport);
    expect(await recovers("a", agent)).toMatchObject({ ready: "True", reason: "ReconciliationSucceeded" });
  }, 60_000);

  it("an index entry naming another Kustomization than its key is refused under its key, and the other's report is not touched", async () => {
    // Arrange
    const agent = await resumedAgent();
    const bReport = await reportOf("b");
    // Act: the whole of b's entry, under a's key.
    await setEntry("a", await entryOf("b"));
    await syncOnce(agent);
    // Assess
    expect(await reportOf("a")).toMatchObject({
      reason: "BundleRejected",
      message: expect.stringContaining(`index entry ${key("a")} names Kustomization ${key("b")}`),
    });
    expect(await reportOf("b")).toEqual(bReport);
    expect(await liveValue("a")).toBe("a1");
    expect(await recovers("a", agent)).toMatchObject({ ready: "True" });
  }, 60_000);

  it("a genuine bundle of another cluster, for the same Kustomization and with a newer sequence, is refused", async () => {
    // Arrange: what the control plane would sign for cluster `other` (same key, same namespace/name).
    const agent = await resumedAgent();
    const a = await entryOf("a");
    const genuine = await readJson<SealedBundle<KustomizationBundle>>(bundleKey("a", a.digest));
    const objects = [configMap("a-settings", { value: "from-other" }, { namespace: ns.name })];
    const other = await sealBundle(
      { ...genuine.content, cluster: `other-${id}`, sequence: a.sequence + 60_000, objects },
      kmsSigner(clients.kms, keyId),
    );
    await put(bundleKey("a", other.digest), JSON.stringify(other));
    // Act
    await setEntry("a", { ...a, digest: other.digest, sequence: other.content.sequence });
    await syncOnce(agent);
    // Assess
    expect(await reportOf("a")).toMatchObject({
      reason: "BundleRejected",
      message: expect.stringContaining(`bundle is for cluster 'other-${id}', not '${cluster}'`),
      accepted: { digest: a.digest },
    });
    expect(await liveValue("a")).toBe("a1");
    expect(await recovers("a", agent)).toMatchObject({ ready: "True" });
  }, 60_000);

  it("a bundle from before a suspension, replayed while suspended, is refused also by a restarted agent: drift stays uncorrected until resumed", async () => {
    // Arrange
    const before = await entryOf("a");
    await setSpec("a", { suspend: true });
    await syncOnce(await resumedAgent());
    const suspension = await entryOf("a");
    await handEdit("a");
    // Act: the pre-suspension bundle (genuine, it would correct the drift) replayed to a restarted agent.
    await setEntry("a", before);
    const agent = await resumedAgent();
    await syncOnce(agent);
    // Assess
    expect(await reportOf("a")).toMatchObject({
      reason: "BundleRejected",
      message: expect.stringContaining(
        `older than the accepted bundle (sequence ${before.sequence} < ${suspension.sequence}), a replay`,
      ),
    });
    expect(await liveValue("a")).toBe("hand-edited");
    await setSpec("a", { suspend: false });
    await syncOnce(agent);
    expect(await liveValue("a")).toBe("a1");
  }, 60_000);

  it("a signed suspension or withdrawal of b replayed under a's key is refused and deletes nothing of a", async () => {
    // Arrange: b is suspended, resumed, then deleted (a suspended Kustomization is deleted without a withdrawal, as in Flux).
    const agent = await resumedAgent();
    await setSpec("b", { suspend: true });
    const bSuspension = await entryOf("b");
    await setSpec("b", { suspend: false });
    await syncOnce(agent);
    kept.b = await entryOf("b");
    await requestDeletion(runtime.store, { kind: "Kustomization", namespace: ns.name, name: "b" }, new Date());
    await reconcile("b");
    await syncOnce(agent);
    const bWithdrawal = await entryOf("b");
    kept.bWithdrawal = bWithdrawal;
    const refusals: AgentReport[] = [];
    // Act
    for (const replayed of [bSuspension, bWithdrawal]) {
      await copy(bundleKey("b", replayed.digest), bundleKey("a", replayed.digest));
      await setEntry("a", { ...replayed, kustomization: { namespace: ns.name, name: "a" } });
      await syncOnce(agent);
      refusals.push(await reportOf("a"));
    }
    // Assess
    expect(bWithdrawal).toMatchObject({ withdrawn: true });
    expect(await liveValue("b")).toBeUndefined();
    for (const refusal of refusals)
      expect(refusal).toMatchObject({
        reason: "BundleRejected",
        message: expect.stringContaining(
          `bundle is for Kustomization ${key("b")}, but the index lists it under ${key("a")}`,
        ),
      });
    expect(await liveValue("a")).toBe("a1");
    expect(await recovers("a", agent)).toMatchObject({ ready: "True" });
  }, 60_000);

  it("after a withdrawal, a bundle from before it is refused (the sequence outlives the Kustomization); after a re-creation, so is the withdrawal", async () => {
    // Arrange: b is withdrawn (previous test); its last applied bundle is kept.
    const beforeDeletion = kept.b!;
    const withdrawal = kept.bWithdrawal!;
    // Act 1: a restarted agent is shown b's pre-deletion bundle.
    await setEntry("b", beforeDeletion);
    await syncOnce(await resumedAgent());
    const resurrection = await reportOf("b");
    const afterResurrection = await liveValue("b");
    // Act 2: b is created again and applied; then its old withdrawal is replayed to a restarted agent.
    await setEntry("b", withdrawal);
    await createKustomization("b");
    await reconcile("b");
    await syncOnce(await resumedAgent());
    const recreated = await liveValue("b");
    const current = await entryOf("b");
    await setEntry("b", withdrawal);
    const agent = await resumedAgent();
    await syncOnce(agent);
    // Assess
    expect(resurrection).toMatchObject({
      reason: "BundleRejected",
      message: expect.stringContaining(
        `older than the accepted bundle (sequence ${beforeDeletion.sequence} < ${withdrawal.sequence}), a replay`,
      ),
    });
    expect(afterResurrection).toBeUndefined();
    expect(recreated).toBe("b1");
    expect(current.sequence).toBeGreaterThan(withdrawal.sequence);
    expect(await reportOf("b")).toMatchObject({
      reason: "BundleRejected",
      message: expect.stringContaining(
        `older than the accepted bundle (sequence ${withdrawal.sequence} < ${current.sequence}), a replay`,
      ),
    });
    expect(await liveValue("b")).toBe("b1");
    expect(await recovers("b", agent)).toMatchObject({ ready: "True" });
  }, 60_000);

  it("reordering the index's entries changes nothing: no refusal, no write to the cluster or the reports", async () => {
    // Arrange
    const agent = await resumedAgent();
    await syncOnce(agent);
    const index = await readIndex();
    const reports = { a: await reportOf("a"), b: await reportOf("b") };
    const versions = async () =>
      Promise.all(
        ["a", "b"].map(
          async (n) =>
            (await getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, `${n}-settings`))
              ?.metadata.resourceVersion,
        ),
      );
    const before = await versions();
    // Act
    await put(indexKey(), JSON.stringify({ bundles: Object.fromEntries(Object.entries(index.bundles).reverse()) }));
    await syncOnce(agent);
    await syncOnce(await resumedAgent());
    // Assess
    expect(Object.keys((await readIndex()).bundles)).toEqual(Object.keys(index.bundles).reverse());
    expect({ a: await reportOf("a"), b: await reportOf("b") }).toEqual(reports);
    expect(await versions()).toEqual(before);
  }, 60_000);

  it("a truncated, emptied, oversized or malformed index deletes nothing, and the agent carries on with the genuine index", async () => {
    // Arrange
    const agent = await resumedAgent();
    const genuine = JSON.stringify(await readIndex());
    const garbage = [
      genuine.slice(0, genuine.length / 2),
      "",
      "null",
      '{"bundles": []}',
      '{"bundles": null}',
      '{"bundles": {}}',
      JSON.stringify({
        bundles: { "../../status/x": (await readIndex()).bundles[key("a")], [`${key("a")}/extra`]: {} },
      }),
      JSON.stringify({ bundles: {}, padding: "x".repeat(17 << 20) }),
    ];
    const outcomes: string[] = [];
    // Act
    for (const body of garbage) {
      await put(indexKey(), body);
      outcomes.push(
        await syncOnce(agent).then(
          () => "read",
          (error: Error) => error.message,
        ),
      );
    }
    await put(indexKey(), genuine);
    await syncOnce(agent);
    // Assess
    expect(outcomes).toEqual([
      expect.stringContaining("index.json read failed: not valid JSON"),
      expect.stringContaining("index.json read failed: not valid JSON"),
      expect.stringContaining("index.json read failed: not a bundle index"),
      expect.stringContaining("index.json read failed: not a bundle index"),
      expect.stringContaining("index.json read failed: not a bundle index"),
      "read",
      "read",
      expect.stringMatching(/index.json is 17\.0 MiB, over the limit of 16\.0 MiB/),
    ]);
    expect({ a: await liveValue("a"), b: await liveValue("b") }).toEqual({ a: "a1", b: "b1" });
    expect((await reportOf("a")).reason).toBe("ReconciliationSucceeded");
  }, 60_000);

  it("malformed entries under a valid key are refused and reported, and the control plane publishes over them", async () => {
    // Arrange
    const agent = await resumedAgent();
    const a = await entryOf("a");
    const malformed = [
      null,
      "x",
      { ...a, digest: "sha256:../../../status/evil" },
      { ...a, sequence: "9".repeat(400) },
      { ...a, kustomization: undefined },
    ];
    const messages: string[] = [];
    // Act
    for (const entry of malformed) {
      await setEntry("a", entry);
      await syncOnce(agent);
      messages.push((await reportOf("a")).message);
    }
    // Assess
    expect(messages).toEqual([
      expect.stringContaining(`index entry ${key("a")}: entry:`),
      expect.stringContaining(`index entry ${key("a")}: entry:`),
      expect.stringContaining(`index entry ${key("a")}: digest: expected sha256:<64 hex digits>`),
      expect.stringContaining(`index entry ${key("a")}: sequence:`),
      expect.stringContaining(`index entry ${key("a")}: kustomization:`),
    ]);
    expect(await liveValue("a")).toBe("a1");
    expect(await recovers("a", agent)).toMatchObject({ ready: "True" });
  }, 60_000);
});
