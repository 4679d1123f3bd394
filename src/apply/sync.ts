import type { Cluster } from "../cluster/cluster.js";
import { applyAll } from "./apply.js";
import type { ChangeSetEntry } from "./changeset.js";
import type { ObjectError } from "./errors.js";
import type { IgnoreRule } from "./ignore.js";
import { fromChangeSet, merge, type Inventory } from "./inventory.js";
import type { KubeObject } from "./object.js";
import type { Owner } from "./policy.js";
import { prune as pruneStale } from "./prune.js";
import type { ObjectHealth } from "./wait.js";

/** What one sync of a desired set did. */
export interface SyncResult {
  changeSet: ChangeSetEntry[];
  /** The new inventory: what was applied, plus stale objects whose delete failed (retried next time). */
  inventory: Inventory;
  /** Prune failures; the apply itself succeeded. */
  pruneErrors: ObjectError[];
}

/**
 * Brings a cluster to a desired set, the way kustomize-controller does: staged server-side apply
 * (only drifted objects are written), then — only after the whole apply succeeded — prune what the
 * previous inventory had and this one lacks. The worker (direct clusters) and the pull agent both
 * sync through here. Throws ApplyFailedError (nothing pruned) and EmptySetPruneError.
 */
export async function syncObjects(
  cluster: Cluster,
  objects: KubeObject[],
  previous: Inventory | undefined,
  options: { owner: Owner; force?: boolean; prune?: boolean; driftIgnoreRules?: IgnoreRule[] },
): Promise<SyncResult> {
  const changeSet = await applyAll(cluster, objects, {
    owner: options.owner,
    force: options.force,
    driftIgnoreRules: options.driftIgnoreRules,
  });
  const applied = fromChangeSet(changeSet);
  if (!options.prune) return { changeSet, inventory: merge(applied, []), pruneErrors: [] };
  const pruned = await pruneStale(cluster, previous, applied, { owner: options.owner });
  return {
    changeSet: [...changeSet, ...pruned.changeSet],
    inventory: merge(applied, pruned.retained),
    pruneErrors: pruned.errors,
  };
}

/** Flux's message for a failed or timed-out health check: `health check failed: [Deployment/ns/app status: 'Failed' (…)]`. */
export function unhealthyMessage(health: ObjectHealth[]): string {
  const failed = health.filter((h) => h.status === "Failed");
  const why = failed.length > 0 ? failed : health.filter((h) => h.status !== "Current");
  return `${failed.length > 0 ? "health check failed" : "timeout waiting for"}: [${why.map((h) => `${h.subject} status: '${h.status}'${h.message ? ` (${h.message})` : ""}`).join(", ")}]`;
}
