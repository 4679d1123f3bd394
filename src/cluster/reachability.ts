/**
 * The cluster's endpoint did not answer (refused, unreachable, no TLS handshake or no response in time); remembered
 * for a while.
 */
export class ClusterUnreachableError extends Error {
  override name = "ClusterUnreachableError";
  constructor(
    readonly server: string,
    readonly failure: string,
    /** When the next connection attempt may be made (epoch ms). */
    readonly retryAt: number,
  ) {
    super(`is unreachable at ${server}: ${failure} (next attempt after ${new Date(retryAt).toISOString()})`);
  }
}

/**
 * The first connection to the endpoint is still being made; come back when it has settled instead of holding a
 * worker.
 */
export class ClusterConnectingError extends Error {
  override name = "ClusterConnectingError";
  constructor(
    readonly server: string,
    readonly retryAfterMs: number,
  ) {
    super(`is not answering yet at ${server} (still connecting; retrying in ${Math.ceil(retryAfterMs / 1000)}s)`);
  }
}

export interface ReachabilityOptions {
  /** How long a failure to connect is remembered: requests fail at once meanwhile. @default 30_000 */
  memoryMs?: number;
  /**
   * The longest a probe may take (the client's connect timeout); bounds how long callers are asked to come back
   * after.
   */
  probeTimeoutMs: number;
  now?: () => number;
}

type State = { kind: "unknown" } | { kind: "answered" } | { kind: "unreachable"; cause: string; until: number };

/**
 * A short memory of whether one API server answers, shared by every client of that endpoint (all
 * identities), so a dead cluster costs one connect timeout per memory window, not one per request:
 *
 *   unknown ──probe answers──► answered ──connection fails──► unreachable ──memoryMs──► unknown
 *      └───────probe fails──────────────────────────────────────┘
 *
 * Any HTTP answer (even 401 or 500) counts as answered; only connection-level failures count as unreachable.
 */
export class Reachability {
  private state: State = { kind: "unknown" };
  private probing?: { settled: Promise<void>; startedAt: number };
  private readonly now: () => number;

  constructor(
    readonly server: string,
    private readonly options: ReachabilityOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Throws ClusterUnreachableError while a failure to connect is remembered. */
  check(): void {
    if (this.state.kind !== "unreachable") return;
    if (this.now() < this.state.until)
      throw new ClusterUnreachableError(this.server, this.state.cause, this.state.until);
    this.state = { kind: "unknown" };
  }

  answered(): void {
    this.state = { kind: "answered" };
  }

  failed(cause: string): void {
    this.state = { kind: "unreachable", cause, until: this.now() + (this.options.memoryMs ?? 30_000) };
  }

  /**
   * Resolves once the endpoint is known to answer. Unknown: one probe at a time, awaited until `graceMs`
   * after it started (a healthy server answers well within it); still unsettled: ClusterConnectingError.
   */
  async ready(probe: () => Promise<unknown>, graceMs: number): Promise<void> {
    this.check();
    if (this.state.kind === "answered") return;
    if (!this.probing) {
      const settled = probe().then(
        () => undefined,
        () => undefined, // the probe records its own outcome; an error that is not about reaching the server surfaces on the real request
      );
      this.probing = { settled, startedAt: this.now() };
      void settled.finally(() => (this.probing = undefined));
    }
    const { settled, startedAt } = this.probing;
    // The grace runs from the probe's start: a caller arriving late does not wait a whole grace of its own.
    const wait = Math.max(0, startedAt + graceMs - this.now());
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      settled.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), wait))),
    ]);
    clearTimeout(timer);
    if (!inTime)
      throw new ClusterConnectingError(
        this.server,
        Math.max(0, startedAt + this.options.probeTimeoutMs - this.now()) + 250,
      );
    this.check();
  }
}

/** Whether an error says the target cluster could not be reached (as opposed to refusing something). */
export function isUnreachable(error: unknown): error is ClusterUnreachableError | ClusterConnectingError {
  return error instanceof ClusterUnreachableError || error instanceof ClusterConnectingError;
}
