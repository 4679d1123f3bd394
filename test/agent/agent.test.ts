import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, connect as tcpConnect, type Server } from "node:net";
import { promisify } from "node:util";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { Agent } from "../../src/agent/agent.js";
import {
  bundleDigest,
  publicKeyVerifier,
  type KustomizationBundle,
  type SealedBundle,
} from "../../src/bundle/bundle.js";
import type { AgentReport, BundleIndex } from "../../src/bundle/channel.js";
import { newClusterRegistration } from "../../src/api/cluster.js";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject, jsonPatch } from "../../src/apply/objects-api.js";
import { S3BundleChannel } from "../../src/aws/s3-bundle-channel.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import type { FluxEvent } from "../../src/notify/events.js";
import type { AwsConfig } from "../../src/runtime/lambda/config.js";
import { agentControlPlane } from "./control-plane.js";
import { systemClock, type Clock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import { applyToStore, requestDeletion } from "../../src/store/objects.js";
import { adminCluster, configMap, deployment } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { freshNamespace } from "../env/kube-client.js";
import { freePort } from "../env/process.js";
import { ageKey, sopsEncrypt } from "../env/sops.js";
import { parseExposition, sample } from "../runtime/exposition.js";

const run = promisify(execFile);
const { aws, kube, git } = inject("testbed");
const id = randomBytes(3).toString("hex");
const cluster = `edge-${id}`;
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const events: FluxEvent[] = [];
let config: AwsConfig;
let runtime: ReconcilerPorts;
let admin: Cluster;
let s3: S3Client;
let keyId: string;
let publicKey: Buffer;
let ns: { name: string; remove(): Promise<void> };
let repo: string;
let agentProcess: ChildProcess | undefined;
/** The index entry of the first bundle, for the replay test. */
let firstEntry: BundleIndex["bundles"][string];
let agentOutput = "";

beforeAll(async () => {
  ns = await freshNamespace(kube, "agent");
  admin = await adminCluster(kube);
  const plane = await agentControlPlane(aws, `sluice-agent-${id}`, quietLog(), (e) => events.push(e));
  ({ config, runtime, keyId, publicKey } = plane);
  s3 = plane.clients.s3;
  await plane.clients.secretsManager.send(
    new CreateSecretCommand({
      Name: `sluice/${ns.name}/git-auth`,
      SecretString: JSON.stringify({ username: git.username, password: git.password }),
    }),
  );

  repo = `${ns.name}-fleet`;
  const url = await createRepo(git, repo);
  await pushTree(git, repo, { files: app({ settings: "one", extra: "kept" }) });
  // The test namespace may target the cluster as a service account (the serviceAccountName test).
  await applyToStore(runtime.store, newClusterRegistration(cluster, "agent", [ns.name]));
  await applyToStore(runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: "fleet", namespace: ns.name },
    spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  await applyToStore(runtime.store, {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: "app", namespace: ns.name, annotations: { "sluice.dev/cluster": cluster } },
    spec: {
      interval: "10m",
      retryInterval: "1m",
      path: "./deploy",
      prune: true,
      sourceRef: { kind: "GitRepository", name: "fleet" },
    },
  });
});

afterAll(async () => {
  agentProcess?.kill("SIGKILL");
  await ns?.remove();
});

/** ConfigMaps (and optionally other objects) as the repository's deploy/ folder. */
function app(values: Record<string, string>, extra: KubeObject[] = []): Record<string, string> {
  const objects = [
    ...Object.entries(values).map(([name, value]) => configMap(name, { value }, { namespace: ns.name })),
    ...extra,
  ];
  return { "deploy/app.yaml": objects.map((o) => `---\n${stringify(o)}`).join("") };
}

function quietLog(lines: { level: string; fields: Record<string, unknown>; message: string }[] = []): Log {
  const log = (level: string) => (fields: Record<string, unknown>, message: string) =>
    void lines.push({ level, fields, message });
  return { info: log("info"), warn: log("warn"), error: log("error"), child: () => quietLog(lines) };
}

/** What the worker does on a webhook or tick: fetch the source, then reconcile the Kustomization. */
async function reconcile(): Promise<void> {
  await dispatch(runtime, { key: `GitRepository/${ns.name}/fleet`, reason: "test" });
  await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "test" });
}

const appKey = () => ({ kind: "Kustomization", namespace: ns.name, name: "app" });
const indexKey = `bundles/${cluster}/index.json`;

async function status() {
  return (await runtime.store.get(appKey()))!.object.status as {
    conditions: { type: string; status: string; reason: string; message: string }[];
    lastAppliedRevision?: string;
    inventory?: { entries: { id: string }[] };
  };
}
const ready = async () => (await status()).conditions.find((c) => c.type === "Ready")!;

async function live(name: string): Promise<KubeObject | undefined> {
  return getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, name);
}
const liveValue = async (name: string) => ((await live(name))?.data as { value?: string } | undefined)?.value;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${agentOutput ? `; agent output:\n${agentOutput.slice(-3000)}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

let healthPort = 0;

function startAgentProcess(): ChildProcess {
  agentOutput = "";
  const child = spawn(process.execPath, ["--import", "tsx", "src/agent/main.ts"], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: kube.kubeconfigPath,
      SLUICE_CLUSTER_NAME: cluster,
      SLUICE_BUCKET: config.bucket,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
      SLUICE_AWS_ENDPOINT: aws.endpoint,
      SLUICE_BUNDLE_KEY: `kms:${keyId}`,
      SLUICE_BUNDLE_PUBLIC_KEY: publicKey.toString("base64"),
      SLUICE_POLL_INTERVAL: "200ms",
      SLUICE_HEALTH_PORT: String(healthPort),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (agentOutput += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (agentOutput += chunk.toString()));
  return child;
}

function inProcessAgent(options: { clock?: Clock; s3?: S3Client; lines?: Parameters<typeof quietLog>[0] } = {}): Agent {
  return new Agent({
    cluster,
    inbox: new S3BundleChannel(options.s3 ?? s3, config.bucket, cluster),
    verifier: publicKeyVerifier(`${keyId}`, publicKey),
    kube: admin,
    clock: options.clock ?? systemClock,
    log: quietLog(options.lines),
    version: "test",
    pollMs: 100,
  });
}

/** An in-process agent that has picked up the reports of the agents before it. */
async function resumedAgent(options: Parameters<typeof inProcessAgent>[0] = {}): Promise<Agent> {
  const agent = inProcessAgent(options);
  await agent.resume();
  return agent;
}

/** Changes fields of the stored Kustomization's spec, as a commit to the fleet would. */
async function setSpec(fields: Record<string, unknown>): Promise<void> {
  const stored = (await runtime.store.get(appKey()))!.object;
  await applyToStore(runtime.store, { ...stored, spec: { ...(stored.spec as object), ...fields } });
}

async function syncOnce(agent: Agent): Promise<void> {
  await (
    await agent.tick()
  ).settled;
}

async function readJson<T>(key: string): Promise<T> {
  return JSON.parse(
    await (await s3.send(new GetObjectCommand({ Bucket: config.bucket, Key: key }))).Body!.transformToString(),
  ) as T;
}

describe(`pull agent: signed bundles from S3 applied inside the cluster (${aws.version}, kube-apiserver ${kube.version})`, () => {
  it("the worker publishes a signed bundle instead of applying; the agent process applies it and the status comes back", async () => {
    // Arrange
    await reconcile();
    expect(await ready()).toMatchObject({
      status: "Unknown",
      reason: "Progressing",
      message: expect.stringContaining(`published to cluster '${cluster}'; waiting for its agent`),
    });
    expect(await live("settings")).toBeUndefined();
    // Act
    healthPort = await freePort();
    agentProcess = startAgentProcess();
    await until("the agent to apply the bundle", async () => (await liveValue("settings")) === "one");
    expect(await fetch(`http://127.0.0.1:${healthPort}/healthz`).then((r) => r.status)).toBe(200);
    await until("the agent's report to fold into the status", async () => {
      await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
      return (await ready()).status === "True";
    });
    // Assess
    const { lastAppliedRevision, inventory } = await status();
    expect(lastAppliedRevision).toMatch(/^main@sha1:[0-9a-f]{40}$/);
    expect(inventory?.entries.map((e) => e.id)).toEqual([
      `${ns.name}_extra__ConfigMap`,
      `${ns.name}_settings__ConfigMap`,
    ]);
    expect((await live("settings"))?.metadata.labels).toMatchObject({
      "kustomize.toolkit.fluxcd.io/name": "app",
      "kustomize.toolkit.fluxcd.io/namespace": ns.name,
    });
    const cli = (...args: string[]) =>
      run(process.execPath, ["bin/sluice.js", ...args, "--aws-bucket", config.bucket], {
        env: {
          ...process.env,
          SLUICE_AWS_ENDPOINT: aws.endpoint,
          AWS_REGION: aws.region,
          AWS_ACCESS_KEY_ID: aws.accessKeyId,
          AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
        },
      });
    const kustomizations = (await cli("get", "kustomizations", "-n", ns.name)).stdout;
    expect(kustomizations).toMatch(
      new RegExp(`^app\\s+${lastAppliedRevision}\\s+False\\s+True\\s+Applied revision: ${lastAppliedRevision}$`, "m"),
    );
    const clusters = await until("a heartbeat", async () => {
      const out = (await cli("get", "clusters")).stdout;
      return out.includes(lastAppliedRevision!) && out;
    });
    // … BUNDLES 1, then its Kustomizations: OBJECTS 1, READY 1, FAILING 0, LAST APPLIED
    expect(clusters).toMatch(
      new RegExp(
        `^${cluster}\\s+agent\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+${lastAppliedRevision}\\s+1\\s+1\\s+1\\s+0\\s+${lastAppliedRevision}$`,
        "m",
      ),
    );
    // The agent's /metrics, on the port of /healthz: Flux's duration histogram and controller-runtime's counters for
    // what it applied; no gotk_resource_info, which the control plane exports for every object.
    const scraped = parseExposition(await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text());
    const ref = { kind: "Kustomization", name: "app", namespace: ns.name };
    expect(sample(scraped, "gotk_reconcile_duration_seconds_count", ref)?.value).toBeGreaterThanOrEqual(1);
    expect(
      sample(scraped, "controller_runtime_reconcile_total", { controller: "kustomization", result: "requeue_after" })
        ?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(sample(scraped, "controller_runtime_reconcile_errors_total", { controller: "kustomization" })?.value).toBe(
      0,
    );
    expect(scraped.some((s) => s.name === "gotk_resource_info")).toBe(false);
  }, 60_000);

  it("an agent restart resumes without rewriting unchanged objects", async () => {
    // Arrange
    const before = {
      settings: (await live("settings"))!.metadata.resourceVersion,
      extra: (await live("extra"))!.metadata.resourceVersion,
    };
    agentProcess!.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) =>
      agentProcess!.once("exit", (exitCode) => resolve(exitCode)),
    );
    expect(code).toBe(0);
    // Act
    agentProcess = startAgentProcess();
    await until("the restarted agent to resume", async () =>
      agentOutput.includes("resumed: every bundle checked against the cluster"),
    );
    // Assess
    expect({
      settings: (await live("settings"))!.metadata.resourceVersion,
      extra: (await live("extra"))!.metadata.resourceVersion,
    }).toEqual(before);
    agentProcess.kill("SIGTERM");
    await new Promise((resolve) => agentProcess!.once("exit", resolve));
    agentProcess = undefined;
  }, 60_000);

  it("a tampered bundle is refused, the last good state is kept, and the control plane alerts and republishes", async () => {
    // Arrange: someone with write access to the bucket swaps in a bundle with a changed value.
    const agent = await resumedAgent();
    await syncOnce(agent);
    const index = await readJson<BundleIndex>(indexKey);
    const entry = index.bundles[`${ns.name}/app`]!;
    firstEntry = entry;
    const genuine = await readJson<SealedBundle<KustomizationBundle>>(
      `bundles/${cluster}/${ns.name}/app/${entry.digest.slice("sha256:".length)}.json`,
    );
    const tampered = structuredClone(genuine);
    (tampered.content.objects.find((o) => o.metadata.name === "settings")!.data as Record<string, string>).value =
      "evil";
    tampered.digest = bundleDigest(tampered.content);
    await s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: `bundles/${cluster}/${ns.name}/app/${tampered.digest.slice("sha256:".length)}.json`,
        Body: JSON.stringify(tampered),
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: indexKey,
        Body: JSON.stringify({ bundles: { [`${ns.name}/app`]: { ...entry, digest: tampered.digest } } }),
      }),
    );
    // Act
    await syncOnce(agent);
    const report = await readJson<AgentReport>(`status/${cluster}/kustomizations/${ns.name}/app.json`);
    events.length = 0;
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "interval" });
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    // Assess
    expect(await liveValue("settings")).toBe("one");
    expect(report).toMatchObject({
      digest: tampered.digest,
      ready: "False",
      reason: "BundleRejected",
      message: expect.stringContaining(`signature by ${keyId} does not verify`),
      applied: { digest: entry.digest },
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        severity: "error",
        reason: "BundleRejected",
        message: expect.stringContaining("does not verify; the last good state is kept"),
      }),
    );
    const republished = (await readJson<BundleIndex>(indexKey)).bundles[`${ns.name}/app`]!;
    expect(republished.contentDigest).toBe(entry.contentDigest);
    expect(republished.sequence).toBeGreaterThan(entry.sequence);
    expect(await ready()).toMatchObject({ status: "True" });
  }, 60_000);

  it("bundle N+1 failing to apply leaves N in place and prunes nothing; N+2 recovers", async () => {
    // Arrange: N+1 changes a value, drops `extra` and carries a Deployment the API server rejects.
    const agent = await resumedAgent();
    const invalid: KubeObject = { ...deployment("broken"), metadata: { name: "broken", namespace: ns.name } };
    delete (invalid.spec as { selector?: unknown }).selector;
    await pushTree(git, repo, { files: app({ settings: "two" }, [invalid]) });
    // Act
    await reconcile();
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    // Assess
    expect(await liveValue("extra")).toBe("kept");
    expect(await ready()).toMatchObject({
      status: "False",
      reason: "ReconciliationFailed",
      message: expect.stringMatching(new RegExp(`cluster '${cluster}': .*Deployment/${ns.name}/broken`)),
    });
    expect((await status()).inventory?.entries.map((e) => e.id)).toContain(`${ns.name}_extra__ConfigMap`);
    // Act: N+2 is valid and no longer has `extra`.
    await pushTree(git, repo, { files: app({ settings: "three" }) });
    await reconcile();
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    // Assess
    expect(await liveValue("settings")).toBe("three");
    expect(await live("extra")).toBeUndefined();
    expect(await ready()).toMatchObject({ status: "True" });
    expect((await status()).inventory?.entries.map((e) => e.id)).toEqual([`${ns.name}_settings__ConfigMap`]);
  }, 60_000);

  it("a replayed older genuine bundle is refused as a replay, and the control plane publishes the current one again", async () => {
    // Arrange: the index is pointed back at the first bundle (validly signed, but superseded).
    const agent = await resumedAgent();
    await syncOnce(agent);
    const current = (await readJson<BundleIndex>(indexKey)).bundles[`${ns.name}/app`]!;
    await s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: indexKey,
        Body: JSON.stringify({
          bundles: { [`${ns.name}/app`]: { ...firstEntry, contentDigest: current.contentDigest } },
        }),
      }),
    );
    // Act
    await syncOnce(agent);
    const report = await readJson<AgentReport>(`status/${cluster}/kustomizations/${ns.name}/app.json`);
    events.length = 0;
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "interval" });
    const republished = (await readJson<BundleIndex>(indexKey)).bundles[`${ns.name}/app`]!;
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    // Assess
    expect(await liveValue("settings")).toBe("three");
    expect(report).toMatchObject({
      digest: firstEntry.digest,
      reason: "BundleRejected",
      message: expect.stringContaining(
        `older than the accepted bundle (sequence ${firstEntry.sequence} < ${current.sequence}), a replay`,
      ),
    });
    expect(events).toContainEqual(expect.objectContaining({ severity: "error", reason: "BundleRejected" }));
    expect(republished.sequence).toBeGreaterThan(current.sequence);
    expect(await ready()).toMatchObject({ status: "True" });
  }, 60_000);

  it("drift is corrected inside the cluster every interval without a new bundle, and reported as drift", async () => {
    // Arrange
    let offset = 0;
    const agent = await resumedAgent({ clock: { now: () => Date.now() + offset, sleep: systemClock.sleep } });
    await syncOnce(agent);
    await jsonPatch(
      admin,
      (await admin.discovery.find("v1", "ConfigMap"))!,
      ns.name,
      "settings",
      [{ op: "replace", path: "/data/value", value: "hand-edited" }],
      "kubectl-edit",
    );
    await syncOnce(agent);
    const beforeInterval = await liveValue("settings");
    // Act: the Kustomization's 10m interval passes.
    offset = 11 * 60_000;
    await syncOnce(agent);
    events.length = 0;
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "interval" });
    // Assess
    expect(beforeInterval).toBe("hand-edited");
    expect(await liveValue("settings")).toBe("three");
    expect(await readJson<AgentReport>(`status/${cluster}/kustomizations/${ns.name}/app.json`)).toMatchObject({
      driftCorrected: true,
      changes: `ConfigMap/${ns.name}/settings configured`,
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        reason: "ReconciliationSucceeded",
        message: `drift corrected:\nConfigMap/${ns.name}/settings configured`,
      }),
    );
  }, 60_000);

  it("suspend reaches the agent (signed): no drift correction while suspended; resume corrects again", async () => {
    // Arrange
    let offset = 0;
    const agent = await resumedAgent({ clock: { now: () => Date.now() + offset, sleep: systemClock.sleep } });
    await syncOnce(agent);
    const setSuspend = async (suspend: boolean) => {
      await setSpec({ suspend });
      await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "test" });
    };
    // Act: suspended, an edit survives the interval
    await setSuspend(true);
    await syncOnce(agent);
    await jsonPatch(
      admin,
      (await admin.discovery.find("v1", "ConfigMap"))!,
      ns.name,
      "settings",
      [{ op: "replace", path: "/data/value", value: "hand-edited" }],
      "kubectl-edit",
    );
    offset += 11 * 60_000;
    await syncOnce(agent);
    const whileSuspended = await liveValue("settings");
    // Act: resumed, the next bundle corrects it
    await setSuspend(false);
    await syncOnce(agent);
    // Assess
    expect(whileSuspended).toBe("hand-edited");
    expect(await liveValue("settings")).toBe("three");
  }, 60_000);

  it("`sluice reconcile` (requestedAt) reaches the agent at once: drift is corrected without waiting for the interval", async () => {
    // Arrange
    const agent = await resumedAgent();
    await syncOnce(agent);
    await jsonPatch(
      admin,
      (await admin.discovery.find("v1", "ConfigMap"))!,
      ns.name,
      "settings",
      [{ op: "replace", path: "/data/value", value: "hand-edited" }],
      "kubectl-edit",
    );
    await syncOnce(agent);
    const beforeRequest = await liveValue("settings");
    // Act
    const stored = (await runtime.store.get(appKey()))!.object;
    await applyToStore(runtime.store, {
      ...stored,
      metadata: {
        ...stored.metadata,
        annotations: { ...stored.metadata.annotations, "reconcile.fluxcd.io/requestedAt": new Date().toISOString() },
      },
    });
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "requested" });
    await syncOnce(agent);
    // Assess
    expect(beforeRequest).toBe("hand-edited");
    expect(await liveValue("settings")).toBe("three");
  }, 60_000);

  it("S3 unreachable: the agent backs off without crashing and catches up when S3 is back", async () => {
    // Arrange: the agent reaches S3 through a proxy that is down.
    const port = await freePort();
    const motoPort = Number(new URL(aws.endpoint).port);
    const proxy: Server = createServer((socket) => {
      const upstream = tcpConnect(motoPort, "127.0.0.1");
      socket.pipe(upstream).pipe(socket);
      socket.on("error", () => upstream.destroy());
      upstream.on("error", () => socket.destroy());
    });
    const lines: Parameters<typeof quietLog>[0] = [];
    const agent = inProcessAgent({
      s3: new S3Client({
        region: aws.region,
        endpoint: `http://127.0.0.1:${port}`,
        forcePathStyle: true,
        credentials,
        maxAttempts: 1,
      }),
      lines,
    });
    const running = agent.run();
    await pushTree(git, repo, { files: app({ settings: "four" }) });
    await reconcile();
    // Act
    await until("three failed polls", async () => lines.filter((l) => l.level === "warn").length >= 3);
    proxy.listen(port, "127.0.0.1");
    await until("the agent to catch up", async () => (await liveValue("settings")) === "four");
    agent.stop();
    await running;
    proxy.close();
    // Assess
    const waits = lines.filter((l) => l.level === "warn").map((l) => l.fields.retryInMs as number);
    expect(waits.slice(0, 3)).toEqual([200, 400, 800]);
    expect(lines.some((l) => l.message.startsWith("resumed"))).toBe(true);
  }, 60_000);

  it("a SOPS-encrypted Secret travels encrypted and is decrypted by the agent with a key that exists only in the cluster", async () => {
    // Arrange: the age key is a Secret in the agent's cluster; the fleet holds the encrypted file.
    const key = await ageKey();
    await applyAll(
      admin,
      [
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "sops-age", namespace: ns.name },
          stringData: { "identity.agekey": key.identity },
        },
      ],
      { owner: { name: "keys", namespace: ns.name } },
    );
    const plain = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "db", namespace: ns.name },
      type: "Opaque",
      stringData: { password: "hunter2" },
    };
    const encrypted = await sopsEncrypt(plain, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
    await pushTree(git, repo, {
      files: {
        ...app({ settings: "five" }),
        "deploy/db.sops.yaml": stringify(encrypted),
        "deploy/kustomization.yaml": stringify({ resources: ["app.yaml", "db.sops.yaml"] }),
      },
    });
    await setSpec({ decryption: { provider: "sops", secretRef: { name: "sops-age" } } });
    const agent = await resumedAgent();
    // Act
    await reconcile();
    const published = JSON.stringify(
      await readJson<BundleIndex>(indexKey).then((index) =>
        readJson<SealedBundle<KustomizationBundle>>(
          `bundles/${cluster}/${ns.name}/app/${index.bundles[`${ns.name}/app`]!.digest.slice("sha256:".length)}.json`,
        ),
      ),
    );
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    // Assess
    expect(published).toContain('"sops"');
    expect(published).not.toContain("hunter2");
    const db = await getObject(admin, (await admin.discovery.find("v1", "Secret"))!, ns.name, "db");
    expect(Buffer.from((db?.data as Record<string, string>).password!, "base64").toString()).toBe("hunter2");
    expect(db).not.toHaveProperty("sops");
    expect(await ready()).toMatchObject({ status: "True" });
    expect(JSON.stringify(await status())).not.toContain("hunter2");
  }, 60_000);

  it("health checks run in the agent: with wait, Ready once the rollout is Current (here by a healthCheckExprs rule), and Healthy is set", async () => {
    // Arrange: a Deployment the controller manager makes Available (0 replicas), and `wait`; a
    // second one with 3 replicas never becomes available without a kubelet, so only the CEL rule
    // the bundle carries can call it Current.
    const web: KubeObject = { ...deployment("web"), metadata: { name: "web", namespace: ns.name } };
    const batch: KubeObject = {
      ...deployment("batch", { replicas: 3 }),
      metadata: { name: "batch", namespace: ns.name, labels: { health: "cel" } },
    };
    await pushTree(git, repo, { files: app({ settings: "six" }, [web, batch]) });
    const healthCheckExprs = [
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        current:
          "has(metadata.labels) && metadata.labels.?health.orValue('') == 'cel' || status.?availableReplicas.orValue(0) == spec.replicas",
      },
    ];
    await setSpec({ decryption: undefined, wait: true, timeout: "1m", healthCheckExprs });
    const agent = await resumedAgent();
    // Act
    await reconcile();
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    // Assess
    const report = await readJson<AgentReport>(`status/${cluster}/kustomizations/${ns.name}/app.json`);
    expect(report.ready).toBe("True");
    expect(report.health).toContainEqual(
      expect.objectContaining({ subject: `Deployment/${ns.name}/web`, status: "Current" }),
    );
    expect(report.health).toContainEqual(
      expect.objectContaining({
        subject: `Deployment/${ns.name}/batch`,
        status: "Current",
        message: "healthCheckExprs: Current",
      }),
    );
    expect((await status()).conditions).toContainEqual(expect.objectContaining({ type: "Healthy", status: "True" }));
    expect(await ready()).toMatchObject({ status: "True" });
  }, 60_000);

  it("serviceAccountName is honoured in the agent: it applies as that account, and a refusal names the identity", async () => {
    // Arrange: a service account with no rights at all.
    await applyAll(
      admin,
      [{ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "deployer", namespace: ns.name } }],
      { owner: { name: "accounts", namespace: ns.name } },
    );
    await setSpec({ serviceAccountName: "deployer" });
    await pushTree(git, repo, { files: app({ settings: "seven" }) });
    const agent = await resumedAgent();
    // Act
    await reconcile();
    await syncOnce(agent);
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "health" });
    const refused = await ready();
    const during = await liveValue("settings");
    await setSpec({ serviceAccountName: undefined });
    await reconcile();
    await syncOnce(agent);
    // Assess
    expect(refused).toMatchObject({
      status: "False",
      reason: "ReconciliationFailed",
      message: expect.stringContaining(`system:serviceaccount:${ns.name}:deployer`),
    });
    expect(during).toBe("six");
    expect(await liveValue("settings")).toBe("seven");
  }, 60_000);

  it("only a signed withdrawal deletes: an entry dropped from the index changes nothing; deleting the Kustomization deletes what it applied", async () => {
    // Arrange
    const agent = await resumedAgent();
    await syncOnce(agent);
    const index = await readJson<BundleIndex>(indexKey);
    await s3.send(
      new PutObjectCommand({ Bucket: config.bucket, Key: indexKey, Body: JSON.stringify({ bundles: {} }) }),
    );
    await syncOnce(agent);
    const afterDrop = await live("settings");
    await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: indexKey, Body: JSON.stringify(index) }));
    // Act
    await requestDeletion(runtime.store, appKey(), new Date());
    await dispatch(runtime, { key: `Kustomization/${ns.name}/app`, reason: "deleted" });
    await syncOnce(agent);
    // Assess
    expect(afterDrop).toBeDefined();
    expect(await runtime.store.get(appKey())).toBeUndefined();
    const withdrawal = (await readJson<BundleIndex>(indexKey)).bundles[`${ns.name}/app`]!;
    expect(withdrawal).toMatchObject({ withdrawn: true });
    expect(withdrawal.sequence).toBeGreaterThan(index.bundles[`${ns.name}/app`]!.sequence);
    expect(await live("settings")).toBeUndefined();
    // The report stays as a tombstone: it keeps the withdrawal's sequence, and nothing applied.
    const tombstone = await readJson<AgentReport>(`status/${cluster}/kustomizations/${ns.name}/app.json`);
    expect(tombstone).toMatchObject({
      reason: "Withdrawn",
      digest: withdrawal.digest,
      accepted: { sequence: withdrawal.sequence, digest: withdrawal.digest },
    });
    expect(tombstone.applied).toBeUndefined();
  }, 60_000);

  it("`sluice agent install --export` prints manifests the API server accepts, with the KMS public key for local verification", async () => {
    // Act: the region comes from --region alone (no AWS_REGION), for the Store read as for KMS
    const withoutRegion = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => name !== "AWS_REGION" && name !== "AWS_DEFAULT_REGION"),
    );
    const { stdout } = await run(
      process.execPath,
      [
        "bin/sluice.js",
        "agent",
        "install",
        "--cluster",
        cluster,
        "--bundle-key",
        `kms:${keyId}`,
        "--region",
        aws.region,
        "--install-namespace",
        `${ns.name}-agent`,
        "--role-arn",
        "arn:aws:iam::123456789012:role/agent",
        "--export",
        "--aws-bucket",
        config.bucket,
      ],
      {
        env: {
          ...withoutRegion,
          SLUICE_AWS_ENDPOINT: aws.endpoint,
          AWS_ACCESS_KEY_ID: aws.accessKeyId,
          AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
        },
      },
    );
    const manifests = parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);
    const changes = await applyAll(admin, manifests, {
      owner: { name: "sluice-agent", namespace: `${ns.name}-agent` },
    });
    // Assess
    expect(manifests.map((m) => m.kind)).toEqual([
      "Namespace",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
      "Deployment",
    ]);
    expect(changes.map((c) => c.action)).not.toContain("unknown");
    expect(manifests[1]!.metadata.annotations).toEqual({
      "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/agent",
    });
    expect(manifests[4]!.data).toMatchObject({
      SLUICE_CLUSTER_NAME: cluster,
      SLUICE_BUCKET: config.bucket,
      SLUICE_BUNDLE_KEY: `kms:${keyId}`,
      SLUICE_BUNDLE_PUBLIC_KEY: publicKey.toString("base64"),
    });
    await expect(
      run(
        process.execPath,
        [
          "bin/sluice.js",
          "agent",
          "install",
          "--cluster",
          "nope",
          "--bundle-key",
          `kms:${keyId}`,
          "--region",
          aws.region,
          "--export",
          "--aws-bucket",
          config.bucket,
        ],
        {
          env: {
            ...process.env,
            SLUICE_AWS_ENDPOINT: aws.endpoint,
            AWS_REGION: aws.region,
            AWS_ACCESS_KEY_ID: aws.accessKeyId,
            AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
          },
        },
      ),
    ).rejects.toMatchObject({ stderr: expect.stringContaining("'nope' is not registered in agent mode") });
  }, 60_000);

  it("`sluice agent install` with HMAC takes only a per-cluster key ({cluster}) and says what the agent could sign", async () => {
    // Arrange
    const env = {
      ...process.env,
      SLUICE_AWS_ENDPOINT: aws.endpoint,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
    };
    const install = (bundleKey: string) =>
      run(
        process.execPath,
        [
          "bin/sluice.js",
          "agent",
          "install",
          "--cluster",
          cluster,
          "--bundle-key",
          bundleKey,
          "--region",
          aws.region,
          "--export",
          "--aws-bucket",
          config.bucket,
        ],
        { env },
      );
    // Act
    const perCluster = await install("hmac:sluice/bundle-keys/{cluster}");
    const shared = install("hmac:sluice/bundle-key");
    // Assess
    const configMap = parseAllDocuments(perCluster.stdout)
      .map((d) => d.toJS() as KubeObject)
      .find((m) => m.kind === "ConfigMap")!;
    expect(configMap.data).toMatchObject({ SLUICE_BUNDLE_KEY: "hmac:sluice/bundle-keys/{cluster}" });
    expect(configMap.data).not.toHaveProperty("SLUICE_BUNDLE_PUBLIC_KEY");
    expect(perCluster.stderr).toContain(
      `HMAC bundle key sluice/bundle-keys/${cluster}: the agent holds it and could sign bundles for cluster ${cluster}; kms:<key id> avoids that`,
    );
    await expect(shared).rejects.toMatchObject({
      stderr: expect.stringContaining(
        "--bundle-key 'hmac:sluice/bundle-key': an HMAC secret id must contain {cluster}",
      ),
    });
  }, 60_000);
});
