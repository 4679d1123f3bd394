import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { alert, event, harness, NS, provider, REVISION, type Harness } from "./harness.js";
import { recordingServer, type RecordingServer } from "./recording-server.js";

// Contract test of the otel Provider type against a loopback server: the request is checked against
// the OTLP specification's OTLP/HTTP binary protobuf encoding (opentelemetry.io/docs/specs/otlp,
// "OTLP/HTTP Request": POST, Content-Type application/x-protobuf, an ExportTraceServiceRequest) and
// opentelemetry-proto's trace.proto / common.proto / resource.proto field numbers, decoded here by a
// wire-format reader independent of Sluice's writer; and against notification-controller v1.9.3's
// otel.go for what the span holds.

type Field = { wire: number; value: bigint | Buffer };
/** Protocol Buffers wire format: each field number's values, in order. */
function decode(buffer: Buffer): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let at = 0;
  const varint = () => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = buffer[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
  };
  while (at < buffer.length) {
    const key = varint();
    const [field, wire] = [Number(key >> 3n), Number(key & 7n)];
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) {
      value = buffer.readBigUInt64LE(at);
      at += 8;
    } else if (wire === 5) {
      value = BigInt(buffer.readUInt32LE(at));
      at += 4;
    } else if (wire === 2) {
      const length = Number(varint());
      value = buffer.subarray(at, at + length);
      at += length;
    } else throw new Error(`wire type ${wire}`);
    fields.set(field, [...(fields.get(field) ?? []), { wire, value }]);
  }
  return fields;
}
const one = (m: Map<number, Field[]>, field: number) => m.get(field)?.[0]?.value;
const sub = (m: Map<number, Field[]>, field: number) => decode(one(m, field) as Buffer);
const text = (m: Map<number, Field[]>, field: number) => (one(m, field) as Buffer | undefined)?.toString("utf8");
/** KeyValue list → [key, string_value] pairs. */
const attributes = (m: Map<number, Field[]>, field: number) =>
  (m.get(field) ?? []).map((f) => {
    const kv = decode(f.value as Buffer);
    return [text(kv, 1), text(sub(kv, 2), 1)];
  });

let server: RecordingServer;
let h: Harness;
beforeEach(async () => {
  server = await recordingServer();
  h = await harness();
});
afterEach(() => server.close());

describe("otel Provider (OTLP/HTTP protobuf, contract test against a loopback collector)", () => {
  it("one span per event: trace id from the Alert's UID and the revision, the object and metadata as attributes, Error with the message", async () => {
    h.secretData[`${NS}/otel`] = { token: "otlp-token-9c1", headers: "X-Scope-OrgID: team-a" };
    await h.register(
      provider("otel", {
        type: "otel",
        address: `${server.url}/otlp/v1/traces?ignored=1`,
        secretRef: { name: "otel" },
      }),
      {
        ...alert("traces", "otel", { eventMetadata: { cluster: "prod" } }),
        metadata: { name: "traces", namespace: NS, uid: "5f0c2a7e-aaaa-4bbb-8ccc-ddddeeeeffff" },
      },
    );
    const before = Date.now();
    await h.send(event(), event({ severity: "info", reason: "ReconciliationSucceeded", message: "applied" }));
    expect(h.failures()).toEqual([]);
    expect(server.requests).toHaveLength(2);
    // The two deliveries run concurrently, so they may arrive in either order: the error event's span has status 2.
    const spanOf = (body: Buffer) => sub(sub(sub(decode(body), 1), 2), 2);
    const [request, other] = [...server.requests].sort(
      (a, b) => Number(one(sub(spanOf(b.body), 15), 3)) - Number(one(sub(spanOf(a.body), 15), 3)),
    );
    expect(request).toMatchObject({ method: "POST", path: "/otlp/v1/traces" });
    expect(request?.headers).toMatchObject({
      "content-type": "application/x-protobuf",
      "user-agent": "OTel OTLP Exporter Go/1.44.0",
      "x-scope-orgid": "team-a",
      authorization: "Bearer otlp-token-9c1",
    });
    const resourceSpans = sub(decode(request!.body), 1);
    expect(attributes(sub(resourceSpans, 1), 1)).toEqual([
      ["service.instance.id", "5f0c2a7e-aaaa-4bbb-8ccc-ddddeeeeffff"],
      ["service.name", `${NS}/traces`],
      ["service.namespace", NS],
    ]);
    expect(text(resourceSpans, 3)).toBe("https://opentelemetry.io/schemas/1.34.0");
    const scopeSpans = sub(resourceSpans, 2);
    expect(text(sub(scopeSpans, 1), 1)).toBe("flux:notification-controller");
    const span = sub(scopeSpans, 2);
    const traceId = createHash("sha256")
      .update(`5f0c2a7e-aaaa-4bbb-8ccc-ddddeeeeffff:${REVISION}`)
      .digest()
      .subarray(0, 16);
    expect(one(span, 1)).toEqual(traceId);
    expect((one(span, 2) as Buffer).length).toBe(8);
    expect(span.has(4)).toBe(false); // no parent span
    expect(text(span, 5)).toBe(`Kustomization: ${NS}/podinfo`);
    expect(one(span, 6)).toBe(1n); // SPAN_KIND_INTERNAL
    expect(one(span, 7)).toBe(BigInt(Date.parse("2026-12-01T10:00:00.123Z")) * 1_000_000n);
    expect(Number((one(span, 8) as bigint) / 1_000_000n)).toBeGreaterThanOrEqual(before);
    expect(attributes(span, 9)).toEqual([
      ["object.uid", expect.stringMatching(/^[0-9a-f]{8}-/)],
      ["object.kind", "Kustomization"],
      ["object.name", "podinfo"],
      ["object.namespace", NS],
      ["cluster", "prod"],
      ["revision", REVISION],
    ]);
    const status = sub(span, 15);
    expect([text(status, 2), one(status, 3)]).toEqual(["timeout waiting for: [Deployment/apps/podinfo]", 2n]);
    expect(one(span, 16)).toBe(0x301n);
    // The second event, same object and revision: the same trace, status Ok without a message.
    const second = spanOf(other!.body);
    expect(one(second, 1)).toEqual(traceId);
    expect(one(second, 2)).not.toEqual(one(span, 2));
    expect([text(sub(second, 15), 2), one(sub(second, 15), 3)]).toEqual([undefined, 1n]);
  });

  it("no Authorization without secret headers (otel.go's rule), basic auth with a username; HelmRepository events skipped; a refusal fails the delivery", async () => {
    h.secretData[`${NS}/plain`] = { token: "otlp-token-9c1" };
    h.secretData[`${NS}/basic`] = { username: "flux", password: "otlp-pass-77", headers: "X-Tenant: tenant-7" };
    await h.register(
      provider("plain", { type: "otel", address: `${server.url}/plain`, secretRef: { name: "plain" } }),
      provider("basic", { type: "otel", address: `${server.url}/basic`, secretRef: { name: "basic" } }),
      alert("plain", "plain"),
      alert("basic", "basic"),
    );
    await h.send(
      event({
        involvedObject: {
          apiVersion: "source.toolkit.fluxcd.io/v1",
          kind: "HelmRepository",
          namespace: NS,
          name: "charts",
        },
      }),
    );
    expect(server.requests).toEqual([]);
    server.answer({ status: 400, body: "bad trace" }, { status: 400, body: "bad trace" });
    await h.send(event());
    const byPath = Object.fromEntries(server.requests.map((r) => [r.path, r.headers.authorization]));
    expect(byPath).toEqual({
      "/plain": undefined,
      "/basic": `Basic ${Buffer.from("flux:otlp-pass-77").toString("base64")}`,
    });
    expect(h.failures()).toEqual([
      expect.stringContaining("request failed with status code 400: bad trace"),
      expect.stringContaining("request failed with status code 400: bad trace"),
    ]);
    expect(JSON.stringify(h.recorded) + h.logs.join("")).not.toContain("otlp-pass-77");
  });
});
