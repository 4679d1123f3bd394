import { createHash } from "node:crypto";
import { formatDuration } from "../../api/duration.js";
import type { KubeObject } from "../../apply/object.js";

/** Flux's `status.history` snapshot (fluxcd/pkg apis/meta): one per digest of what was reconciled and its outcome. */
export interface Snapshot {
  digest: string;
  firstReconciled: string;
  lastReconciled: string;
  lastReconciledDuration: string;
  lastReconciledStatus: string;
  totalReconciliations: number;
  metadata?: Record<string, string>;
}

/** Flux keeps the five most recent snapshots. */
const HISTORY_MAX_SIZE = 5;

/**
 * Flux's History.Upsert: the snapshot with this digest and status is updated (counted, moved to the
 * front), else a new one goes in front; at most five are kept. Returns a new list.
 */
export function upsertHistory(
  history: unknown[] | undefined,
  entry: { digest: string; at: Date; durationMs: number; status: string; metadata: Record<string, string> },
): Snapshot[] {
  const list = (history ?? []) as Snapshot[];
  const now = entry.at.toISOString();
  const known = list.find((s) => s.digest === entry.digest && s.lastReconciledStatus === entry.status);
  const snapshot: Snapshot = {
    digest: entry.digest,
    firstReconciled: known?.firstReconciled ?? now,
    lastReconciled: now,
    lastReconciledDuration: formatDuration(Math.max(0, Math.round(entry.durationMs))),
    lastReconciledStatus: entry.status,
    totalReconciliations: (known?.totalReconciliations ?? 0) + 1,
    metadata: entry.metadata,
  };
  return [snapshot, ...list.filter((s) => s !== known)].slice(0, HISTORY_MAX_SIZE);
}

/**
 * The checksum of a rendered set, `sha256:<hex>` (Flux digests the build output): taken before
 * decryption, so it never derives from a Secret's plaintext.
 */
export function renderedDigest(objects: KubeObject[]): string {
  const hash = createHash("sha256");
  for (const object of objects) hash.update(JSON.stringify(object)).update("\n");
  return `sha256:${hash.digest("hex")}`;
}
