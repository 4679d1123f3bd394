// What sources keep between reconciles (a GitRepository's last commit's objects, its last archive's gzip members),
// held in memory too in a long-lived process, so that the next reconcile neither reads nor hashes the disk copy
// again. Entries are trusted as they stand: only values Sluice built or verified itself are put here. Keys name the
// owner's own folder (one per GitRepository), so one source's values never serve another. Bounded: least recently
// used entries go first; a miss just reads the disk copy.

/** The most bytes held across all sources. */
export const KEPT_MEMORY_BYTES = 256 * 1024 * 1024;

/** Values by key within a byte budget, least recently used dropped first. */
export class ByteLru<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry); // now the most recently used
    return entry.value;
  }

  /** Holds `value` (`bytes` large) unless it alone is over the budget; older entries make room. */
  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
    }
  }

  /** Drops every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.total;
  }
}

/** The one budget shared by every kind of kept value in this process, keyed by keptKey. */
export const keptInMemory = new ByteLru<unknown>(KEPT_MEMORY_BYTES);

/** The key of what `folder` keeps of `kind`. */
export const keptKey = (folder: string, kind: string) => `${folder}\0${kind}`;

/** Forgets whatever is held for `folder` (its disk copy is gone or no longer to be trusted). */
export const forgetKeptInMemory = (folder: string) => keptInMemory.deletePrefix(`${folder}\0`);
