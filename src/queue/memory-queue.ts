import type { Clock } from "../ports/clock.js";
import type { QueueObserver } from "../ports/metrics.js";
import type { EnqueueOptions, Queue, ReconcileRequest } from "./queue.js";

interface Waiting {
  request: ReconcileRequest;
  dueAt: number;
}

export interface MemoryQueueOptions {
  clock: Clock;
  /** Keys reconciled at once. @default 4 */
  concurrency?: number;
  /** Spread of delayed requeues, as a fraction (0.1 = ±10 %), so intervals do not align. @default 0.1 */
  jitter?: number;
  random?: () => number;
  onError?: (request: ReconcileRequest, error: unknown) => void;
  /** Told when requests wait, start and end (workqueue metrics). */
  observer?: QueueObserver;
}

/**
 * The local Queue: one request per key in flight, waiting duplicates merged (earliest due time
 * wins), a request arriving during its key's run kept for after it, delays with jitter.
 */
export class MemoryQueue implements Queue {
  private readonly waiting = new Map<string, Waiting>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private handler?: (request: ReconcileRequest) => Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: MemoryQueueOptions) {}

  async enqueue(request: ReconcileRequest, options: EnqueueOptions = {}): Promise<void> {
    if (this.stopped) return;
    const delay = options.delayMs ?? 0;
    const spread =
      delay > 0 ? delay * (this.options.jitter ?? 0.1) * (2 * (this.options.random ?? Math.random)() - 1) : 0;
    const dueAt = this.options.clock.now() + delay + spread;
    const existing = this.waiting.get(request.key);
    if (!existing || dueAt < existing.dueAt) {
      this.waiting.set(request.key, { request, dueAt });
      this.options.observer?.waiting(request.key, dueAt);
    }
    this.pump();
  }

  start(handler: (request: ReconcileRequest) => Promise<void>): void {
    this.handler = handler;
    this.pump();
  }

  /** Stops taking work and waits for the runs in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Resolves once nothing is due now and nothing runs (tests, the demo). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** What waits, soonest first, for progress display. */
  pending(): { key: string; dueAt: number; reason: string }[] {
    return [...this.waiting.values()]
      .map((w) => ({ key: w.request.key, dueAt: w.dueAt, reason: w.request.reason }))
      .sort((a, b) => a.dueAt - b.dueAt);
  }

  running(): string[] {
    return [...this.inFlight.keys()];
  }

  private isIdle(): boolean {
    const now = this.options.clock.now();
    return this.inFlight.size === 0 && ![...this.waiting.values()].some((w) => w.dueAt <= now);
  }

  private pump(): void {
    if (!this.handler || this.stopped) return;
    const limit = this.options.concurrency ?? 4;
    // Full: nothing can start before a run ends, and its end pumps again; so an enqueue behind a full queue (a fleet's
    // hundreds waiting behind 8 runs) no longer sorts everything that waits.
    if (this.inFlight.size >= limit) return;
    const now = this.options.clock.now();
    const due = [...this.waiting.values()]
      .filter((w) => w.dueAt <= now && !this.inFlight.has(w.request.key))
      .sort((a, b) => a.dueAt - b.dueAt);
    for (const next of due) {
      if (this.inFlight.size >= limit) break;
      this.waiting.delete(next.request.key);
      this.run(next.request);
    }
    this.schedule();
    if (this.isIdle()) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private run(request: ReconcileRequest): void {
    const handler = this.handler!;
    this.options.observer?.started(request.key);
    const done = handler(request)
      .catch((error: unknown) => this.options.onError?.(request, error))
      .finally(() => {
        this.options.observer?.finished(request.key);
        this.inFlight.delete(request.key);
        this.pump();
      });
    this.inFlight.set(request.key, done);
  }

  /** One timer for the soonest future due time; it does not keep the process alive. */
  private schedule(): void {
    clearTimeout(this.timer);
    const now = this.options.clock.now();
    const future = [...this.waiting.values()].filter((w) => !this.inFlight.has(w.request.key)).map((w) => w.dueAt);
    if (future.length === 0) return;
    this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(...future) - now));
    this.timer.unref();
  }
}
