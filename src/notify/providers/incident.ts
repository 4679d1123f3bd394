import { REASON } from "../../api/reasons.js";
import type { FluxEvent } from "../events.js";
import { jsonRequest, objectName, sortedMetadata, type ProviderRequest } from "../payloads.js";
import { PostError, settle } from "../post.js";
import type { ProviderEndpoint } from "../provider-endpoint.js";
import { basicAuth } from "./answers.js";
import { nameAndDescription } from "./commit-status.js";
import type { Deliver } from "./delivery.js";
import { derivedUid } from "./derived-uid.js";

// Alerting and observability providers, as notification-controller v1.9.3 builds their requests
// (internal/notifier/{opsgenie,alertmanager,grafana,pagerduty,datadog}.go). Go marshals maps with
// their keys sorted, and ranges over metadata in random order; Sluice sorts both.

type Build = (endpoint: ProviderEndpoint, event: FluxEvent) => ProviderRequest;

/** metav1.Time as JSON and RFC 3339: whole seconds. */
export const seconds = (event: FluxEvent) => event.timestamp.replace(/\.\d+Z$/, "Z");

/** An object with its keys sorted, as Go's encoding/json writes a map. */
function sortedObject(entries: [string, string][]): Record<string, string> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** opsgenie.go: Kind/name as the alert's message, the event's message as description, metadata and severity as details. */
const opsgenie: Build = (endpoint, event) => {
  if (!endpoint.token) throw new PostError("empty Opsgenie apikey/token");
  const { kind, name } = event.involvedObject;
  return jsonRequest(
    endpoint.url,
    {
      message: `${kind}/${name}`,
      description: event.message,
      details: sortedObject([...Object.entries(event.metadata), ["severity", event.severity]]),
    },
    { authorization: `GenieKey ${endpoint.token}` },
  );
};

/** golang.org/x/text's cases.Title: each word's first letter upper-cased, the rest lower. */
function title(text: string): string {
  return text
    .toLowerCase()
    .replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_, before: string, c: string) => before + c.toUpperCase());
}

/** alertmanager.go: one firing alert, the event as labels (metadata included), message and summary as annotations. */
const alertmanager: Build = (endpoint, event) => {
  const { summary, ...metadata } = event.metadata;
  const { kind, name, namespace } = event.involvedObject;
  const labels = sortedObject([
    ...Object.entries(metadata),
    ["alertname", `Flux${kind}${title(event.reason)}`],
    ["severity", event.severity],
    ["reason", event.reason],
    ["kind", kind],
    ["name", name],
    ["namespace", namespace],
    ["reportingcontroller", event.reportingController],
  ]);
  const annotations = sortedObject([
    ["message", event.message],
    ...(summary !== undefined ? [["summary", summary] as [string, string]] : []),
  ]);
  // The token as Bearer; basic auth, when both are set, replaces it (Flux applies it last).
  const authorization =
    endpoint.username && endpoint.password
      ? basicAuth(endpoint.username, endpoint.password)
      : endpoint.token
        ? `Bearer ${endpoint.token}`
        : undefined;
  return jsonRequest(
    endpoint.url,
    [{ status: "firing", labels, annotations, startsAt: seconds(event), endsAt: "0001-01-01T00:00:00Z" }],
    authorization ? { authorization } : {},
  );
};

/** grafana.go: an annotation tagged flux, the controller, the metadata (`:` as `|`) and the object; the time in seconds. */
const grafana: Build = (endpoint, event) => {
  const { kind, name, namespace } = event.involvedObject;
  const tags = [
    "flux",
    event.reportingController,
    ...sortedMetadata(event).map(([key, value]) => `${key.replaceAll(":", "|")}: ${value.replaceAll(":", "|")}`),
    `kind: ${kind}`,
    `name: ${name}`,
    `namespace: ${namespace}`,
  ];
  const authorization = endpoint.token
    ? `Bearer ${endpoint.token}`
    : endpoint.username && endpoint.password
      ? basicAuth(endpoint.username, endpoint.password)
      : undefined;
  return jsonRequest(
    endpoint.url,
    { when: Math.floor(Date.parse(event.timestamp) / 1000), text: objectName(event), tags },
    authorization ? { authorization } : {},
  );
};

/** datadog.go: an event of the Events API v1 on the address' host, the token as DD-API-KEY, tags lower-cased. */
const datadog: Build = (endpoint, event) => {
  if (!endpoint.token) throw new PostError("token cannot be empty");
  const { kind, name, namespace } = event.involvedObject;
  const tags = [
    `flux_reporting_controller:${event.reportingController}`,
    `flux_reason:${event.reason}`,
    `kube_kind:${kind}`,
    `kube_name:${name}`,
    `kube_namespace:${namespace}`,
    ...sortedMetadata(event).map(([key, value]) => `${key}:${value}`),
  ].map((tag) => tag.toLowerCase());
  // The client serialises the request as a map: keys sorted.
  return jsonRequest(
    new URL("/api/v1/events", `${endpoint.url.protocol}//${endpoint.url.host}`),
    {
      alert_type: event.severity === "error" ? "error" : "info",
      date_happened: Math.floor(Date.parse(event.timestamp) / 1000),
      source_type_name: "fluxcd",
      tags,
      text: event.message,
      title: `Events from the ${kind} ${name}/${namespace}`,
    },
    { accept: "application/json", "dd-api-key": endpoint.token },
  );
};

/**
 * pagerduty.go: an Events API v2 event on the address' host (`channel` is the routing key): an error
 * triggers an incident for the object, anything else resolves it and is also sent as a change event.
 * Progressing events are skipped.
 */
const pagerduty: Deliver = async (event, context) => {
  if (event.reason === REASON.progressing) return;
  const { endpoint } = context;
  const origin = `${endpoint.url.protocol}//${endpoint.url.host}`;
  const routingKey = endpoint.channel ?? "";
  const { name, description } = nameAndDescription(event);
  const common = {
    summary: `${description}: ${name}`,
    source: `Flux ${event.reportingController}`,
  };
  const details = { message: event.message, metadata: sortedObject(Object.entries(event.metadata)) };
  const error = event.severity === "error";
  const incident = jsonRequest(new URL("/v2/enqueue", origin), {
    routing_key: routingKey,
    event_action: error ? "trigger" : "resolve",
    // The involved object's UID pairs an error's incident with the resolve that follows.
    dedup_key: derivedUid(
      `${event.involvedObject.kind}/${event.involvedObject.namespace}/${event.involvedObject.name}`,
    ),
    ...(error && {
      payload: {
        ...common,
        severity: "error",
        timestamp: seconds(event),
        component: event.involvedObject.name,
        group: event.involvedObject.kind,
        custom_details: details,
      },
    }),
  });
  try {
    settle(incident, await context.send(incident));
  } catch (failure) {
    throw new PostError(`failed sending event: ${(failure as Error).message}`, (failure as PostError).retryable);
  }
  if (event.severity !== "info") return;
  const change = jsonRequest(new URL("/v2/change/enqueue", origin), {
    routing_key: routingKey,
    payload: { ...common, timestamp: seconds(event), custom_details: details },
  });
  try {
    settle(change, await context.send(change));
  } catch (failure) {
    throw new PostError(`failed sending change event: ${(failure as Error).message}`, (failure as PostError).retryable);
  }
};

/** The single-request types of this module. */
export const INCIDENT_REQUESTS: Record<string, Build> = { opsgenie, alertmanager, grafana, datadog };
/** The types of this module that make more than one request. */
export const INCIDENT_DELIVERIES: Record<string, Deliver> = { pagerduty };
