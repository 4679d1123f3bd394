import { createHash, randomBytes } from "node:crypto";
import type { FluxEvent } from "../events.js";
import { sortedMetadata } from "../payloads.js";
import { settle } from "../post.js";
import type { AlertIdentity, Deliver } from "./delivery.js";
import { derivedUid } from "./derived-uid.js";

// The otel type as notification-controller v1.9.3's otel.go exports an event through the
// OpenTelemetry Go SDK v1.44.0 (otlptracehttp, a simple span processor): one span per event, POSTed
// as an OTLP/HTTP protobuf ExportTraceServiceRequest to the address as given (its path, no
// /v1/traces added). The trace id is the first 16 bytes of sha256("<alert UID>:<revision>"), so an
// object's events for one revision share a trace; the span starts at the event's time and ends when
// sent, INTERNAL, named `Kind: namespace/name`, with the object and the metadata as attributes and
// status Error (with the message) or Ok. The resource names the Alert. HelmRepository events are
// skipped, as Flux skips them.
//
// Unlike Flux, whose exporter reports a failed export only to the SDK's error handler, the answer
// is awaited and a failure retried and reported like any Provider's.

const SCHEMA_URL = "https://opentelemetry.io/schemas/1.34.0";
const SCOPE = "flux:notification-controller";
const USER_AGENT = "OTel OTLP Exporter Go/1.44.0";
const SPAN_KIND_INTERNAL = 1;
const STATUS = { ok: 1, error: 2 };
/** W3C sampled, and (OTLP's span flags) "the parent's remoteness is known" and "the parent is remote". */
const SPAN_FLAGS = 0x01 | 0x100 | 0x200;

export const otel: Deliver = async (event, context) => {
  if (event.involvedObject.kind === "HelmRepository") return;
  const { endpoint, alert } = context;
  const headers: Record<string, string> = Object.fromEntries(
    Object.entries(endpoint.headers).map(([k, v]) => [k.toLowerCase(), v]),
  );
  // otel.go sets Authorization only when the secret has headers (and none of them is Authorization).
  const token = endpoint.token || endpoint.password || "";
  if (Object.keys(headers).length > 0 && !headers.authorization) {
    if (!endpoint.username) headers.authorization = `Bearer ${token}`;
    else if (token) headers.authorization = `Basic ${Buffer.from(`${endpoint.username}:${token}`).toString("base64")}`;
  }
  const url = new URL(endpoint.url);
  url.search = "";
  url.hash = "";
  const request = {
    url,
    headers: { ...headers, "content-type": "application/x-protobuf", "user-agent": USER_AGENT },
    body: exportRequest(event, alert, Date.now()),
  };
  settle(request, await context.send(request));
};

/** The revision otel.go keys the trace with: an OCI artifact's `<app-version>@<oci-digest>`, else `revision`. */
function revisionOf(event: FluxEvent): string {
  const { "oci-digest": digest, "app-version": version, revision } = event.metadata;
  if (digest !== undefined && version !== undefined) return `${version}@${digest}`;
  return revision ?? "unknown";
}

/** ExportTraceServiceRequest (opentelemetry-proto v1) with the event's one span. */
export function exportRequest(event: FluxEvent, alert: AlertIdentity, nowMs: number): Buffer {
  const alertUid = alert.uid;
  const traceId = createHash("sha256")
    .update(`${alertUid}:${revisionOf(event)}`)
    .digest()
    .subarray(0, 16);
  const { kind, namespace, name } = event.involvedObject;
  const attributes: [string, string][] = [
    ["object.uid", derivedUid(`${kind}/${namespace}/${name}`)],
    ["object.kind", kind],
    ["object.name", name],
    ["object.namespace", namespace],
    ...sortedMetadata(event),
  ];
  const error = event.severity === "error";
  const span = message(
    bytes(1, traceId),
    bytes(2, randomBytes(8)),
    string(5, `${kind}: ${namespace}/${name}`),
    varint(6, SPAN_KIND_INTERNAL),
    fixed64(7, BigInt(Date.parse(event.timestamp)) * 1_000_000n),
    fixed64(8, BigInt(nowMs) * 1_000_000n),
    ...attributes.map(([key, value]) => bytes(9, keyValue(key, value))),
    bytes(15, message(...(error ? [string(2, event.message)] : []), varint(3, error ? STATUS.error : STATUS.ok))),
    fixed32(16, SPAN_FLAGS),
  );
  // resource.NewWithAttributes keeps its attributes sorted by key.
  const resource = message(
    bytes(1, keyValue("service.instance.id", alertUid)),
    bytes(1, keyValue("service.name", `${alert.namespace}/${alert.name}`)),
    bytes(1, keyValue("service.namespace", alert.namespace)),
  );
  const scopeSpans = message(bytes(1, message(string(1, SCOPE))), bytes(2, span));
  return message(bytes(1, message(bytes(1, resource), bytes(2, scopeSpans), string(3, SCHEMA_URL))));
}

// Protocol Buffers' wire format, only what the request above uses.

const tag = (field: number, wireType: number) => encodeVarint(BigInt((field << 3) | wireType));

function encodeVarint(value: bigint): Buffer {
  const out: number[] = [];
  let rest = value;
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return Buffer.from(out);
}

function varint(field: number, value: number): Buffer {
  return Buffer.concat([tag(field, 0), encodeVarint(BigInt(value))]);
}

function fixed64(field: number, value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(value);
  return Buffer.concat([tag(field, 1), out]);
}

function fixed32(field: number, value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value);
  return Buffer.concat([tag(field, 5), out]);
}

function bytes(field: number, value: Uint8Array): Buffer {
  return Buffer.concat([tag(field, 2), encodeVarint(BigInt(value.byteLength)), value]);
}

/** A string field; proto3 leaves an empty one out. */
function string(field: number, value: string): Buffer {
  return value === "" ? Buffer.alloc(0) : bytes(field, Buffer.from(value, "utf8"));
}

function message(...fields: Buffer[]): Buffer {
  return Buffer.concat(fields);
}

/** KeyValue{key, AnyValue{string_value}}: a oneof member is written even when empty. */
function keyValue(key: string, value: string): Buffer {
  return message(string(1, key), bytes(2, bytes(1, Buffer.from(value, "utf8"))));
}
