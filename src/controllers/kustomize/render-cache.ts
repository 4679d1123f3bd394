import type { KubeObject } from "../../apply/object.js";
import { ByteLru } from "../../artifacts/kept-memory.js";

/**
 * The most rendered objects one process keeps, by the size of their text. A budget in bytes, not in entries: one
 * render may be up to renderLimits.maxOutputBytes (128 MiB), and a tenant who varies a spec field or pushes often
 * would otherwise fill thousands of entries of that size.
 */
export const RENDERED_BYTES = 64 << 20;
export const EXTRACTIONS_KEPT = 16;

/** What one process keeps between renders; each control plane owns one (in its ports). */
export class RenderCache {
  /**
   * Rendered sets by (artifact digest, render inputs of the spec, substitution values): an interval with nothing new
   * costs no extraction and no kustomize run. Least recently used entries go first; a rendered app is a few KiB, so a
   * fleet of thousands fits; a render larger than the whole budget is not kept; a miss just renders again.
   */
  readonly rendered: ByteLru<KubeObject[]>;
  /**
   * Extracted artifacts by digest, extracted once and shared (as hard-linked copies) by every render of that
   * revision.
   */
  readonly extractions = new Map<string, Promise<string>>();
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
