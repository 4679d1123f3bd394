/** A request to reconcile one Flux object. */
export interface ReconcileRequest {
  /** `Kind/namespace/name` (see store/store.ts formatKey). */
  key: string;
  /**
   * Why: "interval", "webhook", "dependency", "requested", "health", "created", "source", "config" (a watched
   * ConfigMap or Secret changed).
   */
  reason: string;
  /** The source revision that prompted it, when known; part of the dedup identity on SQS. */
  revision?: string;
  /**
   * What triggered it (a webhook delivery id, a requestedAt value, a due time): requests with the
   * same key, reason, revision and trigger are the same request, and a queue may collapse them.
   * Without it, a request is never collapsed with another.
   */
  trigger?: string;
  /** Set by a queue on a scheduled (delayed) request; a newer schedule for the key makes it stale. */
  ticket?: string;
}

export interface EnqueueOptions {
  /** Run no earlier than this many ms from now (a requeue after an interval or a health check). */
  delayMs?: number;
}

/**
 * Reconcile requests. Guarantees, whatever the adapter: at most one request per key in flight; a
 * request for a key already waiting is merged into it (the earlier due time wins); a request that
 * arrives while its key is in flight is kept and runs after, never dropped.
 */
export interface Queue {
  enqueue(request: ReconcileRequest, options?: EnqueueOptions): Promise<void>;
}
