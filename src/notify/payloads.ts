import { createHmac } from "node:crypto";
import type { FluxEvent } from "./events.js";
import type { ProviderEndpoint } from "./provider-endpoint.js";

// The requests notification-controller v1.9.3 sends for each provider type Sluice delivers to
// (internal/notifier/{forwarder,slack,discord,teams}.go): the same URL, headers and JSON, field for
// field and in Go's field order. Go ranges over metadata in random order; Sluice sorts it by key.

/** One request (a POST unless `method` says otherwise), ready to send. */
export interface ProviderRequest {
  method?: "GET" | "OPTIONS" | "PATCH" | "POST" | "PUT";
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
  /** Slack's Web API answers 200 with `{"ok": false}` on failure: the body decides. */
  checkSlackOk?: boolean;
}

/** The request a provider type makes of an event (already filtered and with its metadata combined). */
export function requestFor(endpoint: ProviderEndpoint, event: FluxEvent): ProviderRequest {
  switch (endpoint.type) {
    case "generic":
    case "generic-hmac":
      return forwarderRequest(endpoint, event);
    case "slack":
      return slackRequest(endpoint, event);
    case "discord":
      return discordRequest(endpoint, event);
    case "msteams":
      // teams.go: Office 365 connector addresses still get the MessageCard they were made for.
      return jsonRequest(
        endpoint.url,
        endpoint.url.hostname.endsWith(".webhook.office.com") ? msTeamsMessageCard(event) : msTeamsPayload(event),
      );
    default:
      throw new Error(`provider type ${endpoint.type} is not delivered by Sluice`);
  }
}

export function jsonRequest(url: URL, payload: unknown, headers: Record<string, string> = {}): ProviderRequest {
  return {
    url,
    headers: { "content-type": "application/json", ...headers },
    body: Buffer.from(JSON.stringify(payload)),
  };
}

/** Flux's eventv1.Event as JSON: the generic webhook's body, and what generic-hmac signs. */
export function fluxEventJson(event: FluxEvent): Record<string, unknown> {
  const { kind, namespace, name, apiVersion } = event.involvedObject;
  return {
    involvedObject: { kind, namespace, name, apiVersion },
    severity: event.severity,
    // metav1.Time marshals to whole seconds.
    timestamp: event.timestamp.replace(/\.\d+Z$/, "Z"),
    message: event.message,
    reason: event.reason,
    ...(Object.keys(event.metadata).length > 0 && { metadata: event.metadata }),
    reportingController: event.reportingController,
  };
}

/** forwarder.go: the event as JSON, `gotk-component`, the secret's headers, and X-Signature for generic-hmac. */
function forwarderRequest(endpoint: ProviderEndpoint, event: FluxEvent): ProviderRequest {
  const request = jsonRequest(endpoint.url, fluxEventJson(event), {
    "gotk-component": event.reportingController,
    ...lowerCased(endpoint.headers),
  });
  if (endpoint.type === "generic-hmac")
    request.headers["x-signature"] =
      `sha256=${createHmac("sha256", endpoint.token!).update(request.body).digest("hex")}`;
  return request;
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** `kustomization/podinfo.apps`, as every chat provider names the object. */
export function objectName(event: FluxEvent): string {
  const { kind, name, namespace } = event.involvedObject;
  return `${kind.toLowerCase()}/${name}.${namespace}`;
}

export function sortedMetadata(event: FluxEvent): [string, string][] {
  return Object.entries(event.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** SlackPayload with one attachment (slack.go; discord.go leaves fallback and channel empty). */
function slackPayload(event: FluxEvent, options: { channel?: string; username?: string; fallback: boolean }) {
  const author = objectName(event);
  return {
    channel: options.channel ?? "",
    username: options.username ?? event.reportingController,
    icon_url: "",
    icon_emoji: "",
    attachments: [
      {
        fallback: options.fallback ? `${author}: ${event.message.split("\n")[0]}` : "",
        color: event.severity === "error" ? "danger" : "good",
        author_name: author,
        text: event.message,
        mrkdwn_in: ["text"],
        fields: sortedMetadata(event).map(([title, value]) => ({ title, value, short: false })),
      },
    ],
  };
}

/** slack.go: an incoming webhook, or the Web API's chat.postMessage with the bot token as Bearer. */
function slackRequest(endpoint: ProviderEndpoint, event: FluxEvent): ProviderRequest {
  const payload = slackPayload(event, { channel: endpoint.channel, username: endpoint.username, fallback: true });
  const request = jsonRequest(
    endpoint.url,
    payload,
    endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {},
  );
  // Flux checks the answer only for https://slack.com/api/chat.postMessage; the path decides here, so a
  // Slack-compatible Web API (and the contract test's server) is checked the same way.
  return { ...request, checkSlackOk: endpoint.url.pathname === "/api/chat.postMessage" };
}

/** discord.go: Discord's Slack-compatible endpoint, the webhook URL + `/slack`. */
function discordRequest(endpoint: ProviderEndpoint, event: FluxEvent): ProviderRequest {
  const url = new URL(endpoint.url);
  if (!url.href.endsWith("/slack")) url.pathname = `${url.pathname.replace(/\/$/, "")}/slack`;
  return jsonRequest(url, slackPayload(event, { username: endpoint.username, fallback: false }));
}

/** teams.go's deprecated connector payload: a MessageCard, red on error, the metadata as facts. */
function msTeamsMessageCard(event: FluxEvent) {
  const name = objectName(event);
  return {
    "@type": "MessageCard",
    "@context": "http://schema.org/extensions",
    themeColor: event.severity === "error" ? "FF0000" : "0076D7",
    summary: name,
    sections: [
      {
        activityTitle: event.message,
        activitySubtitle: name,
        facts: sortedMetadata(event).map(([key, value]) => ({ name: key, value })),
      },
    ],
  };
}

/** teams.go's Adaptive Card (schema 1.4, full width): the object, the message (red on error), then the facts. */
function msTeamsPayload(event: FluxEvent) {
  const { summary, ...rest } = event.metadata;
  const facts = [
    ...(summary !== undefined ? [{ title: "summary", value: summary }] : []),
    ...sortedMetadata({ ...event, metadata: rest }).map(([title, value]) => ({ title, value })),
  ];
  return {
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
                { type: "TextBlock", text: objectName(event), size: "large", weight: "bolder", wrap: true },
                {
                  type: "TextBlock",
                  text: event.message,
                  ...(event.severity === "error" && { color: "attention" }),
                  wrap: true,
                },
                { type: "FactSet", ...(facts.length > 0 && { facts }) },
              ],
            },
          ],
          msteams: { width: "Full" },
        },
      },
    ],
  };
}
