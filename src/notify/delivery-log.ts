/**
 * Delivery ids already handled, per receiver, so a redelivery (a Git host's retry, a replayed
 * request) enqueues nothing. Keys are digests the caller derives, never the raw header.
 */
export interface DeliveryLog {
  /** Records the key; false when it was recorded before (and has not expired). */
  first(key: string): Promise<boolean>;
  /** Forgets a key whose delivery could not be enqueued, so the host's retry is not swallowed. */
  forget(key: string): Promise<void>;
}

export interface MemoryDeliveryLogOptions {
  now: () => number;
  /** How long an id is remembered. @default 2 days (as the S3 lifecycle rule keeps them) */
  ttlMs?: number;
  /** Most ids remembered; the oldest go first. @default 100_000 */
  maxEntries?: number;
}

/** Local mode's delivery log: bounded and expiring, so a flood of fresh ids cannot grow memory without limit. */
export class MemoryDeliveryLog implements DeliveryLog {
  // A Map iterates in insertion order: the first entries are the oldest.
  private readonly seen = new Map<string, number>();

  constructor(private readonly options: MemoryDeliveryLogOptions) {}

  async first(key: string): Promise<boolean> {
    const now = this.options.now();
    this.expire(now);
    if (this.seen.has(key)) return false;
    this.seen.set(key, now + (this.options.ttlMs ?? 2 * 86_400_000));
    const max = this.options.maxEntries ?? 100_000;
    for (const oldest of this.seen.keys()) {
      if (this.seen.size <= max) break;
      this.seen.delete(oldest);
    }
    return true;
  }

  async forget(key: string): Promise<void> {
    this.seen.delete(key);
  }

  /** How many ids are remembered (tests). */
  get size(): number {
    return this.seen.size;
  }

  private expire(now: number): void {
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(key);
    }
  }
}
