import type { DriftReport } from "../apply/field-diff.js";

/** What one reconcile decided; the dispatcher writes the status, emits the event and requeues. */
export interface Outcome<S = unknown> {
  /** The object's status to write, typed by the kind's reconciler. */
  status: S;
  /** Run again after this long (interval, retryInterval, health poll); undefined: only on demand. */
  requeueAfterMs?: number;
  /**
   * The reason the requeue carries: "health" lets the next run skip straight to the health check. @default
   * "interval"
   */
  requeueReason?: string;
  /** Something consumers care about changed (a new artifact, a Ready transition). */
  changed?: boolean;
  /** The revision the outcome is about, for event metadata. */
  revision?: string;
  /** `drift`: the fields a drift correction reverted, for the web UI (never sent to Alerts' providers). */
  event?: { severity: "info" | "error"; reason: string; message: string; drift?: DriftReport };
  /** Objects written (created, configured or deleted) by this reconcile, for metrics. */
  applied?: number;
  /** The object finished finalizing and can be removed from the Store. */
  finalized?: boolean;
}

/** The longest pause between checks of a rollout (or an agent) under way. */
const MAX_POLL_MS = 10_000;

/**
 * When to check again on something under way for `elapsedMs`: often at first (most rollouts finish fast), sparser
 * later, so a large fleet waiting does not flood the API server (or the agents' channel).
 */
export function nextPollMs(minMs: number, elapsedMs: number): number {
  return Math.min(Math.max(minMs, elapsedMs / 2), MAX_POLL_MS);
}
