import { createHash } from "node:crypto";
import type { JWTVerifyGetKey } from "jose";
import type { Queue, ReconcileRequest } from "../queue/queue.js";
import type { Log } from "../ports/log.js";
import type { DeliveryLog } from "./delivery-log.js";
import { deliveryIdOf, verifyDelivery } from "./receiver.js";
import { digestOfPath, type ReceiverIndex, type ReceiverRecord } from "./receiver-index.js";

export interface HookResponse {
  status: number;
  body: string;
}

/** All a webhook delivery may touch: one index read, the delivery log, the queue. No Store, no Secrets, no cluster. */
export interface WebhookPorts {
  receivers: Pick<ReceiverIndex, "get">;
  deliveries: DeliveryLog;
  queue: Queue;
  log: Log;
  /** Only for tests: the keys a gcr Receiver's ID tokens are checked with, instead of Google's. */
  googleKeys?: JWTVerifyGetKey;
}

/**
 * A webhook delivery to `path`: read the Receiver's index record, verify the delivery against it,
 * record its delivery id, and enqueue what it triggers. Nothing is written to the Store here, so
 * concurrent pushes never race each other; the worker marks requestedAt when it runs the request.
 */
export async function handleDelivery(
  ports: WebhookPorts,
  path: string,
  headers: Record<string, string | undefined>,
  body: Buffer,
): Promise<HookResponse> {
  const digest = digestOfPath(path);
  const record = digest && (await ports.receivers.get(digest));
  if (!digest || !record) return { status: 404, body: "no receiver for this path\n" };
  const receiver = `${record.namespace}/${record.name}`;
  if (record.suspend) return { status: 503, body: "receiver is suspended\n" };
  const verdict = await verifyDelivery(record.type, record.token, headers, body, record.events, {
    identity: record.gcr,
    googleKeys: ports.googleKeys,
  });
  if ("pong" in verdict) return { status: 200, body: "pong\n" };
  if (!verdict.accept) {
    ports.log.warn({ receiver, reason: verdict.reason }, "webhook delivery refused");
    return { status: verdict.status, body: `${verdict.reason}\n` };
  }
  const deliveryId = deliveryIdOf(record.type, headers);
  // Scoped to the receiver and hashed: one receiver's ids cannot suppress another's, and no header text becomes a key.
  const logKey = deliveryId && createHash("sha256").update(`${digest}\n${deliveryId}`).digest("hex");
  if (logKey && !(await ports.deliveries.first(logKey))) return { status: 200, body: "already handled\n" };
  const requests = requestsFor(record, logKey);
  try {
    for (const request of requests) await ports.queue.enqueue(request);
  } catch (error) {
    if (logKey) await ports.deliveries.forget(logKey);
    throw error;
  }
  ports.log.info(
    { receiver, event: verdict.event, deliveryId, requests: requests.length },
    "webhook delivery accepted",
  );
  return { status: 202, body: `reconcile requested for ${requests.length} resource(s)\n` };
}

/**
 * Named resources are enqueued directly; `name: "*"` resources need the Store to be resolved, so
 * one request for the Receiver itself carries them to the worker (see controllers/notification/receiver.ts).
 */
function requestsFor(record: ReceiverRecord, trigger: string | undefined): ReconcileRequest[] {
  const named = record.resources.filter((r) => r.name !== "*").map((r) => `${r.kind}/${r.namespace}/${r.name}`);
  const selectors = record.resources.some((r) => r.name === "*") ? [`Receiver/${record.namespace}/${record.name}`] : [];
  return [...new Set([...named, ...selectors])].map((key) => ({ key, reason: "webhook", ...(trigger && { trigger }) }));
}
