import { connect, credsAuthenticator, type NatsConnection, type Subscription } from "nats";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { alert, event, harness, NS, provider, type Harness } from "./harness.js";

// The nats Provider type against the test bed's real nats-server, checked against
// notification-controller v1.9.3's nats.go: Flux's event JSON published on the subject spec.channel
// names, authenticated with the secret's `nkey` seed, or its username and password (Flux's order).
// An observer subscribed to every subject sees what was published.

const nats = inject("testbed").nats;
let observer: NatsConnection;
let subscription: Subscription;
let received: { subject: string; data: string }[];
let h: Harness;

beforeAll(async () => {
  observer = await connect({ servers: nats.url, user: nats.observer.user, pass: nats.observer.password });
  subscription = observer.subscribe(">", {
    // The server's own advisories ($SYS) are not deliveries.
    callback: (_error, message) =>
      void (message.subject.startsWith("$SYS.") || received.push({ subject: message.subject, data: message.string() })),
  });
  await observer.flush();
});
afterAll(async () => {
  subscription.unsubscribe();
  await observer.close();
});
beforeEach(async () => {
  received = [];
  h = await harness();
});

/** Waits until the observer's subscription has seen everything published before this call. */
async function settled() {
  const probe = await connect({ servers: nats.url, user: nats.observer.user, pass: nats.observer.password });
  await probe.flush();
  await probe.close();
  await observer.flush();
}

describe("nats Provider (the test bed's nats-server)", () => {
  it("publishes Flux's event JSON on spec.channel, signed in with the secret's username and password", async () => {
    h.secretData[`${NS}/nats`] = {
      address: nats.url,
      username: nats.publisher.user,
      password: nats.publisher.password,
    };
    await h.register(
      provider("nats", { type: "nats", channel: "flux.podinfo", secretRef: { name: "nats" } }),
      alert("all", "nats"),
    );
    await h.send(event({ metadata: { revision: "main@sha1:abc", summary: "prod" } }));
    await settled();
    expect(h.failures()).toEqual([]);
    expect(received).toHaveLength(1);
    expect(received[0]?.subject).toBe("flux.podinfo");
    // eventv1.Event as encoding/json writes it: Go's field order, whole seconds.
    expect(received[0]?.data).toBe(
      JSON.stringify({
        involvedObject: {
          kind: "Kustomization",
          namespace: NS,
          name: "podinfo",
          apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        },
        severity: "error",
        timestamp: "2026-12-01T10:00:00Z",
        message: "timeout waiting for: [Deployment/apps/podinfo]",
        reason: "HealthCheckFailed",
        metadata: { revision: "main@sha1:abc", summary: "prod" },
        reportingController: "kustomize-controller",
      }),
    );
  });

  it("the secret's nkey seed comes before its username and password (nats.go's order), with the address in spec.address", async () => {
    h.secretData[`${NS}/nats`] = { nkey: nats.nkeyUser.seed, username: "nobody", password: "wrong" };
    await h.register(
      provider("nats", { type: "nats", address: nats.url, channel: "deploys", secretRef: { name: "nats" } }),
      alert("all", "nats"),
    );
    await h.send(event());
    await settled();
    expect(h.failures()).toEqual([]);
    expect(received.map((m) => m.subject)).toEqual(["deploys"]);
  });

  it("the secret's creds (a user JWT and its NKey seed) come first: published to a server in operator mode, a subject outside the JWT's permissions refused", async () => {
    const watcher = await connect({
      servers: nats.operator.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(nats.operator.creds)),
    });
    const seen: string[] = [];
    // The creds user may publish on flux.> only; it subscribes to see the publish arrive.
    watcher.subscribe(">", { callback: (_e, m) => void seen.push(m.subject) });
    await watcher.flush();
    h.secretData[`${NS}/creds`] = { address: nats.operator.url, creds: nats.operator.creds, nkey: nats.nkeyUser.seed };
    await h.register(
      provider("creds", { type: "nats", channel: "flux.creds", secretRef: { name: "creds" } }),
      provider("outside", { type: "nats", channel: "ops.creds", secretRef: { name: "creds" } }),
      alert("creds", "creds"),
      alert("outside", "outside"),
    );
    await h.send(event());
    await watcher.flush();
    await watcher.close();
    expect(seen).toEqual(["flux.creds"]);
    expect(h.failures()).toEqual([
      expect.stringMatching(/subject ops\.creds: error publishing message to server: PERMISSIONS_VIOLATION/),
    ]);
    const written = JSON.stringify(h.recorded) + h.logs.join("");
    expect(written).not.toContain(nats.operator.creds.split("\n")[1]);
  });

  it("a subject the user may not publish on, or a wrong password, fails the delivery; no secret in the event or logs", async () => {
    h.secretData[`${NS}/allowed`] = {
      address: nats.url,
      username: nats.publisher.user,
      password: nats.publisher.password,
    };
    h.secretData[`${NS}/wrong`] = { address: nats.url, username: nats.publisher.user, password: "guessed-pass-31c7" };
    await h.register(
      provider("forbidden", { type: "nats", channel: "ops.alerts", secretRef: { name: "allowed" } }),
      provider("wrong", { type: "nats", channel: "flux.podinfo", secretRef: { name: "wrong" } }),
      alert("forbidden", "forbidden"),
      alert("wrong", "wrong"),
    );
    await h.send(event());
    await settled();
    expect(received).toEqual([]);
    expect(h.failures().sort()).toEqual([
      expect.stringMatching(
        /error publishing event to subject flux\.podinfo: error connecting to server: .*(AUTHORIZATION|Authorization)/,
      ),
      expect.stringMatching(
        /error publishing event to subject ops\.alerts: error publishing message to server: .*PERMISSIONS_VIOLATION/i,
      ),
    ]);
    const written = JSON.stringify(h.recorded) + h.logs.join("");
    for (const secret of [nats.publisher.password, "guessed-pass-31c7"]) expect(written).not.toContain(secret);
  });

  it("refuses what nats cannot use, naming the field: no subject, an http address, a proxy, certSecretRef; and the network guard's addresses", async () => {
    h.secretData[`${NS}/proxy`] = { address: "http://127.0.0.1:3128" };
    await h.register(
      provider("nosubject", { type: "nats", address: nats.url }),
      provider("http", { type: "nats", address: "http://127.0.0.1:4222", channel: "flux" }),
      provider("proxied", { type: "nats", address: nats.url, channel: "flux", proxySecretRef: { name: "proxy" } }),
      provider("tls", { type: "nats", address: nats.url, channel: "flux", certSecretRef: { name: "proxy" } }),
      provider("metadata", { type: "nats", address: "nats://169.254.169.254:4222", channel: "flux" }),
      ...["nosubject", "http", "proxied", "tls", "metadata"].map((name) => alert(name, name)),
    );
    await h.send(event());
    expect(h.failures().sort()).toEqual([
      expect.stringContaining("NATS subject (channel) cannot be empty: set spec.channel"),
      expect.stringContaining("a proxy does not apply to the nats type"),
      expect.stringMatching(/169\.254\.169\.254 is link-local\/metadata and never fetched/),
      expect.stringContaining("invalid address in spec.address: a NATS server is nats://host:port or tls://host:port"),
      expect.stringContaining("spec.certSecretRef does not apply to the nats type"),
    ]);
    const guarded = await harness({ allowPrivateNetworks: false });
    await guarded.register(
      provider("nats", { type: "nats", address: nats.url, channel: "flux" }),
      alert("all", "nats"),
    );
    await guarded.send(event());
    expect(guarded.failures()).toEqual([expect.stringMatching(/private address 127\.0\.0\.1 .*refused/)]);
  });
});
