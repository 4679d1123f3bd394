import { createHash } from "node:crypto";

/**
 * A UUID-shaped id derived from `seed`, for an object Flux would name by its API server UID: Sluice's
 * Store keeps none. Stable for the same seed across reconciles and runtimes, different between seeds.
 */
export function derivedUid(seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** An object's UID when it has one (from the cluster), else one derived from its namespace and name. */
export function uidOf(metadata: { uid?: unknown; namespace?: string; name: string }): string {
  if (typeof metadata.uid === "string" && metadata.uid) return metadata.uid;
  return derivedUid(`${metadata.namespace ?? "default"}/${metadata.name}`);
}
