import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { AlertingEvents } from "../../src/notify/alert-dispatch.js";
import type { Events, FluxEvent } from "../../src/notify/events.js";
import { CHAT_REQUESTS } from "../../src/notify/providers/chat.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Secrets } from "../../src/secrets/secrets.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore } from "../../src/store/objects.js";
import { recordingServer, type RecordingServer } from "./recording-server.js";

// Contract tests of the chat, alerting and observability Provider types: each type's request, as a
// loopback server records it, checked against the document that defines what the endpoint accepts
// (named in each test) and against notification-controller v1.9.3's notifier for the type
// (internal/notifier/<type>.go). A real Store on disk and a real HTTP server; Secrets in-process.

const NS = "apps";
const REVISION = "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
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

beforeEach(async () => {
  server = await recordingServer();
  store = new FileStore(await mkdtemp(join(tmpdir(), "sluice-providers-")));
  secretData = {};
  recorded = [];
  logs = [];
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
    network: { allowPrivateNetworks: true },
    noCrossNamespaceRefs: false,
  });
});
afterEach(async () => {
  await events.drain();
  await server.close();
});

/** A Provider `type` with `spec` and `secret` (when given), and an Alert sending it every Kustomization event. */
async function register(type: string, spec: Record<string, unknown>, secret?: Record<string, string>) {
  if (secret) secretData[`${NS}/${type}`] = secret;
  const objects: KubeObject[] = [
    {
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Provider",
      metadata: { name: type, namespace: NS },
      spec: { type, ...(secret && { secretRef: { name: type } }), ...spec },
    },
    {
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Alert",
      metadata: { name: type, namespace: NS },
      spec: { providerRef: { name: type }, eventSources: [{ kind: "Kustomization", name: "*" }] },
    },
  ];
  for (const object of objects) await applyToStore(store, object);
}

function event(overrides: Partial<FluxEvent> = {}): FluxEvent {
  return {
    involvedObject: {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      namespace: NS,
      name: "podinfo",
    },
    severity: "error",
    reason: "HealthCheckFailed",
    message: "timeout waiting for: [Deployment/apps/podinfo]",
    metadata: { revision: REVISION },
    reportingController: "kustomize-controller",
    timestamp: "2026-12-01T10:00:00.123Z",
    ...overrides,
  };
}
/** Emits each event and waits for its delivery before the next. */
async function send(...list: FluxEvent[]) {
  for (const e of list) {
    await events.emit(e);
    await events.drain();
  }
}
const bodyOf = (i = 0) => JSON.parse(server.requests[i]!.body.toString()) as unknown;
const failures = () => recorded.filter((e) => e.reason === "NotificationDispatchFailed").map((e) => e.message);
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("chat providers (contract tests against a loopback recording server)", () => {
  it("googlechat: a card with the object and controller, the message in red on error, the metadata as key/values (Google Chat 'Card messages' v1)", async () => {
    await register("googlechat", {}, { address: `${server.url}/v1/spaces/AAA/messages?key=k&token=t` });
    await send(event());
    expect(failures()).toEqual([]);
    expect(server.requests[0]?.path).toBe("/v1/spaces/AAA/messages?key=k&token=t");
    expect(bodyOf()).toEqual({
      cards: [
        {
          header: {
            title: `kustomization/podinfo.${NS}`,
            subtitle: "kustomize-controller",
            imageUrl: null,
            imageStyle: null,
          },
          sections: [
            {
              header: "",
              widgets: [
                {
                  textParagraph: {
                    text: '<font color="#ff0000">timeout waiting for: [Deployment/apps/podinfo]</font>',
                  },
                  keyValue: null,
                },
              ],
            },
            {
              header: "",
              widgets: [
                {
                  textParagraph: null,
                  keyValue: {
                    topLabel: "revision",
                    content: REVISION,
                    contentMultiline: false,
                    bottomLabel: null,
                    icon: null,
                  },
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it("rocket: Slack's attachment with Rocket.Chat's colours, channel and username (Rocket.Chat 'Incoming webhook' integration)", async () => {
    await register("rocket", { address: `${server.url}/hooks/abc`, channel: "#ops", username: "flux" });
    await send(event({ severity: "info", reason: "ReconciliationSucceeded", message: "ConfigMap/apps/x created" }));
    expect(bodyOf()).toEqual({
      channel: "#ops",
      username: "flux",
      icon_url: "",
      icon_emoji: "",
      attachments: [
        {
          fallback: "",
          color: "#0076D7",
          author_name: `kustomization/podinfo.${NS}`,
          text: "ConfigMap/apps/x created",
          mrkdwn_in: ["text"],
          fields: [{ title: "revision", value: REVISION, short: false }],
        },
      ],
    });
  });

  it("webex: markdown to the room in spec.channel with the bot token as Bearer (Webex 'Messages: Create a Message')", async () => {
    await register("webex", { address: `${server.url}/v1/messages`, channel: "room-1" }, { token: "webex-bot-token" });
    await send(event());
    expect(server.requests[0]?.headers.authorization).toBe("Bearer webex-bot-token");
    expect(bodyOf()).toEqual({
      roomId: "room-1",
      markdown: `💣 **kustomization/podinfo.${NS}**\ntimeout waiting for: [Deployment/apps/podinfo]\n>**revision**: ${REVISION}\n`,
    });
  });

  it("telegram: sendMessage on api.telegram.org with the token in the path, MarkdownV2 escaped, a forum topic from chat:thread (Telegram Bot API 'sendMessage', 'MarkdownV2 style')", () => {
    // Telegram's host is fixed (Flux ignores the address), so the request is checked as built, not sent.
    const request = CHAT_REQUESTS.telegram!(
      {
        type: "telegram",
        url: new URL("https://api.telegram.org"),
        token: "123:ABC",
        channel: "-100123:42",
        headers: {},
        timeoutMs: 15_000,
        secretValues: [],
      },
      event({ message: "a.b (c)" }),
    );
    expect(request.url.href).toBe("https://api.telegram.org/bot123:ABC/sendMessage");
    expect(JSON.parse(request.body.toString())).toEqual({
      chat_id: "-100123",
      message_thread_id: "42",
      text: `*🚨 kustomization/podinfo/${NS}*\na\\.b \\(c\\)\n\\- *revision*: main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567\n`,
      parse_mode: "MarkdownV2",
    });
  });

  it("matrix: a PUT of an m.text message to the room, transaction id from the event, token as Bearer (Matrix Client-Server API 'PUT /rooms/{roomId}/send/{eventType}/{txnId}')", async () => {
    await register("matrix", { address: server.url, channel: "!room:example.org" }, { token: "syt_matrix" });
    await send(event());
    const [request] = server.requests;
    expect(request?.method).toBe("PUT");
    expect(request?.path).toMatch(
      /^\/_matrix\/client\/r0\/rooms\/!room:example\.org\/send\/m\.room\.message\/[0-9a-f]{40}$/,
    );
    expect(request?.headers.authorization).toBe("Bearer syt_matrix");
    expect(bodyOf()).toEqual({
      body: `🚨 kustomization/podinfo.${NS}\ntimeout waiting for: [Deployment/apps/podinfo]\n- revision: ${REVISION}\n`,
      msgtype: "m.text",
    });
  });

  it("matrix: a room id that tries to leave its path segment stays inside it", async () => {
    await register("matrix", { address: server.url, channel: "../../admin?x=" }, { token: "syt_matrix" });
    await send(event());
    expect(server.requests[0]?.path).toMatch(/^\/_matrix\/client\/r0\/rooms\/\.\.%2F\.\.%2Fadmin%3Fx%3D\/send\//);
  });

  it("lark: an interactive card, red on error, the message in bold then the metadata (Lark 'Custom bot: message card')", async () => {
    await register("lark", { address: `${server.url}/open-apis/bot/v2/hook/abc` });
    await send(event());
    expect(bodyOf()).toEqual({
      msg_type: "interactive",
      card: {
        config: { wide_screen_mode: true },
        header: { title: { tag: "plain_text", content: `🚨 kustomization/podinfo.${NS}` }, template: "red" },
        elements: [
          {
            tag: "div",
            text: {
              tag: "lark_md",
              content: `**timeout waiting for: [Deployment/apps/podinfo]**\n\nrevision: ${REVISION}\n`,
            },
          },
        ],
      },
    });
  });

  it("zulip: a form-encoded stream message to <channel>/<topic> with basic auth (Zulip REST API 'Send a message')", async () => {
    await register(
      "zulip",
      { address: `${server.url}/ignored/path`, channel: "deploys/podinfo" },
      { username: "flux-bot@zulip.example", password: "zulip-key" },
    );
    await send(event());
    const [request] = server.requests;
    expect(request?.path).toBe("/api/v1/messages");
    expect(request?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(request?.headers.authorization).toBe(basic("flux-bot@zulip.example", "zulip-key"));
    expect(Object.fromEntries(new URLSearchParams(request!.body.toString()))).toEqual({
      content: `## Flux Status\n\n⚠️ Kustomization/${NS}/podinfo\n\ntimeout waiting for: [Deployment/apps/podinfo]\n\nMetadata:\n* \`revision\`: ${REVISION}\n`,
      to: "deploys",
      topic: "podinfo",
      type: "stream",
    });
  });
});

describe("alerting and observability providers", () => {
  it("opsgenie: Kind/name as the alert, the message as description, metadata and severity as details, GenieKey auth (Opsgenie Alert API 'Create alert')", async () => {
    await register("opsgenie", { address: `${server.url}/v2/alerts` }, { token: "genie-key" });
    await send(event());
    expect(server.requests[0]?.headers.authorization).toBe("GenieKey genie-key");
    expect(bodyOf()).toEqual({
      message: "Kustomization/podinfo",
      description: "timeout waiting for: [Deployment/apps/podinfo]",
      details: { revision: REVISION, severity: "error" },
    });
  });

  it("alertmanager: one firing alert, the event as labels, message and summary as annotations, basic auth (Alertmanager API v2 'postAlerts')", async () => {
    await register(
      "alertmanager",
      { address: `${server.url}/api/v2/alerts` },
      { username: "am", password: "am-pass", token: "ignored-when-basic" },
    );
    await send(event({ metadata: { revision: REVISION, summary: "prod cluster" } }));
    expect(server.requests[0]?.headers.authorization).toBe(basic("am", "am-pass"));
    expect(server.requests[0]?.body.toString()).toBe(
      JSON.stringify([
        {
          status: "firing",
          labels: {
            alertname: "FluxKustomizationHealthcheckfailed",
            kind: "Kustomization",
            name: "podinfo",
            namespace: NS,
            reason: "HealthCheckFailed",
            reportingcontroller: "kustomize-controller",
            revision: REVISION,
            severity: "error",
          },
          annotations: { message: "timeout waiting for: [Deployment/apps/podinfo]", summary: "prod cluster" },
          startsAt: "2026-12-01T10:00:00Z",
          endsAt: "0001-01-01T00:00:00Z",
        },
      ]),
    );
  });

  it("grafana: an annotation tagged flux, the controller, the metadata (':' as '|') and the object, token as Bearer (Grafana HTTP API 'Create Annotation in Graphite format')", async () => {
    await register("grafana", { address: `${server.url}/api/annotations/graphite` }, { token: "glsa_token" });
    await send(event());
    expect(server.requests[0]?.headers.authorization).toBe("Bearer glsa_token");
    expect(bodyOf()).toEqual({
      when: 1796119200,
      text: `kustomization/podinfo.${NS}`,
      tags: [
        "flux",
        "kustomize-controller",
        "revision: main@sha1|0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        "kind: Kustomization",
        "name: podinfo",
        `namespace: ${NS}`,
      ],
    });
  });

  it("datadog: an Events API v1 event on the address' host with DD-API-KEY, tags lower-cased (Datadog API 'Post an event')", async () => {
    await register("datadog", { address: `${server.url}/some/path` }, { token: "dd-key" });
    await send(event());
    const [request] = server.requests;
    expect(request?.path).toBe("/api/v1/events");
    expect(request?.headers["dd-api-key"]).toBe("dd-key");
    expect(bodyOf()).toEqual({
      alert_type: "error",
      date_happened: 1796119200,
      source_type_name: "fluxcd",
      tags: [
        "flux_reporting_controller:kustomize-controller",
        "flux_reason:healthcheckfailed",
        "kube_kind:kustomization",
        "kube_name:podinfo",
        `kube_namespace:${NS}`,
        `revision:${REVISION}`,
      ],
      text: "timeout waiting for: [Deployment/apps/podinfo]",
      title: `Events from the Kustomization podinfo/${NS}`,
    });
  });

  it("pagerduty: an error triggers an incident keyed by the object; a later success resolves it and is sent as a change event (PagerDuty Events API v2 'Send an alert event', 'Send a change event')", async () => {
    await register("pagerduty", { address: `${server.url}/ignored`, channel: "routing-key-1" });
    await send(
      event(),
      event({ severity: "info", reason: "ReconciliationSucceeded", message: "Deployment/apps/podinfo configured" }),
      event({ severity: "info", reason: "Progressing", message: "skipped" }),
    );
    expect(failures()).toEqual([]);
    expect(server.requests.map((r) => r.path)).toEqual(["/v2/enqueue", "/v2/enqueue", "/v2/change/enqueue"]);
    const trigger = bodyOf(0) as { dedup_key: string };
    expect(trigger).toEqual({
      routing_key: "routing-key-1",
      event_action: "trigger",
      dedup_key: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      payload: {
        summary: "health check failed: kustomization/podinfo",
        source: "Flux kustomize-controller",
        severity: "error",
        timestamp: "2026-12-01T10:00:00Z",
        component: "podinfo",
        group: "Kustomization",
        custom_details: { message: "timeout waiting for: [Deployment/apps/podinfo]", metadata: { revision: REVISION } },
      },
    });
    expect(bodyOf(1)).toEqual({ routing_key: "routing-key-1", event_action: "resolve", dedup_key: trigger.dedup_key });
    expect(bodyOf(2)).toEqual({
      routing_key: "routing-key-1",
      payload: {
        summary: "reconciliation succeeded: kustomization/podinfo",
        source: "Flux kustomize-controller",
        timestamp: "2026-12-01T10:00:00Z",
        custom_details: { message: "Deployment/apps/podinfo configured", metadata: { revision: REVISION } },
      },
    });
  });

  it("githubdispatch: a repository_dispatch typed Kind/name.namespace with the Flux event as client payload (GitHub REST API 'Create a repository dispatch event')", async () => {
    await register("githubdispatch", { address: `${server.url}/org/fleet` }, { token: "ghp_dispatch" });
    server.answer({ status: 204 });
    await send(event());
    const [request] = server.requests;
    expect([request?.method, request?.path]).toEqual(["POST", "/api/v3/repos/org/fleet/dispatches"]);
    expect(request?.headers.authorization).toBe("Bearer ghp_dispatch");
    expect(bodyOf()).toEqual({
      event_type: `Kustomization/podinfo.${NS}`,
      client_payload: {
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
        metadata: { revision: REVISION },
        reportingController: "kustomize-controller",
      },
    });
  });
});

describe("secrets of the new types", () => {
  it("a failing endpoint's error echoes neither the token nor the secret address' parts, in events or logs", async () => {
    const hook = `${server.url}/hooks/T0/B0/s3cr3t-path`;
    await register("opsgenie", {}, { address: hook, token: "genie-s3cr3t" });
    server.answer({ status: 400, body: `bad key genie-s3cr3t for ${hook}` });
    await send(event());
    const [failure] = failures();
    expect(failure).toContain("request failed with status code 400");
    for (const secret of ["genie-s3cr3t", "s3cr3t-path"]) {
      expect(failure).not.toContain(secret);
      expect(logs.join("")).not.toContain(secret);
    }
  });

  it("a type that needs a token fails naming it, before any request (opsgenie, datadog, telegram)", async () => {
    await register("opsgenie", { address: `${server.url}/v2/alerts` });
    await send(event());
    expect(server.requests).toEqual([]);
    expect(failures()).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: empty Opsgenie apikey/token`,
    ]);
  });
});

/** A Sentry envelope read as develop.sentry.dev/sdk/envelopes/ defines it: a header line, then items, each a header line and `length` bytes of payload ended by a newline. */
function sentryEnvelope(body: Buffer) {
  const end = body.indexOf(0x0a);
  const header = JSON.parse(body.subarray(0, end).toString()) as Record<string, unknown>;
  const items: { header: { type: string; length: number }; payload: Record<string, unknown> }[] = [];
  for (let at = end + 1; at < body.length;) {
    const headerEnd = body.indexOf(0x0a, at);
    const itemHeader = JSON.parse(body.subarray(at, headerEnd).toString()) as { type: string; length: number };
    const payload = body.subarray(headerEnd + 1, headerEnd + 1 + itemHeader.length);
    expect(body[headerEnd + 1 + itemHeader.length]).toBe(0x0a);
    items.push({ header: itemHeader, payload: JSON.parse(payload.toString()) as Record<string, unknown> });
    at = headerEnd + 2 + itemHeader.length;
  }
  return { header, items };
}

describe("sentry (Sentry 'Envelopes' develop.sentry.dev/sdk/envelopes/, 'Event Payloads' develop.sentry.dev/sdk/data-model/event-payloads/ and its 'Transaction' and 'Contexts' pages)", () => {
  const host = () => server.url.replace(/^http:\/\//, "");
  const processContexts = {
    device: { arch: process.arch, num_cpu: expect.any(Number) },
    os: { name: process.platform },
    runtime: { name: "node", version: process.versions.node },
  };
  const sdk = { name: "sentry.go", version: "0.46.2", packages: [{ name: "sentry-go", version: "0.46.2" }] };

  it("an error is an error event in an envelope to /api/<project>/envelope/, the DSN's key in X-Sentry-Auth, the channel as environment", async () => {
    await register("sentry", { channel: "production" }, { address: `http://0123abcd@${host()}/some/path/42` });
    const message = "timeout waiting for: [Deployment/apps/podinfo] — ünïcode 🚨";
    await send(event({ message, metadata: { revision: REVISION, summary: "prod" } }));
    expect(failures()).toEqual([]);
    const [request] = server.requests;
    expect([request?.method, request?.path]).toEqual(["POST", "/some/path/api/42/envelope/"]);
    expect(request?.headers["content-type"]).toBe("application/x-sentry-envelope");
    expect(request?.headers["user-agent"]).toBe("sentry.go/0.46.2");
    expect(request?.headers["x-sentry-auth"]).toBe(
      "Sentry sentry_version=7, sentry_client=sentry.go/0.46.2, sentry_key=0123abcd",
    );
    const { header, items } = sentryEnvelope(request!.body);
    expect(header).toEqual({
      event_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      sent_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/),
      dsn: `http://0123abcd@${host()}/some/path/42`,
      sdk,
    });
    expect(items).toHaveLength(1);
    expect(items[0]!.header).toEqual({ type: "event", length: expect.any(Number) });
    expect(items[0]!.payload).toEqual({
      environment: "production",
      event_id: header.event_id,
      level: "error",
      message,
      platform: "go",
      sdk,
      server_name: "kustomize-controller",
      timestamp: "2026-12-01T10:00:00Z",
      transaction: `Kustomization: ${NS}/podinfo`,
      contexts: { ...processContexts, metadata: { revision: REVISION, summary: "prod" } },
    });
  });

  it("an info event is a transaction of one span tagged with the object, the controller, the reason and the metadata; a secret key joins X-Sentry-Auth", async () => {
    await register("sentry", { address: `http://pub:sec@${host()}/7` });
    await send(event({ severity: "info", reason: "ReconciliationSucceeded", message: "applied" }));
    expect(failures()).toEqual([]);
    const [request] = server.requests;
    expect(request?.path).toBe("/api/7/envelope/");
    expect(request?.headers["x-sentry-auth"]).toBe(
      "Sentry sentry_version=7, sentry_client=sentry.go/0.46.2, sentry_key=pub, sentry_secret=sec",
    );
    const { header, items } = sentryEnvelope(request!.body);
    expect(header.dsn).toBe(`http://pub:sec@${host()}/7`);
    expect(items.map((i) => i.header.type)).toEqual(["transaction"]);
    const payload = items[0]!.payload as { contexts: { trace: { trace_id: string; span_id: string } } };
    const { trace_id, span_id } = payload.contexts.trace;
    expect(trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(span_id).toMatch(/^[0-9a-f]{16}$/);
    const tags = {
      flux_involved_object_kind: "Kustomization",
      flux_involved_object_name: "podinfo",
      flux_involved_object_namespace: NS,
      flux_reason: "ReconciliationSucceeded",
      flux_reporting_controller: "kustomize-controller",
      revision: REVISION,
    };
    const at = "2026-12-01T10:00:00Z";
    expect(payload).toEqual({
      event_id: header.event_id,
      level: "info",
      message: "applied",
      platform: "go",
      sdk,
      server_name: expect.any(String),
      timestamp: at,
      transaction: `Kustomization: ${NS}/podinfo`,
      type: "transaction",
      start_timestamp: at,
      spans: [{ trace_id, span_id, op: "event", start_timestamp: at, timestamp: at, origin: "manual", tags }],
      tags,
      contexts: { ...processContexts, trace: { op: "event", span_id, trace_id } },
    });
    expect(Object.keys(payload)).not.toContain("environment");
  });

  it("a failing endpoint's error echoes neither key, whether the DSN is in spec.address or the secret, in events or logs", async () => {
    const dsn = `http://f00dfeedpublic:5ecre7key@${host()}/3`;
    await register("sentry", { address: dsn });
    server.answer({ status: 403, body: `bad DSN ${dsn}: sentry_key=f00dfeedpublic, sentry_secret=5ecre7key` });
    await send(event());
    await register("sentry", { address: "" }, { address: dsn });
    server.answer({ status: 403, body: `bad DSN ${dsn}` });
    await send(event({ message: "another" })); // the same event again would be suppressed as a duplicate
    expect(server.requests).toHaveLength(2);
    expect(failures()).toHaveLength(2);
    for (const failure of failures()) expect(failure).toContain("request failed with status code 403");
    for (const secret of ["f00dfeedpublic", "5ecre7key"]) {
      expect(failures().join("")).not.toContain(secret);
      expect(logs.join("")).not.toContain(secret);
    }
  });

  it("a DSN without a project, without a key, or with a key that would break out of its header is refused before any request, naming neither", async () => {
    for (const [address, why] of [
      [`http://k3y@${host()}/`, "no project id"],
      [`http://${host()}/1`, "no public key"],
      [`http://k3y%0d%0aX-Injected:%20yes@${host()}/1`, "a key holds characters other than"],
      [`http://k3y:s%2Cx@${host()}/1`, "a key holds characters other than"],
    ] as const) {
      recorded.length = 0;
      await register("sentry", { address });
      await send(event({ message: `for ${why} ${address.length}` }));
      expect(failures()).toEqual([
        expect.stringContaining(
          `failed to send notification for Kustomization/${NS}/podinfo: invalid Sentry DSN in spec.address: ${why}`,
        ),
      ]);
      expect(failures()[0]).not.toContain("k3y");
    }
    expect(server.requests).toEqual([]);
  });
});
