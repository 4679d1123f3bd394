// What the reconcile loop tells whoever keeps metrics (Prometheus in `sluice run` and the agent, EMF on
// Lambda), so that the controllers and the agent stay free of any metrics library.

/** A Flux object as metrics name and describe it: as stored, with the status its reconcile wrote. */
export interface MeasuredObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
  status?: unknown;
}

/**
 * How a reconcile ended, as controller-runtime's `controller_runtime_reconcile_total` names it: `error` when it
 * failed (threw, or ended Ready=False for a reason other than a dependency not being ready yet), `requeue_after`
 * when it asked to run again later, `success` otherwise.
 */
export type ReconcileResult = "success" | "error" | "requeue_after";

/** One reconcile of one object. */
export interface ReconcileRecord {
  object: MeasuredObject;
  durationMs: number;
  result: ReconcileResult;
  /** The object finished finalizing and left the Store: its series go, as Flux drops a deleted object's. */
  removed?: boolean;
}

export interface ReconcileMetrics {
  reconciled(record: ReconcileRecord): void;
}

/**
 * What a work queue tells the metrics (controller-runtime's `workqueue_*`), by request key (`Kind/namespace/name`).
 */
export interface QueueObserver {
  /** A request for `key` waits, due at `dueAt` (a later call for a waiting key moves its due time). */
  waiting(key: string, dueAt: number): void;
  /** Its run started. */
  started(key: string): void;
  /** Its run ended. */
  finished(key: string): void;
}
