import { createHash } from "node:crypto";
import * as z from "zod/mini";
import { duplicateKey } from "./alert-match.js";
import type { FluxEvent } from "./events.js";

// An event on its way from a reconcile to the notify function (AWS): the message body, and the ids
// SQS FIFO and the handled log key it by. The body is read as hostile input: only a well-formed
// Flux event is delivered.

/** SQS's message limit is 256 KiB; the envelope and the rest of the event stay well inside what is left. */
const MAX_MESSAGE_CHARS = 128 * 1024;

export interface NotificationMessage {
  body: string;
  /**
   * Flux's rate-limit key hashed (the object, message and revisions): SQS FIFO drops a message whose
   * deduplication id it saw in the last 5 minutes, which is notification-controller's default
   * --rate-limit-interval. Also the message group, so one notification's retries never hold up another's.
   */
  deduplicationId: string;
}

/** The message that carries `event` to the notify queue (a very long message shortened, as it says). */
export function notificationMessage(event: FluxEvent): NotificationMessage {
  const message =
    event.message.length > MAX_MESSAGE_CHARS
      ? `${event.message.slice(0, MAX_MESSAGE_CHARS)}… (${event.message.length - MAX_MESSAGE_CHARS} characters left out)`
      : event.message;
  const queued = { ...event, message };
  return { body: JSON.stringify({ event: queued }), deduplicationId: sha256(duplicateKey(event)) };
}

const upTo = (n: number) => z.string().check(z.maxLength(n));
const name = z.string().check(z.minLength(1), z.maxLength(253));
const fluxEvent = z.strictObject({
  involvedObject: z.strictObject({ apiVersion: upTo(253), kind: upTo(63), namespace: name, name }),
  severity: z.enum(["info", "error"]),
  reason: upTo(1024),
  message: z.string(),
  metadata: z.record(upTo(1024), z.string()),
  reportingController: upTo(253),
  timestamp: z.iso.datetime(),
});

/** A message body that is not a notification: it can never be delivered. */
export class PoisonNotificationError extends Error {
  override name = "PoisonNotificationError";
}

/**
 * The event a message carries, and its id: the SHA-256 of the event as enqueued (timestamp
 * included), the same on every redelivery and redrive of that message, different for the same
 * notification enqueued again after the 5-minute window.
 */
export function parseNotificationMessage(body: string): { event: FluxEvent; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new PoisonNotificationError("not a notification: the message body is not JSON");
  }
  const result = z.strictObject({ event: fluxEvent }).safeParse(parsed);
  if (!result.success)
    throw new PoisonNotificationError(
      `not a notification: ${result.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`,
    );
  return { event: result.data.event, id: sha256(JSON.stringify(result.data.event)) };
}

/** Where one Alert's delivery of a notification is recorded as handled: per notification and Alert. */
export function handledIdOf(notificationId: string, alert: { namespace: string; name: string }): string {
  return sha256(JSON.stringify([notificationId, alert.namespace, alert.name]));
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
