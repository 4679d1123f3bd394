import { createHash } from "node:crypto";
import type { FluxEvent } from "../events.js";
import { fluxEventJson, jsonRequest, objectName, sortedMetadata, type ProviderRequest } from "../payloads.js";
import { PostError } from "../post.js";
import type { ProviderEndpoint } from "../provider-endpoint.js";
import { basicAuth } from "./answers.js";
import { markdownPost } from "./forge-api.js";

// Chat providers beyond Slack, Teams and Discord, as notification-controller v1.9.3 builds their
// requests (internal/notifier/{google_chat,rocket,webex,telegram,matrix,lark,zulip,markdown}.go).
// Go ranges over metadata in random order; Sluice sorts it by key.

type Build = (endpoint: ProviderEndpoint, event: FluxEvent) => ProviderRequest;

/** google_chat.go: a card headed by the object and its controller, the message (red on error), the metadata as key/values. */
const googlechat: Build = (endpoint, event) => {
  const text = event.severity === "error" ? `<font color="#ff0000">${event.message}</font>` : event.message;
  const widget = (fields: { textParagraph?: { text: string }; keyValue?: Record<string, unknown> }) => ({
    textParagraph: fields.textParagraph ?? null,
    keyValue: fields.keyValue ?? null,
  });
  const metadata = sortedMetadata(event);
  const sections = [
    { header: "", widgets: [widget({ textParagraph: { text } })] },
    ...(metadata.length > 0
      ? [
          {
            header: "",
            widgets: metadata.map(([topLabel, content]) =>
              widget({ keyValue: { topLabel, content, contentMultiline: false, bottomLabel: null, icon: null } }),
            ),
          },
        ]
      : []),
  ];
  return jsonRequest(endpoint.url, {
    cards: [
      {
        header: { title: objectName(event), subtitle: event.reportingController, imageUrl: null, imageStyle: null },
        sections,
      },
    ],
  });
};

/** rocket.go: Slack's payload with Rocket.Chat's colours and no fallback. */
const rocket: Build = (endpoint, event) =>
  jsonRequest(endpoint.url, {
    channel: endpoint.channel ?? "",
    username: endpoint.username ?? "",
    icon_url: "",
    icon_emoji: "",
    attachments: [
      {
        fallback: "",
        color: event.severity === "error" ? "#FF0000" : "#0076D7",
        author_name: objectName(event),
        text: event.message,
        mrkdwn_in: ["text"],
        fields: sortedMetadata(event).map(([title, value]) => ({ title, value, short: false })),
      },
    ],
  });

/** webex.go: markdown to the room in `channel`, the token as Bearer. */
const webex: Build = (endpoint, event) => {
  const lines = [
    `${event.severity === "error" ? "💣" : "✅"} **${objectName(event)}**`,
    event.message,
    ...sortedMetadata(event).map(([key, value]) => `>**${key}**: ${value}`),
  ];
  return jsonRequest(
    endpoint.url,
    { ...(endpoint.channel && { roomId: endpoint.channel }), markdown: `${lines.join("\n")}\n` },
    { authorization: `Bearer ${endpoint.token ?? ""}` },
  );
};

/** Telegram's MarkdownV2 escapes (telegram.go's escapeString). */
function telegramEscape(text: string): string {
  return text.replace(/[\\.\-_[\]()~>`#+=|{}!*]/g, (c) => `\\${c}`);
}

/**
 * telegram.go: the Bot API's sendMessage on api.telegram.org (the address is not used), the token in
 * the path; `channel` is the chat id, `<chat>:<thread>` for a forum topic.
 */
const telegram: Build = (endpoint, event) => {
  if (!endpoint.channel) throw new PostError("empty Telegram channel");
  if (!endpoint.token) throw new PostError("empty Telegram token");
  const { kind, name, namespace } = event.involvedObject;
  const heading = `${event.severity === "error" ? "🚨" : "💫"} ${kind.toLowerCase()}/${name}/${namespace}`;
  const metadata = sortedMetadata(event)
    .map(([key, value]) => `\\- *${telegramEscape(key)}*: ${telegramEscape(value)}\n`)
    .join("");
  const [chat = "", thread] = endpoint.channel.split(/:(.*)/s);
  return jsonRequest(new URL(`https://api.telegram.org/bot${endpoint.token}/sendMessage`), {
    chat_id: chat,
    ...(thread && { message_thread_id: thread }),
    text: `*${telegramEscape(heading)}*\n${telegramEscape(event.message)}\n${metadata}`,
    parse_mode: "MarkdownV2",
  });
};

/** matrix.go: a PUT of an m.text message to the room in `channel`, the transaction id the sha1 of the event's JSON. */
const matrix: Build = (endpoint, event) => {
  const transaction = createHash("sha1")
    .update(JSON.stringify(fluxEventJson(event)))
    .digest("hex");
  // The room id (`!room:server`) stays readable; anything that could leave the path segment is escaped.
  const room = encodeURIComponent(endpoint.channel ?? "").replaceAll("%3A", ":");
  const url = new URL(
    `${endpoint.url.href.replace(/\/$/, "")}/_matrix/client/r0/rooms/${room}/send/m.room.message/${transaction}`,
  );
  const heading = `${event.severity === "error" ? "🚨" : "💫"} ${objectName(event)}`;
  const metadata = sortedMetadata(event)
    .map(([key, value]) => `- ${key}: ${value}\n`)
    .join("");
  return {
    ...jsonRequest(url, { body: `${heading}\n${event.message}\n${metadata}`, msgtype: "m.text" }),
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${endpoint.token ?? ""}` },
  };
};

/** lark.go: an interactive card, turquoise or red, the message in bold then the metadata. */
const lark: Build = (endpoint, event) => {
  const error = event.severity === "error";
  const content = `**${event.message}**\n\n${sortedMetadata(event)
    .map(([key, value]) => `${key}: ${value}\n`)
    .join("")}`;
  return jsonRequest(endpoint.url, {
    msg_type: "interactive",
    card: {
      config: { wide_screen_mode: true },
      header: {
        title: { tag: "plain_text", content: `${error ? "🚨" : "💫"} ${objectName(event)}` },
        template: error ? "red" : "turquoise",
      },
      elements: [{ tag: "div", text: { tag: "lark_md", content } }],
    },
  });
};

/** zulip.go: a stream message (form-encoded) to `<channel>/<topic>`, basic auth, Flux's markdown post. */
const zulip: Build = (endpoint, event) => {
  const [channel, topic] = (endpoint.channel ?? "").split(/\/(.*)/s);
  if (!channel || !topic)
    throw new PostError(`invalid Zulip channel format, expected <channel>/<topic>, got '${endpoint.channel ?? ""}'`);
  const url = new URL(endpoint.url);
  url.pathname = "/api/v1/messages";
  const content = markdownPost(event);
  // url.Values.Encode: keys sorted, spaces as +.
  const body = new URLSearchParams([
    ["content", content],
    ["to", channel],
    ["topic", topic],
    ["type", "stream"],
  ]).toString();
  return {
    url,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...((endpoint.username || endpoint.password) && {
        authorization: basicAuth(endpoint.username ?? "", endpoint.password ?? ""),
      }),
    },
    body: Buffer.from(body),
  };
};

/** The chat types of this module, each one request. */
export const CHAT_REQUESTS: Record<string, Build> = { googlechat, rocket, webex, telegram, matrix, lark, zulip };
