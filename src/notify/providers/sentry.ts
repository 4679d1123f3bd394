import { randomBytes, randomUUID } from "node:crypto";
import { availableParallelism, hostname } from "node:os";
import type { FluxEvent } from "../events.js";
import { sortedMetadata, type ProviderRequest } from "../payloads.js";
import { PostError } from "../post.js";
import type { ProviderEndpoint } from "../provider-endpoint.js";
import { parseSentryDsn, type SentryDsn } from "../sentry-dsn.js";
import { seconds } from "./incident.js";

// The `sentry` type, as notification-controller v1.9.3 sends it (internal/notifier/sentry.go through
// getsentry/sentry-go v0.46.2): one envelope per event POSTed to the DSN's project, an error as an
// error event, an info event as a transaction of one span tagged with the object. `channel` is the
// environment. Flux's SDK identifies itself as sentry.go and Sluice keeps that identity (as its other
// types keep their SDK's User-Agent); what describes the sending process (runtime, OS) is Sluice's own.
// Flux's client posts in the background and never learns the answer; Sluice waits for it and retries.

const SDK_NAME = "sentry.go";
const SDK_VERSION = "0.46.2";
const SDK = { name: SDK_NAME, version: SDK_VERSION, packages: [{ name: "sentry-go", version: SDK_VERSION }] };

/** sentry.go's eventSummary: `Kind: namespace/name`, the event's transaction name. */
function summary(event: FluxEvent): string {
  const { kind, namespace, name } = event.involvedObject;
  return `${kind}: ${namespace}/${name}`;
}

/** What sentry-go's Environment integration adds: the sending process' device, OS and runtime. */
function processContexts() {
  return {
    device: { arch: process.arch, num_cpu: availableParallelism() },
    os: { name: process.platform },
    runtime: { name: "node", version: process.versions.node },
  };
}

/** The fields sentry-go's client sets on every event, the environment from the Provider's channel. */
function common(endpoint: ProviderEndpoint) {
  return {
    ...(endpoint.channel && { environment: endpoint.channel }),
    // A uuid4 as 32 lower-case hex digits, the form Sentry requires.
    event_id: randomUUID().replaceAll("-", ""),
  };
}

/** sentry.go's toSentryEvent: the message at level error, the controller as server, the metadata as a context. */
function errorEvent(endpoint: ProviderEndpoint, event: FluxEvent) {
  const { device, os, runtime } = processContexts();
  return {
    ...common(endpoint),
    level: "error",
    message: event.message,
    platform: "go",
    sdk: SDK,
    server_name: event.reportingController,
    timestamp: seconds(event),
    transaction: summary(event),
    contexts: { device, metadata: Object.fromEntries(sortedMetadata(event)), os, runtime },
  };
}

/**
 * sentry.go's eventToSpan: a transaction of one instant (start = end = the event's time) whose span,
 * op `event`, is tagged with the object, controller and reason, then the metadata (which wins). Flux
 * also tags the reporting instance (the emitting pod): Sluice's events carry none.
 */
function transaction(endpoint: ProviderEndpoint, event: FluxEvent) {
  const { kind, namespace, name } = event.involvedObject;
  const tags = Object.fromEntries(
    Object.entries({
      flux_involved_object_kind: kind,
      flux_involved_object_namespace: namespace,
      flux_involved_object_name: name,
      flux_reporting_controller: event.reportingController,
      flux_reason: event.reason,
      ...event.metadata,
    }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const at = seconds(event);
  const trace = { op: "event", span_id: randomBytes(8).toString("hex"), trace_id: randomBytes(16).toString("hex") };
  return {
    ...common(endpoint),
    level: "info",
    message: event.message,
    platform: "go",
    sdk: SDK,
    // sentry-go's default: the sending host.
    server_name: hostname(),
    timestamp: at,
    transaction: summary(event),
    type: "transaction",
    start_timestamp: at,
    spans: [
      {
        trace_id: trace.trace_id,
        span_id: trace.span_id,
        op: "event",
        start_timestamp: at,
        timestamp: at,
        origin: "manual",
        tags,
      },
    ],
    tags,
    contexts: { ...processContexts(), trace },
  };
}

/** The envelope (develop.sentry.dev/sdk/envelopes/): its header, then the item's header and payload, each line ended. */
function envelope(dsn: SentryDsn, item: { type: "event" | "transaction"; payload: { event_id: string } }): Buffer {
  const payload = Buffer.from(JSON.stringify(item.payload));
  const header = { event_id: item.payload.event_id, sent_at: new Date().toISOString(), dsn: dsn.text, sdk: SDK };
  return Buffer.concat([
    Buffer.from(`${JSON.stringify(header)}\n${JSON.stringify({ type: item.type, length: payload.byteLength })}\n`),
    payload,
    Buffer.from("\n"),
  ]);
}

/** The envelope of one event, POSTed to the DSN's envelope endpoint with the keys in X-Sentry-Auth. */
export function sentryRequest(endpoint: ProviderEndpoint, event: FluxEvent): ProviderRequest {
  let dsn: SentryDsn;
  try {
    dsn = parseSentryDsn(endpoint.url);
  } catch (error) {
    // resolveProvider has checked it already; the message never holds the DSN.
    throw new PostError(`invalid Sentry DSN: ${(error as Error).message}`);
  }
  const item =
    event.severity === "error"
      ? { type: "event" as const, payload: errorEvent(endpoint, event) }
      : { type: "transaction" as const, payload: transaction(endpoint, event) };
  const client = `${SDK_NAME}/${SDK_VERSION}`;
  return {
    url: dsn.envelopeUrl,
    headers: {
      "content-type": "application/x-sentry-envelope",
      "user-agent": client,
      "x-sentry-auth": `Sentry sentry_version=7, sentry_client=${client}, sentry_key=${dsn.publicKey}${dsn.secretKey ? `, sentry_secret=${dsn.secretKey}` : ""}`,
    },
    body: envelope(dsn, item),
  };
}
