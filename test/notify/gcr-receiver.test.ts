import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from "jose";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Receiver } from "../../src/api/receiver.js";
import { reconcileReceiver } from "../../src/controllers/notification/receiver.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { defaultSettings } from "../../src/controllers/settings.js";
import { handleDelivery } from "../../src/notify/deliveries.js";
import { MemoryDeliveryLog } from "../../src/notify/delivery-log.js";
import { verifyDelivery } from "../../src/notify/receiver.js";
import type { ReconcileRequest } from "../../src/queue/queue.js";
import { FileReceiverIndex } from "../../src/store/fs-receiver-index.js";

// The gcr Receiver against a loopback JWKS server standing in for Google's: real RS256 ID tokens signed
// with its key, the claims Pub/Sub push puts in them, and an attacker's variations on each.

const EMAIL = "pubsub-push@project.iam.gserviceaccount.com";
const AUDIENCE = "https://sluice.example/hook/gcr";
const identity = { email: EMAIL, audience: AUDIENCE };
let server: Server;
let keys: JWTVerifyGetKey;
let google: CryptoKey;
let stranger: CryptoKey;
let jwksRequests = 0;

const event = {
  action: "INSERT",
  digest: "gcr.io/project/app@sha256:" + "a".repeat(64),
  tag: "gcr.io/project/app:1.0",
};
/** A Pub/Sub push as its subscription POSTs it, the registry's event base64-encoded in message.data. */
const push = (
  data: string = Buffer.from(JSON.stringify(event)).toString("base64"),
  publishTime = "2026-12-02T01:00:00.123Z",
) =>
  Buffer.from(
    JSON.stringify({
      message: { data, messageId: "136969346945", publishTime },
      subscription: "projects/project/subscriptions/sluice",
    }),
  );

/** An ID token as Google signs one for a push subscription; `claims` and `kid` override. */
async function idToken(claims: Record<string, unknown> = {}, key: CryptoKey = google, kid = "google-1") {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: "https://accounts.google.com", aud: AUDIENCE, iat: now, exp: now + 3600 };
  return new SignJWT({ ...payload, email: EMAIL, email_verified: true, ...claims })
    .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
    .sign(key);
}

const verify = async (authorization: string | undefined, body = push(), who = identity) =>
  verifyDelivery("gcr", "token", { authorization }, body, [], { identity: who, googleKeys: keys });

beforeAll(async () => {
  const pair = await generateKeyPair("RS256");
  google = pair.privateKey;
  stranger = (await generateKeyPair("RS256")).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "google-1", alg: "RS256", use: "sig" };
  server = createServer((req, res) => {
    jwksRequests++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  keys = createRemoteJWKSet(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/v3/certs`));
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((done) => server?.close(done));
});

describe("gcr Receiver: Google's OIDC ID token, as notification-controller v1.9.3 checks it", () => {
  it("accepts a push whose token Google signed for the Secret's audience and verified email", async () => {
    await expect(verify(`Bearer ${await idToken()}`)).resolves.toEqual({ accept: true, event: "gcr" });
    // Either spelling of Google's issuer, as Flux accepts both.
    await expect(verify(`Bearer ${await idToken({ iss: "accounts.google.com" })}`)).resolves.toMatchObject({
      accept: true,
    });
  });

  it.each([
    [
      "another audience",
      () => idToken({ aud: "https://elsewhere.example" }),
      "audience is 'https://elsewhere.example'",
    ],
    ["another email", () => idToken({ email: "attacker@evil.iam.gserviceaccount.com" }), "token email is 'attacker@"],
    ["an unverified email", () => idToken({ email_verified: false }), `token email '${EMAIL}' is not verified`],
    ["email_verified as a string", () => idToken({ email_verified: "true" }), "is not verified"],
    ["no email_verified", () => idToken({ email_verified: undefined }), "is not verified"],
    ["another issuer", () => idToken({ iss: "https://evil.example" }), "token issuer is 'https://evil.example'"],
    [
      "an expired token",
      () => idToken({ exp: Math.floor(Date.now() / 1000) - 5 }),
      '"exp" claim timestamp check failed',
    ],
    ["a token signed by another key (Google's key id)", () => idToken({}, stranger), "signature verification failed"],
    ["a key id Google does not have", () => idToken({}, stranger, "attacker-1"), "no applicable key found"],
    [
      "alg none",
      async () => {
        const part = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
        const now = Math.floor(Date.now() / 1000);
        const claims = { iss: "https://accounts.google.com", aud: AUDIENCE, email: EMAIL, email_verified: true };
        return `${part({ alg: "none", typ: "JWT" })}.${part({ ...claims, exp: now + 600 })}.`;
      },
      "invalid ID token",
    ],
    [
      "HS256 keyed with Google's public key (algorithm confusion)",
      async () => {
        const { createHmac } = await import("node:crypto");
        const part = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
        const now = Math.floor(Date.now() / 1000);
        const claims = { iss: "https://accounts.google.com", aud: AUDIENCE, email: EMAIL, email_verified: true };
        const unsigned = `${part({ alg: "HS256", kid: "google-1" })}.${part({ ...claims, exp: now + 600 })}`;
        return `${unsigned}.${createHmac("sha256", "public-key").update(unsigned).digest("base64url")}`;
      },
      "invalid ID token",
    ],
    ["garbage", async () => "not.a.token", "invalid ID token: audience is '<unknown>'"],
  ])("refuses %s with 400, as Flux answers", async (_case, token, reason) => {
    // Act
    const verdict = await verify(`Bearer ${await token()}`);
    // Assess
    expect(verdict).toMatchObject({ accept: false, status: 400 });
    expect((verdict as { reason: string }).reason).toContain(reason);
    expect((verdict as { reason: string }).reason).toMatch(/^cannot authenticate GCR request: /);
  });

  it("refuses a missing or non-Bearer Authorization, and a Secret without email or audience", async () => {
    const token = await idToken();
    await expect(verify(undefined)).resolves.toMatchObject({
      status: 400,
      reason: "cannot authenticate GCR request: the Authorization header is missing or malformed",
    });
    await expect(verify(`bearer ${token}`)).resolves.toMatchObject({ status: 400 });
    await expect(verify(`Bearer ${token}`, push(), { email: "", audience: AUDIENCE })).resolves.toMatchObject({
      reason: "invalid secret data: required field 'email' for GCR receiver",
    });
    await expect(verify(`Bearer ${token}`, push(), { email: EMAIL, audience: "" })).resolves.toMatchObject({
      reason: "invalid secret data: required field 'audience' for GCR receiver",
    });
  });

  it("refuses, with a genuine token, a body that does not decode as Flux decodes it", async () => {
    const auth = `Bearer ${await idToken()}`;
    const refused = { accept: false, status: 400, reason: "cannot decode GCR webhook body" };
    await expect(verify(auth, Buffer.from("not json"))).resolves.toEqual(refused);
    await expect(verify(auth, push("%%%"))).resolves.toEqual(refused);
    await expect(verify(auth, push(Buffer.from("{not json").toString("base64")))).resolves.toEqual(refused);
    await expect(verify(auth, push(Buffer.from('{"tag":1}').toString("base64")))).resolves.toEqual(refused);
    await expect(verify(auth, push(undefined, "yesterday"))).resolves.toEqual(refused);
    await expect(verify(auth, Buffer.from('{"message":{"data":7}}'))).resolves.toEqual(refused);
    // What Go accepts: trailing bytes after the envelope, keys in another case, a null event.
    await expect(verify(auth, Buffer.concat([push(), Buffer.from(" trailing")]))).resolves.toMatchObject({
      accept: true,
    });
    const upper = Buffer.from(JSON.stringify({ MESSAGE: { Data: Buffer.from("null").toString("base64") } }));
    await expect(verify(auth, upper)).resolves.toMatchObject({ accept: true });
  });

  it("fetches Google's keys once for many deliveries", async () => {
    const before = jwksRequests;
    for (let i = 0; i < 5; i++) await verify(`Bearer ${await idToken()}`);
    expect(jwksRequests - before).toBeLessThanOrEqual(1);
  });
});

describe("gcr Receiver from reconcile to delivery", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-gcr-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("publishes the Secret's email and audience; a genuine push enqueues its resources, a forged one nothing", async () => {
    // Prepare: the worker reconciles the Receiver with its Secret, the webhook reads the index it published
    const index = new FileReceiverIndex(dir);
    const secret = { token: "path-token", email: EMAIL, audience: AUDIENCE };
    const ports = {
      secrets: { secret: async () => secret, configMap: async () => undefined },
      clock: { now: () => Date.now() },
      receivers: index,
      settings: defaultSettings,
    } as unknown as ReconcilerPorts;
    const receiver: Receiver = {
      apiVersion: "notification.toolkit.fluxcd.io/v1",
      kind: "Receiver",
      metadata: { name: "gcr", namespace: "apps", generation: 1 },
      spec: {
        type: "gcr",
        secretRef: { name: "gcr-receiver" },
        resources: [{ kind: "ImageRepository", name: "app" }],
      },
    };
    const requests: ReconcileRequest[] = [];
    const webhook = {
      receivers: index,
      deliveries: new MemoryDeliveryLog({ now: () => Date.now() }),
      queue: { enqueue: async (request: ReconcileRequest) => void requests.push(request) },
      log: pino({ level: "silent" }),
      googleKeys: keys,
    };
    // Act
    const { status } = await reconcileReceiver(ports, receiver);
    const path = status.webhookPath!;
    const forged = await handleDelivery(
      webhook,
      path,
      { authorization: `Bearer ${await idToken({}, stranger)}` },
      push(),
    );
    const wrongAudience = await handleDelivery(
      webhook,
      path,
      { authorization: `Bearer ${await idToken({ aud: "other" })}` },
      push(),
    );
    const queuedAfterForgeries = requests.length;
    const genuine = await handleDelivery(webhook, path, { authorization: `Bearer ${await idToken()}` }, push());
    // Assess
    expect(forged.status).toBe(400);
    expect(wrongAudience.status).toBe(400);
    expect(queuedAfterForgeries).toBe(0);
    expect(genuine).toEqual({ status: 202, body: "reconcile requested for 1 resource(s)\n" });
    expect(requests.map((r) => r.key)).toEqual(["ImageRepository/apps/app"]);
  });
});
