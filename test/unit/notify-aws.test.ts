import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Provider } from "../../src/api/provider.js";
import { AlertingEvents } from "../../src/notify/alert-dispatch.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { resolveProvider } from "../../src/notify/provider-endpoint.js";
import {
  notificationMessage,
  parseNotificationMessage,
  PoisonNotificationError,
} from "../../src/notify/queued-notification.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Secrets } from "../../src/secrets/secrets.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore } from "../../src/store/objects.js";

// Pure parts of Alerts on AWS: Provider addresses naming an SNS topic or EventBridge bus, and the
// notify queue's message (ids, deduplication, hostile bodies). The queue and the publishing
// themselves are tested on moto (test/aws/notify.test.ts).

const provider = (spec: Record<string, unknown>): Provider =>
  ({
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Provider",
    metadata: { name: "aws", namespace: "apps" },
    spec: { type: "generic", ...spec },
  }) as Provider;
const secrets = (data: Record<string, Record<string, string>>): Secrets => ({
  secret: async ({ namespace, name }) => data[`${namespace}/${name}`],
  configMap: async () => undefined,
});
const none = secrets({});

describe("a generic Provider addressed to an SNS topic or EventBridge bus ARN", () => {
  it.each([
    ["arn:aws:sns:eu-west-1:123456789012:deploys", "sns", "eu-west-1"],
    ["arn:aws:sns:us-east-1:123456789012:deploys.fifo", "sns", "us-east-1"],
    ["arn:aws-us-gov:sns:us-gov-west-1:123456789012:deploys", "sns", "us-gov-west-1"],
    ["arn:aws:events:eu-central-1:123456789012:event-bus/ops", "eventbridge", "eu-central-1"],
    ["arn:aws:events:eu-central-1:123456789012:event-bus/aws.partner/acme.com/1/x", "eventbridge", "eu-central-1"],
  ])("%s is published to (%s in %s)", async (address, service, region) => {
    const endpoint = await resolveProvider(provider({ address }), none);
    expect(endpoint.aws).toEqual({ service, arn: address, region });
  });

  it("takes the ARN from the secret's address key too, and masks it as any secret address", async () => {
    const arn = "arn:aws:sns:eu-west-1:123456789012:private-topic";
    const endpoint = await resolveProvider(
      provider({ secretRef: { name: "topic" } }),
      secrets({ "apps/topic": { address: arn } }),
    );
    expect(endpoint.aws?.arn).toBe(arn);
    expect(endpoint.secretValues).toContain(arn);
  });

  it.each([
    ["arn:aws:s3:::bucket", "spec.address"],
    ["arn:aws:sns:eu-west-1:12345:short-account", "spec.address"],
    ["arn:aws:sns:eu-west-1:123456789012:topic/with/slash", "spec.address"],
    ["arn:aws:events:eu-west-1:123456789012:rule/not-a-bus", "spec.address"],
    ["arn:aws:sns:eu-west-1:123456789012:topic\nX-Injected: 1", "spec.address"],
  ])("%j is refused, naming the field and the two forms taken", async (address, field) => {
    await expect(resolveProvider(provider({ address }), none)).rejects.toThrow(
      `invalid address in ${field}: an ARN address must name an SNS topic (arn:aws:sns:<region>:<account>:<topic>) or an EventBridge bus`,
    );
  });

  it("refuses what would be ignored when publishing: certSecretRef, the secret's headers", async () => {
    const address = "arn:aws:sns:eu-west-1:123456789012:deploys";
    await expect(
      resolveProvider(
        provider({ address, certSecretRef: { name: "tls" } }),
        secrets({ "apps/tls": { "ca.crt": "x" } }),
      ),
    ).rejects.toThrow("spec.certSecretRef does not apply to an SNS topic address");
    await expect(
      resolveProvider(
        provider({ address, secretRef: { name: "h" } }),
        secrets({ "apps/h": { headers: "X-Token: abc" } }),
      ),
    ).rejects.toThrow("the 'headers' key of secret 'apps/h' does not apply to an SNS topic address");
  });

  it("is an ARN only for type generic: generic-hmac and slack still need an http(s) URL", async () => {
    for (const type of ["generic-hmac", "slack"])
      await expect(
        resolveProvider(
          provider({ type, address: "arn:aws:sns:eu-west-1:123456789012:deploys", secretRef: { name: "k" } }),
          secrets({ "apps/k": { token: "key" } }),
        ),
      ).rejects.toThrow("invalid address in spec.address: only http and https are sent to");
  });

  it("locally (sluice run), such a Provider fails on the Alert saying it is published on AWS only", async () => {
    const store = new FileStore(await mkdtemp(join(tmpdir(), "sluice-notify-aws-")));
    await applyToStore(store, {
      ...provider({ address: "arn:aws:sns:eu-west-1:123456789012:deploys" }),
      metadata: { name: "sns", namespace: "apps" },
    });
    await applyToStore(store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Alert",
      metadata: { name: "on-call", namespace: "apps" },
      spec: { providerRef: { name: "sns" }, eventSources: [{ kind: "GitRepository", name: "*" }] },
    });
    const recorded: FluxEvent[] = [];
    const events = new AlertingEvents(
      { emit: async (e) => void recorded.push(e) },
      {
        store,
        secrets: none,
        clock: systemClock,
        log: pino({ level: "silent" }),
        network: { allowPrivateNetworks: false },
        noCrossNamespaceRefs: false,
      },
    );
    await events.emit(event("failed"));
    await events.drain();
    expect(recorded.at(-1)).toMatchObject({
      involvedObject: { kind: "Alert", name: "on-call" },
      reason: "NotificationDispatchFailed",
      message:
        "provider Provider/apps/sns names an AWS SNS topic: Sluice publishes there on AWS only (the notify function)",
    });
  });
});

function event(message: string, changes: Partial<FluxEvent> = {}): FluxEvent {
  return {
    involvedObject: { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "apps", name: "a" },
    severity: "error",
    reason: "GitOperationFailed",
    message,
    metadata: { revision: "main@sha1:0123456789abcdef0123456789abcdef01234567" },
    reportingController: "source-controller",
    timestamp: "2026-12-01T10:00:00.123Z",
    ...changes,
  };
}

describe("the notify queue's message", () => {
  it("is deduplicated by Flux's rate-limit key (object, message, revisions), not by its timestamp or severity", () => {
    const first = notificationMessage(event("same"));
    expect(notificationMessage(event("same", { timestamp: "2026-12-01T10:04:00Z" })).deduplicationId).toBe(
      first.deduplicationId,
    );
    expect(notificationMessage(event("other")).deduplicationId).not.toBe(first.deduplicationId);
    expect(notificationMessage(event("same", { metadata: { revision: "main@sha1:ffff" } })).deduplicationId).not.toBe(
      first.deduplicationId,
    );
    expect(first.deduplicationId).toMatch(/^[0-9a-f]{64}$/); // SQS takes at most 128 characters
  });

  it("carries an id stable across redeliveries and different for the same notification sent again later", () => {
    const body = notificationMessage(event("same")).body;
    expect(parseNotificationMessage(body).id).toBe(parseNotificationMessage(body).id);
    const later = notificationMessage(event("same", { timestamp: "2026-12-01T10:06:00Z" })).body;
    expect(parseNotificationMessage(later).id).not.toBe(parseNotificationMessage(body).id);
    expect(parseNotificationMessage(body).event).toEqual(event("same"));
  });

  it("shortens a message too long for SQS, saying how much was left out", () => {
    const { body } = notificationMessage(event("x".repeat(300_000)));
    expect(body.length).toBeLessThan(256 * 1024);
    expect(parseNotificationMessage(body).event.message).toMatch(/x… \(168928 characters left out\)$/);
  });

  it.each([
    ["null", "null"],
    ["an array", "[]"],
    ["a string event", JSON.stringify({ event: "x" })],
    ["a prototype key", '{"event": {"__proto__": {"polluted": true}}}'],
    ["a bad timestamp", JSON.stringify({ event: event("m", { timestamp: "yesterday" }) })],
    [
      "a long namespace",
      JSON.stringify({
        event: event("m", { involvedObject: { ...event("m").involvedObject, namespace: "n".repeat(254) } }),
      }),
    ],
  ])("refuses %s as poison, naming what is wrong", (_, body) => {
    expect(() => parseNotificationMessage(body)).toThrow(PoisonNotificationError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
