import { rm } from "node:fs/promises";
import type { KubeObject } from "../../apply/object.js";
import { ByteLru } from "../../artifacts/byte-lru.js";

/**
 * The most rendered objects one process keeps, by the size of their text. A budget in bytes, not in entries: one
 * render may be up to renderLimits.maxOutputBytes (128 MiB), and a tenant who varies a spec field or pushes often
 * would otherwise fill thousands of entries of that size.
 */
export const RENDERED_BYTES = 64 << 20;
/** The most extracted artifacts kept on disk, whatever their size. */
export const EXTRACTIONS_KEPT = 16;

/** What one process keeps between renders; each control plane owns one (in its ports). */
export class RenderCache {
  /**
   * Rendered sets by (artifact digest, render inputs of the spec, substitution values): an interval with nothing new
   * costs no extraction and no kustomize run. Least recently used entries go first; a rendered app is a few KiB, so a
   * fleet of thousands fits; a render larger than the whole budget is not kept; a miss just renders again.
   */
  readonly rendered: ByteLru<KubeObject[]>;
  /** Extracted artifacts, shared (as hard-linked copies) by every render of their revision. */
  readonly extractions = new Extractions();
  /** Kustomize runs and cache hits since start, for metrics and benchmarks. */
  readonly counters = { builds: 0, cacheHits: 0 };

  constructor(renderedBytes = RENDERED_BYTES) {
    this.rendered = new ByteLru(renderedBytes);
  }

  /** Forgets every cached render (benchmarks compare against rendering every time, as Flux does). */
  clear(): void {
    this.rendered.clear();
  }
}

/**
 * About the bytes `value` takes as text: its strings' lengths plus a few bytes for every other value. Counted without
 * serializing, so a large render is not copied once more to be measured.
 */
export function textBytes(value: unknown): number {
  let bytes = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === "string") bytes += next.length + 2;
    else if (Array.isArray(next)) {
      bytes += 2;
      for (const item of next) pending.push(item);
    } else if (next !== null && typeof next === "object") {
      bytes += 2;
      for (const [key, item] of Object.entries(next)) {
        bytes += key.length + 3;
        pending.push(item);
      }
    } else bytes += 8;
  }
  return bytes;
}

/** An extraction: its folder and the bytes of the files in it. */
export interface Extracted {
  dir: string;
  bytes: number;
}

/**
 * Extracted artifacts on disk by id (their digest), each extracted once. Bounded by count and by the bytes they hold
 * together: one artifact may be up to the extraction limit (512 MiB), and sixteen of them would fill a Lambda's /tmp,
 * failing every reconcile of the worker, every tenant's. The oldest go first, but never one still being made or read
 * (it is removed when its last reader is done); a removed one is extracted again when next needed.
 */
export class Extractions {
  private readonly entries = new Map<string, Entry>();

  /**
   * Runs `read` on the folder `id` is extracted in; `extract` makes it the first time. `budget` gives the bytes all
   * extractions may hold (the caller's share of the disk, asked once the folder exists). A failed extraction is not
   * kept.
   */
  async read<T>(
    id: string,
    extract: () => Promise<Extracted>,
    budget: () => Promise<number>,
    read: (dir: string) => Promise<T>,
  ): Promise<T> {
    let entry = this.entries.get(id);
    const made = !entry;
    if (!entry) {
      entry = { pending: extract(), readers: 0, removed: false };
      this.entries.set(id, entry);
    }
    entry.readers++;
    try {
      let extracted: Extracted;
      try {
        extracted = await entry.pending;
      } catch (error) {
        if (this.entries.get(id) === entry) this.entries.delete(id);
        throw error;
      }
      if (made) {
        entry.bytes = extracted.bytes;
        this.evict(await budget());
      }
      return await read(extracted.dir);
    } finally {
      entry.readers--;
      if (entry.removed && entry.readers === 0) void remove(entry);
    }
  }

  /** Bytes held by the finished extractions. */
  get bytes(): number {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.bytes ?? 0;
    return total;
  }

  private evict(maxBytes: number): void {
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= EXTRACTIONS_KEPT && this.bytes <= maxBytes) break;
      if (entry.bytes === undefined) continue;
      this.entries.delete(id);
      entry.removed = true;
      if (entry.readers === 0) void remove(entry);
    }
  }
}

/** An extraction in the cache: `bytes` once it finished; `removed` once evicted (its folder goes with the last reader). */
interface Entry {
  pending: Promise<Extracted>;
  bytes?: number;
  readers: number;
  removed: boolean;
}

async function remove(entry: Entry): Promise<void> {
  await entry.pending.then(({ dir }) => rm(dir, { recursive: true, force: true })).catch(() => undefined);
}
