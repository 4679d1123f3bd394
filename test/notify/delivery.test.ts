import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { AlertingEvents } from "../../src/notify/alert-dispatch.js";
import type { Events, FluxEvent } from "../../src/notify/events.js";
import { requestFor } from "../../src/notify/payloads.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Secrets } from "../../src/secrets/secrets.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore } from "../../src/store/objects.js";
import { recordingServer, type RecordingServer } from "./recording-server.js";

// Contract tests of local delivery: each provider type's request, as a loopback server records it,
// against the document that defines what the endpoint accepts and against notification-controller
// v1.9.3's notifier (internal/notifier/*.go); then filtering, metadata, duplicates, retries and
// secrets. A real Store on disk and a real HTTP server; only the Secrets are given in-process.

const NS = "apps";
let server: RecordingServer;
let store: FileStore;
let secretData: Record<string, Record<string, string>>;
let recorded: FluxEvent[];
let logs: string[];
let events: AlertingEvents;

const secrets: Secrets = {
  secret: async ({ namespace, name }) => secretData[`${namespace}/${name}`],
  configMap: async () => undefined,
};

function start(options: { allowPrivateNetworks?: boolean; noCrossNamespaceRefs?: boolean } = {}) {
  const sink: Events = { emit: async (e) => void recorded.push(e) };
  const log = pino(
    { level: "debug" },
    new Writable({ write: (c: Buffer, _e, done) => void (logs.push(c.toString()), done()) }),
  );
  events = new AlertingEvents(sink, {
    store,
    secrets,
    clock: systemClock,
    log,
    network: { allowPrivateNetworks: options.allowPrivateNetworks ?? true },
    noCrossNamespaceRefs: options.noCrossNamespaceRefs ?? false,
  });
}

beforeEach(async () => {
  server = await recordingServer();
  store = new FileStore(await mkdtemp(join(tmpdir(), "sluice-notify-")));
  secretData = {};
  recorded = [];
  logs = [];
  start();
});
afterEach(async () => {
  await events.drain();
  await server.close();
});

function provider(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Provider",
    metadata: { name, namespace: NS },
    spec,
  };
}
function alert(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Alert",
    metadata: { name, namespace: NS },
    spec: { eventSources: [{ kind: "Kustomization", name: "*" }], ...spec },
  };
}
async function register(...objects: KubeObject[]) {
  for (const object of objects) await applyToStore(store, object);
}

const REVISION = "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
function event(overrides: Partial<FluxEvent> = {}): FluxEvent {
  return {
    involvedObject: {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      namespace: NS,
      name: "podinfo",
    },
    severity: "error",
    reason: "BuildFailed",
    message: "kustomize build failed: accumulating resources: missing.yaml",
    metadata: { revision: REVISION },
    reportingController: "kustomize-controller",
    timestamp: "2026-12-01T10:00:00.123Z",
    ...overrides,
  };
}

/** Emits and waits for the deliveries it started. */
async function send(...list: FluxEvent[]) {
  for (const e of list) await events.emit(e);
  await events.drain();
}
const bodyOf = (i = 0) => JSON.parse(server.requests[i]!.body.toString()) as Record<string, unknown>;
const failures = () => recorded.filter((e) => e.reason === "NotificationDispatchFailed");

describe("provider payloads (contract tests against a loopback recording server)", () => {
  it("generic: POSTs Flux's event JSON with gotk-component and the secret's headers (Flux docs, Provider 'Generic webhook')", async () => {
    // Document: https://fluxcd.io/flux/components/notification/providers/#generic-webhook
    secretData[`${NS}/hook`] = {
      address: `${server.url}/flux`,
      headers: "X-Team: platform\nAuthorization: Bearer abc",
    };
    await register(
      provider("hook", { type: "generic", secretRef: { name: "hook" } }),
      alert("all", { providerRef: { name: "hook" } }),
    );
    await send(event());
    const [request] = server.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/flux");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["gotk-component"]).toBe("kustomize-controller");
    expect(request?.headers["x-team"]).toBe("platform");
    expect(request?.headers.authorization).toBe("Bearer abc");
    expect(bodyOf()).toEqual({
      involvedObject: {
        kind: "Kustomization",
        namespace: NS,
        name: "podinfo",
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      },
      severity: "error",
      timestamp: "2026-12-01T10:00:00Z",
      message: "kustomize build failed: accumulating resources: missing.yaml",
      reason: "BuildFailed",
      metadata: { revision: REVISION },
      reportingController: "kustomize-controller",
    });
  });

  it("generic-hmac: X-Signature is sha256=<hex HMAC-SHA256 of the raw body> keyed by the secret's token (Flux docs, 'Generic webhook with HMAC')", async () => {
    // Document: https://fluxcd.io/flux/components/notification/providers/#generic-webhook-with-hmac
    secretData[`${NS}/hmac`] = { token: "hmac-key-123" };
    await register(
      provider("hmac", { type: "generic-hmac", address: server.url, secretRef: { name: "hmac" } }),
      alert("all", { providerRef: { name: "hmac" } }),
    );
    await send(event());
    const [request] = server.requests;
    const expected = createHmac("sha256", "hmac-key-123").update(request!.body).digest("hex");
    expect(request?.headers["x-signature"]).toBe(`sha256=${expected}`);
  });

  it("slack (incoming webhook): one attachment, danger on error, the revision as a field (Slack 'Sending messages using incoming webhooks', legacy attachments)", async () => {
    // Document: https://api.slack.com/messaging/webhooks and https://api.slack.com/reference/messaging/attachments
    secretData[`${NS}/slack`] = { address: `${server.url}/services/T000/B000/XXXX` };
    await register(
      provider("slack", { type: "slack", channel: "general", secretRef: { name: "slack" } }),
      alert("all", { providerRef: { name: "slack" } }),
    );
    await send(event());
    expect(server.requests[0]?.path).toBe("/services/T000/B000/XXXX");
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    expect(bodyOf()).toEqual({
      channel: "general",
      username: "kustomize-controller",
      icon_url: "",
      icon_emoji: "",
      attachments: [
        {
          fallback: "kustomization/podinfo.apps: kustomize build failed: accumulating resources: missing.yaml",
          color: "danger",
          author_name: "kustomization/podinfo.apps",
          text: "kustomize build failed: accumulating resources: missing.yaml",
          mrkdwn_in: ["text"],
          fields: [{ title: "revision", value: REVISION, short: false }],
        },
      ],
    });
  });

  it("slack (bot token): Bearer token to chat.postMessage, and an answer of ok:false fails naming Slack's error (Slack Web API chat.postMessage)", async () => {
    // Document: https://api.slack.com/methods/chat.postMessage
    secretData[`${NS}/bot`] = { token: "xoxb-secret-bot-token" };
    await register(
      provider("bot", {
        type: "slack",
        channel: "C123",
        address: `${server.url}/api/chat.postMessage`,
        secretRef: { name: "bot" },
      }),
      alert("all", { providerRef: { name: "bot" } }),
    );
    server.answer({
      status: 200,
      headers: { "content-type": "application/json" },
      body: '{"ok":false,"error":"channel_not_found"}',
    });
    await send(event());
    expect(server.requests[0]?.headers.authorization).toBe("Bearer xoxb-secret-bot-token");
    expect(bodyOf()).toMatchObject({ channel: "C123" });
    expect(failures().map((e) => e.message)).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: Slack responded with error: channel_not_found`,
    ]);
    expect(failures()[0]?.involvedObject).toMatchObject({ kind: "Alert", name: "all" });
  });

  it("msteams: the Adaptive Card 1.4 Flux sends to a Teams workflow, summary first then sorted facts (Microsoft 'Adaptive Card' reference)", async () => {
    // Document: https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#adaptive-card
    await register(
      provider("teams", { type: "msteams", address: `${server.url}/workflows/abc` }),
      alert("all", { providerRef: { name: "teams" }, eventMetadata: { summary: "prod eu-1", cluster: "eu-1" } }),
    );
    await send(event());
    expect(bodyOf()).toEqual({
      type: "message",
      attachments: [
        {
          contentType: "application/vnd.microsoft.card.adaptive",
          content: {
            $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
            type: "AdaptiveCard",
            version: "1.4",
            body: [
              {
                type: "Container",
                items: [
                  {
                    type: "TextBlock",
                    text: "kustomization/podinfo.apps",
                    size: "large",
                    weight: "bolder",
                    wrap: true,
                  },
                  {
                    type: "TextBlock",
                    text: "kustomize build failed: accumulating resources: missing.yaml",
                    color: "attention",
                    wrap: true,
                  },
                  {
                    type: "FactSet",
                    facts: [
                      { title: "summary", value: "prod eu-1" },
                      { title: "cluster", value: "eu-1" },
                      { title: "revision", value: REVISION },
                    ],
                  },
                ],
              },
            ],
            msteams: { width: "Full" },
          },
        },
      ],
    });
  });

  it("msteams to an Office 365 connector address (*.webhook.office.com): the MessageCard Flux still sends there (Microsoft 'Legacy actionable message card reference')", () => {
    // Document: https://learn.microsoft.com/en-us/outlook/actionable-messages/message-card-reference
    // No loopback server answers for office.com: the request is built, not sent.
    const url = new URL("https://contoso.webhook.office.com/webhookb2/abc");
    const request = requestFor({ type: "msteams", url, headers: {}, timeoutMs: 15_000, secretValues: [] }, event());
    expect(request.url.href).toBe(url.href);
    expect(JSON.parse(request.body.toString())).toEqual({
      "@type": "MessageCard",
      "@context": "http://schema.org/extensions",
      themeColor: "FF0000",
      summary: "kustomization/podinfo.apps",
      sections: [
        {
          activityTitle: "kustomize build failed: accumulating resources: missing.yaml",
          activitySubtitle: "kustomization/podinfo.apps",
          facts: [{ name: "revision", value: REVISION }],
        },
      ],
    });
  });

  it("discord: the Slack-compatible payload to the webhook URL + /slack (Discord 'Execute Slack-Compatible Webhook')", async () => {
    // Document: https://discord.com/developers/docs/resources/webhook#execute-slackcompatible-webhook
    secretData[`${NS}/discord`] = { address: `${server.url}/api/webhooks/123/abc` };
    await register(
      provider("discord", { type: "discord", username: "flux", secretRef: { name: "discord" } }),
      alert("all", { providerRef: { name: "discord" } }),
    );
    await send(event({ severity: "info", reason: "ReconciliationSucceeded", message: "Reconciliation finished" }));
    expect(server.requests[0]?.path).toBe("/api/webhooks/123/abc/slack");
    expect(bodyOf()).toMatchObject({
      channel: "",
      username: "flux",
      attachments: [
        { fallback: "", color: "good", author_name: "kustomization/podinfo.apps", text: "Reconciliation finished" },
      ],
    });
  });
});

describe("which Alerts take an event, and what they send", () => {
  beforeEach(async () => {
    await register(provider("hook", { type: "generic", address: server.url }));
  });

  it("an error-only Alert ignores info events; an info Alert takes both", async () => {
    await register(
      alert("errors", { providerRef: { name: "hook" }, eventSeverity: "error", eventMetadata: { alert: "errors" } }),
    );
    await register(alert("everything", { providerRef: { name: "hook" }, eventMetadata: { alert: "everything" } }));
    await send(event({ severity: "info", message: "applied" }), event({ severity: "error", message: "broken" }));
    const sent = server.requests.map(
      (_, i) => `${(bodyOf(i).metadata as Record<string, string>).alert} ${String(bodyOf(i).message)}`,
    );
    expect(sent.sort()).toEqual(["errors broken", "everything applied", "everything broken"]);
  });

  it("the exclusion list drops a message even when the inclusion list takes it", async () => {
    await register(
      alert("filtered", { providerRef: { name: "hook" }, inclusionList: ["^Health"], exclusionList: ["timeout"] }),
    );
    await send(
      event({ message: "Health check failed: timeout waiting for rollout" }),
      event({ message: "Health check failed: Deployment/apps/web Failed" }),
      event({ message: "kustomize build failed" }),
    );
    expect(server.requests.map((_, i) => bodyOf(i).message)).toEqual([
      "Health check failed: Deployment/apps/web Failed",
    ]);
  });

  it("sources match by name, or by `*` with matchLabels of the stored object, in the Alert's namespace unless one is named", async () => {
    await register(
      alert("labelled", {
        providerRef: { name: "hook" },
        eventSources: [{ kind: "Kustomization", name: "*", matchLabels: { team: "web" } }],
      }),
      {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name: "web", namespace: NS, labels: { team: "web" } },
        spec: {},
      },
      {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name: "db", namespace: NS, labels: { team: "db" } },
        spec: {},
      },
    );
    const about = (name: string, namespace = NS) =>
      event({ message: `about ${namespace}/${name}`, involvedObject: { ...event().involvedObject, name, namespace } });
    await send(about("web"), about("db"), about("web", "other"));
    expect(server.requests.map((_, i) => bodyOf(i).message)).toEqual([`about ${NS}/web`]);
  });

  it("metadata: the Alert's eventMetadata, then summary, then the controller's own, which wins", async () => {
    await register(
      alert("meta", {
        providerRef: { name: "hook" },
        eventMetadata: { env: "prod", summary: "from eventMetadata", revision: "from the alert" },
        summary: "from summary",
      }),
    );
    await send(event());
    expect(bodyOf().metadata).toEqual({ env: "prod", summary: "from summary", revision: REVISION });
  });

  it("the same object, message and revision is sent once in 5 minutes; a new revision is sent again", async () => {
    await register(alert("all", { providerRef: { name: "hook" } }));
    await send(event(), event(), event({ metadata: { revision: "main@sha1:ffff" } }));
    // Deliveries run concurrently: the two may arrive in either order.
    const revisions = server.requests.map((_, i) => (bodyOf(i).metadata as Record<string, string>).revision);
    expect(revisions.sort()).toEqual([REVISION, "main@sha1:ffff"].sort());
  });

  it("under noCrossNamespaceRefs an Alert naming another namespace's objects is refused on the Alert, and sends nothing", async () => {
    start({ noCrossNamespaceRefs: true });
    await register(
      alert("elsewhere", {
        providerRef: { name: "hook" },
        eventSources: [{ kind: "Kustomization", name: "*", namespace: "other" }],
      }),
    );
    await send(event({ involvedObject: { ...event().involvedObject, namespace: "other" } }));
    expect(server.requests).toEqual([]);
    expect(failures().map((e) => e.message)).toEqual([
      `discarding event, access denied to cross-namespace sources: alert '${NS}/elsewhere' can't process event from 'Kustomization/other/podinfo', cross-namespace references have been blocked`,
    ]);
  });

  it("a metadata key given by both the Alert and the controller is reported on the Alert (MetadataAppendFailed), the controller's value sent", async () => {
    await register(alert("meta", { providerRef: { name: "hook" }, eventMetadata: { revision: "mine" } }));
    await send(event());
    expect((bodyOf().metadata as Record<string, string>).revision).toBe(REVISION);
    expect(recorded.filter((e) => e.reason === "MetadataAppendFailed").map((e) => e.message)).toEqual([
      "metadata key conflicts detected (please refer to the Alert API docs and Flux RFC 0008 for more information): revision",
    ]);
  });

  it("a suspended Alert or Provider sends nothing", async () => {
    await register(
      alert("quiet", { providerRef: { name: "hook" }, suspend: true }),
      provider("paused", { type: "generic", address: server.url, suspend: true }),
      alert("to-paused", { providerRef: { name: "paused" } }),
    );
    await send(event());
    expect(server.requests).toEqual([]);
    expect(failures()).toEqual([]);
  });
});

describe("delivery: non-blocking, retried, bounded, secrets kept out", () => {
  beforeEach(async () => {
    await register(alert("all", { providerRef: { name: "hook" } }));
  });

  it("an endpoint answering 500 then 200 gets the notification delivered once, after Flux's 2 s backoff", async () => {
    await register(provider("hook", { type: "generic", address: server.url }));
    server.answer({ status: 500, body: "try later" });
    await send(event());
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(1_900);
    expect(failures()).toEqual([]);
  });

  it("a 429 with Retry-After is retried after the time it asks for, not the default backoff", async () => {
    await register(provider("hook", { type: "generic", address: server.url }));
    server.answer({ status: 429, headers: { "retry-after": "3" } });
    await send(event());
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(2_900);
    expect(failures()).toEqual([]);
  });

  it("a 400 is not retried and is reported on the Alert; a timeout bounds an endpoint that keeps failing", async () => {
    await register(provider("hook", { type: "generic", address: server.url, timeout: "3s" }));
    server.answer({ status: 400, body: "bad payload" });
    await send(event());
    expect(server.requests).toHaveLength(1);
    expect(failures().map((e) => e.message)).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: request failed with status code 400: bad payload`,
    ]);
    server.answer(...Array.from({ length: 10 }, () => ({ status: 503, body: "down" })));
    const started = Date.now();
    await send(event({ message: "again" }));
    expect(Date.now() - started).toBeLessThan(3_500);
    expect(server.requests.length).toBeLessThanOrEqual(3);
    expect(failures()).toHaveLength(2);
  });

  it("emit returns before a slow endpoint answers: a reconcile is never held by delivery", async () => {
    await register(provider("hook", { type: "generic", address: server.url }));
    server.answer({ status: 200, delayMs: 2_000 });
    const started = Date.now();
    await events.emit(event());
    expect(Date.now() - started).toBeLessThan(1_500); // the endpoint takes 2 s; headroom for a loaded machine
    await events.drain();
    expect(server.requests).toHaveLength(1);
  });

  it("a Slack webhook URL and tokens never reach logs or events, even when the endpoint echoes them", async () => {
    const webhook = `${server.url}/services/T000/B000/very-secret-path`;
    secretData[`${NS}/hook`] = { address: webhook, token: "xoxb-echoed-token" };
    server.answer(
      ...Array.from({ length: 5 }, () => ({ status: 502, body: `upstream ${webhook} said no to xoxb-echoed-token` })),
    );
    await register(provider("hook", { type: "slack", secretRef: { name: "hook" }, timeout: "2500ms" }));
    await send(event());
    const written = [...logs, ...recorded.map((e) => JSON.stringify(e))].join("\n");
    expect(failures()).toHaveLength(1);
    expect(written).toContain("request failed with status code 502");
    expect(written).not.toContain("very-secret-path");
    expect(written).not.toContain("xoxb-echoed-token");
  });

  it("certSecretRef: an https endpoint (a webhook, a Sentry DSN) is trusted through the secret's ca.crt, and refused without it", async () => {
    // Prepare: a self-signed certificate for 127.0.0.1, and a server presenting it
    const dir = await mkdtemp(join(tmpdir(), "sluice-notify-pki-"));
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ]);
    const pem = {
      cert: await readFile(join(dir, "cert.pem"), "utf8"),
      key: await readFile(join(dir, "key.pem"), "utf8"),
    };
    const tls = await recordingServer(pem);
    try {
      secretData[`${NS}/ca`] = { "ca.crt": pem.cert };
      await register(
        provider("trusting", { type: "generic", address: `${tls.url}/trusted`, certSecretRef: { name: "ca" } }),
        provider("hook", { type: "generic", address: `${tls.url}/untrusted`, timeout: "1s" }),
        alert("trusted", { providerRef: { name: "trusting" } }),
        provider("sentry", {
          type: "sentry",
          address: `${tls.url.replace("https://", "https://k3y@")}/5`,
          certSecretRef: { name: "ca" },
        }),
        alert("sentry", { providerRef: { name: "sentry" } }),
      );
      // Act
      const started = Date.now();
      await send(event());
      // Assess
      expect(tls.requests.map((r) => r.path).sort()).toEqual(["/api/5/envelope/", "/trusted"]);
      expect(Date.now() - started, "an untrusted certificate is not retried").toBeLessThan(1_800); // first retry: 2 s
      expect(failures().map((e) => e.message)).toEqual([
        expect.stringMatching(
          /failed to send notification for Kustomization\/apps\/podinfo: .*(self[- ]signed|unable to verify|certificate)/i,
        ),
      ]);
    } finally {
      await tls.close();
    }
  });

  it("a Provider address on loopback is refused when private networks are not allowed (the network guard)", async () => {
    start({ allowPrivateNetworks: false });
    await register(provider("hook", { type: "generic", address: server.url, timeout: "3s" }));
    const started = Date.now();
    await send(event());
    expect(Date.now() - started, "a refused address is not retried").toBeLessThan(1_800); // first retry: 2 s
    expect(server.requests).toEqual([]);
    expect(failures()[0]?.message).toMatch(/private address 127\.0\.0\.1 .*refused/);
  });
});
