import { isDeepStrictEqual } from "node:util";
import type { KubeObject } from "./object.js";

/**
 * Whether a server-side dry-run result differs from the live object: a new object (no
 * resourceVersion), changed labels or annotations, or any change outside metadata and status.
 * Same rule as Flux's ssa, so both call the same objects drifted.
 */
export function hasDrifted(live: KubeObject | undefined, dryRun: KubeObject): boolean {
  if (!live || !dryRun.metadata.resourceVersion) return true;
  if (!isDeepStrictEqual(dryRun.metadata.labels ?? {}, live.metadata.labels ?? {})) return true;
  if (!isDeepStrictEqual(dryRun.metadata.annotations ?? {}, live.metadata.annotations ?? {})) return true;
  return !isDeepStrictEqual(withoutMetadataAndStatus(dryRun), withoutMetadataAndStatus(live));
}

function withoutMetadataAndStatus(object: KubeObject): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([key]) => key !== "metadata" && key !== "status"));
}
