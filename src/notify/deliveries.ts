import type { Receiver } from "../api/receiver.js";
import type { Runtime } from "../controllers/runtime.js";
import { REQUESTED_AT } from "../api/meta.js";
import { updateObject } from "../store/objects.js";
import { formatKey, keyOf } from "../store/store.js";
import { verifyDelivery } from "./receiver.js";

export interface HookResponse {
  status: number;
  body: string;
}

/**
 * A webhook delivery to `path`: find the Receiver that published it, verify it, and request a
 * reconcile of its resources (Flux's requestedAt annotation, plus an immediate enqueue).
 * `firstDelivery(id)` answers whether a delivery id is new (and records it), so redeliveries enqueue
 * nothing; by default every delivery counts as new.
 */
export async function handleDelivery(rt: Runtime, path: string, headers: Record<string, string | undefined>, body: Buffer, firstDelivery: (id: string) => Promise<boolean> = async () => true): Promise<HookResponse> {
  const receivers = await rt.store.list({ kind: "Receiver" });
  const found = receivers.find((r) => (r.object.status as Receiver["status"])?.webhookPath === path);
  if (!found) return { status: 404, body: "no receiver for this path\n" };
  const receiver = found.object as unknown as Receiver;
  const namespace = receiver.metadata.namespace ?? "default";
  if (receiver.spec.suspend) return { status: 503, body: "receiver is suspended\n" };
  const token = (await rt.secrets.secret({ namespace, name: receiver.spec.secretRef.name }))?.token ?? "";
  const verdict = await verifyDelivery(receiver.spec.type, token, headers, body, receiver.spec.events);
  if ("pong" in verdict) return { status: 200, body: "pong\n" };
  if (!verdict.accept) {
    rt.log.warn({ receiver: `${namespace}/${receiver.metadata.name}`, reason: verdict.reason }, "webhook delivery refused");
    return { status: verdict.status, body: `${verdict.reason}\n` };
  }
  // A redelivery (same X-GitHub-Delivery) was handled already: acknowledge it, enqueue nothing.
  const deliveryId = headers["x-github-delivery"];
  if (deliveryId && !(await firstDelivery(deliveryId))) return { status: 200, body: "already handled\n" };
  const now = new Date(rt.clock.now()).toISOString();
  let triggered = 0;
  for (const resource of receiver.spec.resources) {
    const candidates = await rt.store.list({ kind: resource.kind, namespace: resource.namespace ?? namespace });
    for (const { object } of candidates) {
      const byName = resource.name === "*" ? Object.entries(resource.matchLabels ?? {}).every(([k, v]) => object.metadata.labels?.[k] === v) : object.metadata.name === resource.name;
      if (!byName) continue;
      const key = keyOf(object);
      await updateObject(rt.store, key, (o) => {
        o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: now };
      });
      await rt.queue.enqueue({ key: formatKey(key), reason: "webhook", ...(deliveryId && { trigger: deliveryId }) });
      triggered++;
    }
  }
  rt.log.info({ receiver: `${namespace}/${receiver.metadata.name}`, event: verdict.event, triggered }, "webhook delivery accepted");
  return { status: 202, body: `reconcile requested for ${triggered} object(s)\n` };
}
