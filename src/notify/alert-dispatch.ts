import { duplicateKey } from "./alert-match.js";
import { alertsTaking, objectOf, sendToAlert, type AlertDeliveryOptions } from "./alert-delivery.js";
import type { Events, FluxEvent } from "./events.js";

// Local delivery of events to Alerts' Providers: every event is recorded by the wrapped Events first,
// then handed to the Alerts that take it, in the background, so a slow or failing endpoint never
// delays the reconcile that emitted it. What cannot be sent is logged and reported as a
// NotificationDispatchFailed event on the Alert, as notification-controller reports it, secrets masked.
//
//   reconcile ── emit ──► recorded (file) ──► returns
//                              └──► (background) dedup ─► Alerts that take it ─► Provider ─► POST, retried

/** Flux's --rate-limit-interval: the same notification is sent once in this long. */
export const DUPLICATE_WINDOW_MS = 5 * 60_000;

/** What delivery reads and where it reports (warnings about Alerts go to the wrapped Events). */
export type AlertDispatchOptions = Omit<AlertDeliveryOptions, "recorded">;

/** Events, recorded by `recorded` and sent on to the Alerts that take them. */
export class AlertingEvents implements Events {
  private readonly sentAt = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly delivery: AlertDeliveryOptions;

  constructor(
    private readonly recorded: Events,
    private readonly options: AlertDispatchOptions,
  ) {
    this.delivery = { ...options, recorded };
  }

  async emit(event: FluxEvent): Promise<void> {
    await this.recorded.emit(event);
    if (this.isDuplicate(event)) return;
    const delivery = this.deliver(event).catch((error: unknown) =>
      this.options.log.error({ err: error, object: objectOf(event) }, "notification dispatch failed"),
    );
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  /** Waits for the deliveries under way (each bounded by its Provider's timeout). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private isDuplicate(event: FluxEvent): boolean {
    const now = this.options.clock.now();
    for (const [key, at] of this.sentAt) if (now - at >= DUPLICATE_WINDOW_MS) this.sentAt.delete(key);
    const key = duplicateKey(event);
    if (this.sentAt.has(key)) return true;
    this.sentAt.set(key, now);
    return false;
  }

  private async deliver(event: FluxEvent): Promise<void> {
    const alerts = await alertsTaking(this.options.store, event);
    await Promise.all(alerts.map((alert) => sendToAlert(this.delivery, alert, event)));
  }
}
