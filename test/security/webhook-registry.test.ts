import { createHmac } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ImageRepository } from "../../src/api/imagerepository.js";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { KubeObject } from "../../src/apply/object.js";
import { startWebhookServer } from "../../src/runtime/webhook-server.js";
import { applyToStore } from "../../src/store/objects.js";
import { startTestPlane, until, type TestPlane } from "../controllers/helpers.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";
import { pushTags } from "../image/registry-tags.js";
import { front } from "./source-helpers.js";

// Registry Receivers (harbor, nexus, quay, dockerhub, acr) on `sluice run`'s webhook endpoint, against the local
// control plane on kube-apiserver (tokens in Secrets) and the test bed's registry: what each sender's genuine
// delivery triggers, what a forger's is answered (400, as notification-controller answers), and what replays cost.

const { kube, registry } = inject("testbed");
let plane: TestPlane;
let webhook: Awaited<ReturnType<typeof startWebhookServer>>;
let ns: { name: string; remove(): Promise<void> };

beforeAll(async () => {
  plane = await startTestPlane(kube, { settings: { allowPrivateNetworks: true } });
  webhook = await startWebhookServer(plane.runtime, 0);
  ns = await freshNamespace(kube, "registry-hook");
});
afterAll(async () => {
  await webhook?.close();
  await plane?.stop();
  await ns?.remove();
});

const TOKEN = "registry-hook-token";
const post = (path: string, headers: Record<string, string>, body: string) =>
  fetch(`${webhook.url}${path}`, { method: "POST", body, headers });
const stored = async (kind: string, name: string) =>
  (await plane.runtime.store.get({ kind, namespace: ns.name, name }))?.object;

/** A Receiver of `type` for `resources`, its token Secret, reconciled; returns its webhook path. */
async function registered(name: string, type: string, resources: KubeObject[]): Promise<string> {
  await adminKubeConfig(kube)
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({ namespace: ns.name, body: { metadata: { name }, stringData: { token: TOKEN } } });
  for (const resource of resources) await applyToStore(plane.runtime.store, resource);
  await applyToStore(plane.runtime.store, {
    apiVersion: "notification.toolkit.fluxcd.io/v1",
    kind: "Receiver",
    metadata: { name, namespace: ns.name },
    spec: {
      type,
      secretRef: { name },
      resources: resources.map((r) => ({ kind: r.kind, name: r.metadata.name })),
    },
  });
  return until(`Receiver ${name} ready`, async () => {
    const status = (await stored("Receiver", name))?.status as { webhookPath?: string } | undefined;
    return status?.webhookPath || false;
  });
}

const gitRepository = (name: string): KubeObject => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name, namespace: ns.name },
  spec: { interval: "10m", url: "http://127.0.0.1:9/nothing.git", ref: { branch: "main" } },
});
const imageRepository = (name: string, image: string): KubeObject => ({
  apiVersion: "image.toolkit.fluxcd.io/v1",
  kind: "ImageRepository",
  metadata: { name, namespace: ns.name, generation: 1 },
  spec: { image, interval: "1h" },
});

const nexusBody = JSON.stringify({ action: "CREATED", repositoryName: "docker-hosted", timestamp: "2026-12-01" });
const sha1 = (key: string, body: string) => createHmac("sha1", key).update(body).digest("hex");
interface Delivery {
  headers: Record<string, string>;
  body: string;
}
// Each sender's genuine delivery, and a forger's attempt that Flux refuses.
const senders: { type: string; genuine: Delivery; forged: Delivery }[] = [
  {
    type: "harbor",
    genuine: { headers: { authorization: TOKEN }, body: '{"type":"PUSH_ARTIFACT"}' },
    forged: { headers: { authorization: `Basic ${TOKEN}` }, body: '{"type":"PUSH_ARTIFACT"}' },
  },
  {
    type: "nexus",
    genuine: { headers: { "x-nexus-webhook-signature": sha1(TOKEN, nexusBody) }, body: nexusBody },
    forged: { headers: { "x-nexus-webhook-signature": sha1("guessed", nexusBody) }, body: nexusBody },
  },
  {
    type: "quay",
    genuine: { headers: {}, body: '{"docker_url":"quay.io/org/app","updated_tags":["v1"]}' },
    forged: { headers: {}, body: '{"docker_url":"quay.io/org/app","updated_tags":"v1"}' },
  },
  {
    type: "dockerhub",
    genuine: {
      headers: {},
      body: '{"push_data":{"tag":"v1"},"repository":{"repo_url":"https://hub.docker.com/r/o/a"}}',
    },
    forged: { headers: {}, body: "<html>not json</html>" },
  },
  {
    type: "acr",
    genuine: { headers: {}, body: '{"action":"push","target":{"repository":"app","tag":"v1"}}' },
    forged: { headers: {}, body: '{"action":"push","target":"app"}' },
  },
];

describe(`registry Receivers on the local webhook path (kube-apiserver ${kube.version})`, () => {
  it.each(senders)("$type: a refused delivery (400) triggers nothing; a genuine one (202) reconciles", async (s) => {
    // Arrange
    const path = await registered(`hook-${s.type}`, s.type, [gitRepository(`app-${s.type}`)]);
    // Act
    const refused = await post(path, s.forged.headers, s.forged.body);
    await new Promise((r) => setTimeout(r, 300));
    const untouched = (await stored("GitRepository", `app-${s.type}`))?.metadata.annotations?.[REQUESTED_AT];
    const accepted = await post(path, s.genuine.headers, s.genuine.body);
    // Assess
    expect([refused.status, untouched, accepted.status]).toEqual([400, undefined, 202]);
    await until("the source handled the webhook's request", async () => {
      const object = await stored("GitRepository", `app-${s.type}`);
      const at = object?.metadata.annotations?.[REQUESTED_AT];
      return at !== undefined && (object?.status as { lastHandledReconcileAt?: string })?.lastHandledReconcileAt === at;
    });
  });

  it("a Docker Hub push rescans its ImageRepository at once (interval 1h); 20 replays at once cost a bounded number of scans", async () => {
    // Arrange: a front counting the registry's tag listings
    let listings = 0;
    const counted = await front(`http://${registry.host}`, (req) => {
      if (req.url?.includes("/tags/list")) listings++;
      return false; // proxied
    });
    const image = `${counted.baseUrl.slice("http://".length)}/apps/hooked`;
    try {
      await pushTags(registry.host, "apps/hooked", ["1.0.0"]);
      const path = await registered("hook-scan", "dockerhub", [imageRepository("hooked", image)]);
      const tagCount = async () =>
        ((await stored("ImageRepository", "hooked"))?.status as ImageRepository["status"])?.lastScanResult?.tagCount;
      await until("the first scan", async () => (await tagCount()) === 1);
      const delivery = senders.find((s) => s.type === "dockerhub")!.genuine;
      // Act
      await pushTags(registry.host, "apps/hooked", ["1.1.0"]);
      const pushed = Date.now();
      expect((await post(path, delivery.headers, delivery.body)).status).toBe(202);
      await until("the new tag scanned", async () => (await tagCount()) === 2);
      const elapsed = Date.now() - pushed;
      const before = listings;
      const replays = await Promise.all(Array.from({ length: 20 }, () => post(path, delivery.headers, delivery.body)));
      await new Promise((r) => setTimeout(r, 2_000));
      // Assess
      expect(elapsed).toBeLessThan(5_000);
      expect(replays.map((r) => r.status)).toEqual(Array(20).fill(202));
      // A sender that signs nothing can be replayed: each replay is one queued request, and requests for one
      // object coalesce, so twenty cost a few scans, not twenty.
      expect(listings - before).toBeGreaterThan(0);
      expect(listings - before).toBeLessThanOrEqual(5);
    } finally {
      counted.close();
    }
  }, 60_000);

  it("answers 413 to a registry delivery over 1 MiB and triggers nothing", async () => {
    const path = await registered("hook-big", "quay", [gitRepository("app-big")]);
    const huge = `{"docker_url":"${"a".repeat(1 << 20)}"}`;
    expect((await post(path, {}, huge)).status).toBe(413);
    await new Promise((r) => setTimeout(r, 300));
    expect((await stored("GitRepository", "app-big"))?.metadata.annotations?.[REQUESTED_AT]).toBeUndefined();
  });
});
