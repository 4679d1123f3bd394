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
  /**
   * helm-controller's event text where it differs from the condition's: its terminal errors' events carry the error
   * alone, where kustomize-controller's repeat the condition. Absent: the message.
   */
  readonly eventMessage?: string;

  constructor(
    readonly reason: string,
    message: string,
    options: { stalled?: boolean; quiet?: boolean; retryAfterMs?: number; eventMessage?: string } = {},
  ) {
    super(message);
    this.stalled = options.stalled ?? false;
    this.quiet = options.quiet ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.eventMessage = options.eventMessage;
  }
}
