import { alertsTaking, sendToAlert, type AlertDeliveryOptions } from "./alert-delivery.js";
import { parseNotificationMessage, sentIdOf } from "./queued-notification.js";

// The notify function's work on one queued notification (AWS): the Alerts that take it, each sent
// unless the sent log says it was already, each recorded as sent once its Provider took it. A
// message that comes back (a retry, a redelivery, a redrive from the dead-letter queue) re-sends
// only what was not sent.
//
// Guarantee: at least once per Alert, duplicates only when the function stops between the
// endpoint's answer and the sent record (the record follows the send; recording first would lose
// the notification instead). The FIFO queue never hands the same message to two invocations at
// once, so no two sends of one notification race.

/** Which (notification, Alert) deliveries were sent; ids are hashes (queued-notification.ts). */
export interface SentLog {
  wasSent(id: string): Promise<boolean>;
  markSent(id: string): Promise<void>;
}

export interface QueuedDeliveryOptions extends AlertDeliveryOptions {
  sent: SentLog;
}

/** What became of a message: how many Alerts it was sent to, and whether (and when) it should come back. */
export interface QueuedOutcome {
  sent: number;
  /** Some Alert's endpoint failed in a way another attempt may mend; `afterMs` is the longest Retry-After asked. */
  retry?: { afterMs?: number };
}

/** Delivers the notification `body` carries; a body that is not one throws PoisonNotificationError. */
export async function deliverQueued(options: QueuedDeliveryOptions, body: string): Promise<QueuedOutcome> {
  const { event, id } = parseNotificationMessage(body);
  const alerts = await alertsTaking(options.store, event);
  const results = await Promise.all(
    alerts.map(async (alert) => {
      const sentId = sentIdOf(id, { namespace: alert.metadata.namespace ?? "default", name: alert.metadata.name });
      if (await options.sent.wasSent(sentId)) return { sent: false };
      const result = await sendToAlert(options, alert, event);
      if (result.sent) await options.sent.markSent(sentId);
      return result;
    }),
  );
  const retries = results.flatMap((r) => ("retry" in r && r.retry ? [r.retry] : []));
  const waits = retries.flatMap((r) => (r.afterMs === undefined ? [] : [r.afterMs]));
  return {
    sent: results.filter((r) => r.sent).length,
    ...(retries.length > 0 && { retry: waits.length > 0 ? { afterMs: Math.max(...waits) } : {} }),
  };
}
