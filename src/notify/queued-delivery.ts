import { alertsTaking, sendToAlert, type AlertDeliveryOptions } from "./alert-delivery.js";
import { handledIdOf, parseNotificationMessage } from "./queued-notification.js";

// The notify function's work on one queued notification (AWS): the Alerts that take it, each one
// handled unless the handled log has it already — sent, or failed for good (a 400, a missing
// Provider: reported on the Alert and not tried again, as Flux does not retry them either). Only an
// Alert whose endpoint may answer later (a 429, a 5xx, no connection) makes the message come back,
// and then only that Alert is tried again: a redelivery or a redrive re-sends nothing handled.
//
// Guarantee: at least once per Alert, duplicates only when the function stops between the
// endpoint's answer and the record (the record follows the send; recording first would lose the
// notification instead). The FIFO queue never hands one message to two invocations at once, so no
// two sends of one notification race.

/** Which (notification, Alert) deliveries are done with; ids are hashes (queued-notification.ts). */
export interface HandledLog {
  wasHandled(id: string): Promise<boolean>;
  markHandled(id: string): Promise<void>;
}

export interface QueuedDeliveryOptions extends AlertDeliveryOptions {
  handled: HandledLog;
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
      const handledId = handledIdOf(id, {
        namespace: alert.metadata.namespace ?? "default",
        name: alert.metadata.name,
      });
      if (await options.handled.wasHandled(handledId)) return { sent: false };
      const result = await sendToAlert(options, alert, event);
      if (!("retry" in result && result.retry)) await options.handled.markHandled(handledId);
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
