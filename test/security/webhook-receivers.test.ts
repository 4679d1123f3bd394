import { createHmac, randomBytes } from "node:crypto";
import { request } from "node:http";
import { mkdtemp, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { CoreV1Api } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { KubeObject } from "../../src/apply/object.js";
import { webhookPath } from "../../src/notify/receiver.js";
import { systemClock } from "../../src/ports/clock.js";
import { startLocal, type LocalControlPlane } from "../../src/runtime/local.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { startWebhookServer } from "../../src/runtime/webhook-server.js";
import { applyToStore, requestDeletion } from "../../src/store/objects.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";

// What a hostile sender (or a stale Receiver) can do to `sluice run`'s webhook endpoint: the local
// control plane on kube-apiserver (Receiver tokens are Kubernetes Secrets), its webhook server on loopback.

const { kube } = inject("testbed");
let plane: LocalControlPlane;
let webhook: Awaited<ReturnType<typeof startWebhookServer>>;
let stateDir: string;
let a: { name: string; remove(): Promise<void> };
let b: { name: string; remove(): Promise<void> };
const core = () => adminKubeConfig(kube).makeApiClient(CoreV1Api);
const MAX_BODY = 1 << 20;
const unreachable = "http://127.0.0.1:9/nothing.git"; // fails fast: status (and lastHandledReconcileAt) is written all the same

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-webhook-sec-"));
  plane = await startLocal({
    stateDir,
    kubeconfig: kube.kubeconfig,
    clock: systemClock,
    log: pino({ level: "silent" }),
    watchIntervalMs: 100,
  });
  webhook = await startWebhookServer(plane.runtime, 0);
  [a, b] = await Promise.all([freshNamespace(kube, "hook-a"), freshNamespace(kube, "hook-b")]);
});

afterAll(async () => {
  await webhook?.close();
  await plane?.stop();
  await Promise.all([a?.remove(), b?.remove()]);
});

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const tokenSecret = (namespace: string, name: string, token: string) =>
  core().createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: { token } } });
const receiver = (namespace: string, name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1",
  kind: "Receiver",
  metadata: { name, namespace },
  spec: { secretRef: { name }, ...spec },
});
const gitRepository = (namespace: string, name: string, labels?: Record<string, string>): KubeObject => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name, namespace, ...(labels && { labels }) },
  spec: { interval: "10m", url: unreachable, ref: { branch: "main" } },
});
const stored = async (kind: string, namespace: string, name: string) =>
  (await plane.runtime.store.get({ kind, namespace, name }))?.object;
const statusOf = async (namespace: string, name: string) =>
  ((await stored("Receiver", namespace, name))?.status ?? {}) as {
    webhookPath?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
const ready = async (namespace: string, name: string) =>
  (await statusOf(namespace, name)).conditions?.find((c) => c.type === "Ready");
const requestedAt = async (namespace: string, name: string) =>
  (await stored("GitRepository", namespace, name))?.metadata.annotations?.[REQUESTED_AT];
const reconcileReceiver = (namespace: string, name: string) =>
  plane.queue.enqueue({ key: `Receiver/${namespace}/${name}`, reason: "requested" });
const post = (path: string, headers: Record<string, string> = {}, body = "{}") =>
  fetch(`${webhook.url}${path}`, { method: "POST", body, headers });
const indexFile = (path: string) => join(statePaths(stateDir).receivers, `${path.slice("/hook/".length)}.json`);
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** Registers a Receiver and waits for its reconcile; returns its webhook path. */
async function registered(object: KubeObject): Promise<string> {
  await applyToStore(plane.runtime.store, object);
  await until(
    `${object.metadata.name} reconciled`,
    async () => (await ready(object.metadata.namespace!, object.metadata.name)) !== undefined,
  );
  return (await statusOf(object.metadata.namespace!, object.metadata.name)).webhookPath ?? "";
}

describe(`webhook receivers against the local control plane (kube-apiserver ${kube.version})`, () => {
  it("a gitlab Receiver whose token Secret is deleted answers 404 on its old path, with or without the header", async () => {
    // Arrange
    const token = `gl-${randomBytes(8).toString("hex")}`;
    await tokenSecret(a.name, "gitlab", token);
    await applyToStore(plane.runtime.store, gitRepository(a.name, "gitlab-app"));
    const path = await registered(
      receiver(a.name, "gitlab", { type: "gitlab", resources: [{ kind: "GitRepository", name: "gitlab-app" }] }),
    );
    expect((await post(path, { "x-gitlab-token": token, "x-gitlab-event": "Push Hook" })).status).toBe(202);
    // Act
    await core().deleteNamespacedSecret({ namespace: a.name, name: "gitlab" });
    await reconcileReceiver(a.name, "gitlab");
    await until("TokenNotFound", async () => (await ready(a.name, "gitlab"))?.reason === "TokenNotFound");
    // Assess
    expect((await post(path, { "x-gitlab-event": "Push Hook" })).status).toBe(404);
    expect((await post(path, { "x-gitlab-token": "", "x-gitlab-event": "Push Hook" })).status).toBe(404);
    expect((await post(path, { "x-gitlab-token": token, "x-gitlab-event": "Push Hook" })).status).toBe(404);
    expect((await statusOf(a.name, "gitlab")).webhookPath).toBe("");
    expect(await exists(indexFile(path))).toBe(false);
  });

  it("a generic-hmac Receiver with an empty token is never Ready, and an HMAC keyed with '' reaches nothing", async () => {
    await tokenSecret(a.name, "empty", "");
    await applyToStore(plane.runtime.store, gitRepository(a.name, "empty-app"));
    await registered(
      receiver(a.name, "empty", { type: "generic-hmac", resources: [{ kind: "GitRepository", name: "empty-app" }] }),
    );
    expect(await ready(a.name, "empty")).toMatchObject({ status: "False", reason: "TokenNotFound" });
    const body = '{"ref":"main"}';
    const answer = await post(
      webhookPath("", "empty", a.name),
      { "x-signature": `sha256=${createHmac("sha256", "").update(body).digest("hex")}` },
      body,
    );
    expect(answer.status).toBe(404);
    expect(await requestedAt(a.name, "empty-app")).toBeUndefined();
  });

  it("rotating the token retires the old path and serves the new one", async () => {
    await tokenSecret(a.name, "rotated", "first-token");
    await applyToStore(plane.runtime.store, gitRepository(a.name, "rotated-app"));
    const oldPath = await registered(
      receiver(a.name, "rotated", { type: "generic", resources: [{ kind: "GitRepository", name: "rotated-app" }] }),
    );
    await core().replaceNamespacedSecret({
      namespace: a.name,
      name: "rotated",
      body: { metadata: { name: "rotated" }, stringData: { token: "second-token" } },
    });
    await reconcileReceiver(a.name, "rotated");
    const newPath = webhookPath("second-token", "rotated", a.name);
    await until("the new path", async () => (await statusOf(a.name, "rotated")).webhookPath === newPath);
    expect((await post(oldPath)).status).toBe(404);
    expect(await exists(indexFile(oldPath))).toBe(false);
    expect((await post(newPath)).status).toBe(202);
  });

  it("a deleted Receiver no longer answers on its path", async () => {
    await tokenSecret(a.name, "deleted", "deleted-token");
    const path = await registered(
      receiver(a.name, "deleted", { type: "generic", resources: [{ kind: "GitRepository", name: "whatever" }] }),
    );
    expect((await post(path)).status).toBe(202);
    await requestDeletion(plane.runtime.store, { kind: "Receiver", namespace: a.name, name: "deleted" }, new Date());
    await until("the Receiver removed", async () => (await stored("Receiver", a.name, "deleted")) === undefined);
    expect((await post(path)).status).toBe(404);
    expect(await exists(indexFile(path))).toBe(false);
  });

  it("refuses resources in another namespace (named or by label): Ready=False AccessDenied naming spec.resources[i], and no delivery reaches them", async () => {
    // Arrange: the target exists in both namespaces, with the label the wildcard selects
    await tokenSecret(a.name, "crossing", "crossing-token");
    await Promise.all([
      applyToStore(plane.runtime.store, gitRepository(a.name, "shared", { team: "x" })),
      applyToStore(plane.runtime.store, gitRepository(b.name, "shared", { team: "x" })),
    ]);
    // Act
    await registered(
      receiver(a.name, "crossing", {
        type: "generic",
        resources: [
          { kind: "GitRepository", name: "shared" },
          { kind: "GitRepository", name: "shared", namespace: b.name },
          { kind: "GitRepository", name: "*", namespace: b.name, matchLabels: { team: "x" } },
        ],
      }),
    );
    // Assess
    const condition = await ready(a.name, "crossing");
    expect(condition).toMatchObject({ status: "False", reason: "AccessDenied" });
    expect(condition?.message).toContain(
      `Receiver/${a.name}/crossing refused: spec.resources[1] (GitRepository/${b.name}/shared) is in another namespace; spec.resources[2]`,
    );
    expect(condition?.message).not.toContain("spec.resources[0]");
    expect((await post(webhookPath("crossing-token", "crossing", a.name))).status).toBe(404);
    await new Promise((r) => setTimeout(r, 300));
    expect(await requestedAt(b.name, "shared")).toBeUndefined();
    expect(await requestedAt(a.name, "shared")).toBeUndefined();
  });

  it("a wildcard resource triggers, through the worker, only the labelled objects of the Receiver's own namespace", async () => {
    await tokenSecret(a.name, "labels", "labels-token");
    await Promise.all([
      applyToStore(plane.runtime.store, gitRepository(a.name, "labelled", { tier: "web" })),
      applyToStore(plane.runtime.store, gitRepository(a.name, "unlabelled")),
      applyToStore(plane.runtime.store, gitRepository(b.name, "labelled", { tier: "web" })),
    ]);
    const path = await registered(
      receiver(a.name, "labels", {
        type: "generic",
        resources: [{ kind: "GitRepository", name: "*", matchLabels: { tier: "web" } }],
      }),
    );
    const answer = await post(path);
    expect(answer.status).toBe(202);
    await until("the labelled source handled the request", async () => {
      const object = await stored("GitRepository", a.name, "labelled");
      const at = object?.metadata.annotations?.[REQUESTED_AT];
      return (
        at !== undefined &&
        (object?.status as { lastHandledReconcileAt?: string } | undefined)?.lastHandledReconcileAt === at
      );
    });
    expect(await requestedAt(a.name, "unlabelled")).toBeUndefined();
    expect(await requestedAt(b.name, "labelled")).toBeUndefined();
  });

  it("handles a GitHub delivery id once per Receiver: a replay is acknowledged and enqueues nothing; another Receiver's same id is not suppressed", async () => {
    // Arrange
    for (const name of ["gh-one", "gh-two"]) await tokenSecret(a.name, name, `${name}-token`);
    const [one, two] = [
      await registered(
        receiver(a.name, "gh-one", { type: "github", resources: [{ kind: "GitRepository", name: "gh-app" }] }),
      ),
      await registered(
        receiver(a.name, "gh-two", { type: "github", resources: [{ kind: "GitRepository", name: "gh-app" }] }),
      ),
    ];
    const body = '{"ref":"refs/heads/main"}';
    const signed = (name: string, delivery: string) => ({
      "x-github-event": "push",
      "x-github-delivery": delivery,
      "x-hub-signature-256": `sha256=${createHmac("sha256", `${name}-token`).update(body).digest("hex")}`,
    });
    const id = randomBytes(8).toString("hex");
    // Act
    const first = await post(one, signed("gh-one", id), body);
    const replay = await post(one, signed("gh-one", id), body);
    const elsewhere = await post(two, signed("gh-two", id), body);
    // A forged request cannot burn an id: it is refused before the id is recorded.
    const forgedId = randomBytes(8).toString("hex");
    const forged = await post(one, { ...signed("gh-one", forgedId), "x-hub-signature-256": "sha256=00" }, body);
    const genuine = await post(one, signed("gh-one", forgedId), body);
    // Assess
    expect([first.status, await replay.text(), elsewhere.status, forged.status, genuine.status]).toEqual([
      202,
      "already handled\n",
      202,
      400,
      202,
    ]);
  });

  it("answers 413 to a 100 MB chunked upload (no connection reset), and to a declared oversized body, then keeps serving", async () => {
    const chunk = Buffer.alloc(64 << 10, 0x61);
    let sent = 0;
    const hundredMegabytes = new Readable({
      read() {
        sent += chunk.length;
        this.push(sent <= 100 << 20 ? chunk : null);
      },
    });
    // Settles when the client's request closes: it stops uploading once it has the whole answer; a reset would be an error.
    const chunked = await new Promise<{ status?: number; body: string; error?: string }>((resolve) => {
      const outcome: { status?: number; body: string; error?: string } = { body: "" };
      const req = request(
        `${webhook.url}/hook/${"a".repeat(64)}`,
        { method: "POST", headers: { "transfer-encoding": "chunked" } },
        (res) => {
          outcome.status = res.statusCode;
          res.on("data", (d: Buffer) => (outcome.body += d.toString()));
        },
      );
      req.on("error", (error) => (outcome.error = error.message)).on("close", () => resolve(outcome));
      hundredMegabytes.pipe(req);
    });
    expect(sent).toBeGreaterThan(MAX_BODY);
    expect(chunked).toEqual({ status: 413, body: `payload larger than ${MAX_BODY} bytes\n` });
    const declared = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${webhook.url}/hook/${"a".repeat(64)}`,
        { method: "POST", headers: { "content-length": String(200 << 20) } },
        (res) => resolve(res.statusCode!),
      );
      req.on("error", reject);
      req.write(chunk);
    });
    expect(declared).toBe(413);
    expect((await post(`/hook/${"a".repeat(64)}`)).status).toBe(404);
  }, 60_000);

  it("never lets a path that is not Flux's digest reach the index (traversal, encodings, case)", async () => {
    for (const path of [
      "/hook/../receivers/x",
      "/hook/..%2f..%2fstore",
      `/hook/${"A".repeat(64)}`,
      `/hook/${"a".repeat(64)}/`,
      "/hook/",
      `/hook/${"a".repeat(65)}`,
    ]) {
      expect((await post(path)).status, path).toBe(404);
    }
  });

  it("keeps the index (which holds tokens) readable by its owner only", async () => {
    await tokenSecret(a.name, "mode", "mode-token");
    const path = await registered(
      receiver(a.name, "mode", { type: "generic", resources: [{ kind: "GitRepository", name: "x" }] }),
    );
    expect((await stat(indexFile(path))).mode & 0o777).toBe(0o600);
    expect((await stat(statePaths(stateDir).receivers)).mode & 0o777).toBe(0o700);
  });
});
