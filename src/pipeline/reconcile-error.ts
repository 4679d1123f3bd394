/**
 * A phase of a reconcile that cannot finish: Flux's reason for Ready=False, and what happens next.
 * Phases throw it; the reconciler turns it into status, event and requeue in one place.
 */
export class ReconcileError extends Error {
  override name = "ReconcileError";
  /** Only a change of the spec can help: Stalled=True, and no retry until then. */
  readonly stalled: boolean;
  /** No event: an expected wait (a dependency, a source not ready yet), not news. */
  readonly quiet: boolean;
  /** Retry after this long instead of the object's retryInterval. */
  readonly retryAfterMs?: number;

  constructor(
    readonly reason: string,
    message: string,
    options: { stalled?: boolean; quiet?: boolean; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.stalled = options.stalled ?? false;
    this.quiet = options.quiet ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}
