import type { KubeObject } from "../../apply/object.js";

export const CACHE_ENTRIES = 4096;
export const EXTRACTIONS_KEPT = 16;

/** What one process keeps between renders; each control plane owns one (in its ports). */
export class RenderCache {
  /**
   * Rendered sets by (artifact digest, render inputs of the spec, substitution values): an interval
   * with nothing new costs no extraction and no kustomize run. Least recently used entries go first;
   * a rendered app is a few KiB, so a fleet of thousands fits; a miss just renders again.
   */
  readonly rendered = new Map<string, KubeObject[]>();
  /**
   * Extracted artifacts by digest, extracted once and shared (as hard-linked copies) by every render of that
   * revision.
   */
  readonly extractions = new Map<string, Promise<string>>();
  /** Kustomize runs and cache hits since start, for metrics and benchmarks. */
  readonly counters = { builds: 0, cacheHits: 0 };

  /** Forgets every cached render (benchmarks compare against rendering every time, as Flux does). */
  clear(): void {
    this.rendered.clear();
  }
}
