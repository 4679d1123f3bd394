import { formatDuration } from "../api/duration.js";
import { kustomizationTimeoutMs, type Kustomization } from "../api/kustomization.js";
import { REASON, TERMINAL_ERROR_MESSAGE } from "../api/reasons.js";
import { applyAll, type ApplyOptions } from "../apply/apply.js";
import type { ChangeSetEntry } from "../apply/changeset.js";
import { ApplyFailedError, EmptySetPruneError } from "../apply/errors.js";
import { customHealth, HealthExpressionError, type CustomHealth } from "../apply/health/expressions.js";
import { fromChangeSet, merge, type Inventory } from "../apply/inventory.js";
import type { KubeObject } from "../apply/object.js";
import type { SyncPlan } from "../apply/plan.js";
import type { Owner } from "../apply/policy.js";
import { deleteInventory, prune as pruneStale } from "../apply/prune.js";
import { refOfEntry, type ObjectHealth, type ObjectRef } from "../apply/wait.js";
import type { Cluster } from "../cluster/cluster.js";
import { ReconcileError } from "./reconcile-error.js";

// The sync step of a Kustomization, the same for both placements: the worker (a direct cluster)
// and the pull agent (its own cluster) apply, prune, judge health and remove through here, so a
// Kustomization behaves the same wherever it is applied, with the same Flux reasons.

/** The plan a Kustomization's spec gives: applied by the worker, or signed into a bundle for an agent. */
export function syncPlanOf(ks: Kustomization): SyncPlan {
  const { spec } = ks;
  return {
    prune: spec.prune,
    force: spec.force ?? false,
    wait: spec.wait ?? false,
    healthChecks: spec.wait
      ? []
      : (spec.healthChecks ?? []).map((h) => ({
          apiVersion: h.apiVersion ?? "v1",
          kind: h.kind,
          metadata: { name: h.name, namespace: h.namespace ?? ks.metadata.namespace },
        })),
    timeoutMs: kustomizationTimeoutMs(spec),
    deletionPolicy: spec.deletionPolicy ?? "MirrorPrune",
    ...(spec.ignore?.length && { driftIgnoreRules: spec.ignore }),
    ...(spec.healthCheckExprs?.length && { healthCheckExprs: spec.healthCheckExprs }),
  };
}

/** What one sync of a desired set did. */
export interface SyncResult {
  changeSet: ChangeSetEntry[];
  /** The new inventory: what was applied, plus stale objects whose delete failed (retried next time). */
  inventory: Inventory;
  /** Why pruning failed (PruneFailed); the apply itself succeeded and the inventory keeps what was not deleted. */
  pruneFailure?: ReconcileError;
}

/**
 * Brings a cluster to a desired set, the way kustomize-controller does: staged server-side apply
 * (only drifted objects are written), then — only after the whole apply succeeded — prune what the
 * previous inventory had and this one lacks. A failed apply throws ReconciliationFailed and prunes
 * nothing; pruning everything because the new set is empty throws PruneFailed.
 */
export async function syncObjects(
  cluster: Cluster,
  objects: KubeObject[],
  previous: Inventory | undefined,
  owner: Owner,
  plan: Pick<SyncPlan, "prune" | "force" | "driftIgnoreRules">,
  fieldDiffs?: ApplyOptions["fieldDiffs"],
): Promise<SyncResult> {
  try {
    const changeSet = await applyAll(cluster, objects, {
      owner,
      force: plan.force,
      driftIgnoreRules: plan.driftIgnoreRules,
      fieldDiffs,
    });
    const applied = fromChangeSet(changeSet);
    if (!plan.prune) return { changeSet, inventory: merge(applied, []) };
    const pruned = await pruneStale(cluster, previous, applied, { owner });
    const pruneFailure =
      pruned.errors.length > 0
        ? new ReconcileError(REASON.pruneFailed, pruned.errors.map((e) => e.message).join("\n"))
        : undefined;
    return { changeSet: [...changeSet, ...pruned.changeSet], inventory: merge(applied, pruned.retained), pruneFailure };
  } catch (error) {
    if (error instanceof ApplyFailedError) throw new ReconcileError(REASON.reconciliationFailed, error.message);
    if (error instanceof EmptySetPruneError) throw new ReconcileError(REASON.pruneFailed, error.message);
    throw error;
  }
}

/** What to health-check: everything applied with `wait`, else the listed `healthChecks`. */
export function healthTargets(plan: Pick<SyncPlan, "wait" | "healthChecks">, inventory: Inventory): ObjectRef[] {
  return plan.wait ? inventory.entries.map(refOfEntry) : plan.healthChecks;
}

/**
 * The plan's CEL health rules, compiled. A rule that does not compile is a configuration error, terminal as in Flux
 * (InvalidCELExpression, Stalled, no retry until the spec changes); reconcilers check it before anything is applied.
 */
export function healthRules(plan: Pick<SyncPlan, "healthCheckExprs">): CustomHealth | undefined {
  try {
    return customHealth(plan.healthCheckExprs);
  } catch (error) {
    if (error instanceof HealthExpressionError)
      throw new ReconcileError(REASON.invalidCELExpression, `${TERMINAL_ERROR_MESSAGE}: ${error.message}`, {
        stalled: true,
        eventMessage: error.message,
      });
    throw error;
  }
}

/**
 * Where a rollout stands: healthy, still progressing within its timeout, or failed (one object Failed, or the
 * timeout passed).
 */
export type HealthVerdict = { state: "healthy" | "progressing" } | { state: "failed"; message: string };

export function healthVerdict(health: ObjectHealth[], elapsedMs: number, timeoutMs: number): HealthVerdict {
  const healthy = health.every((h) => h.status === "Current");
  if (health.some((h) => h.status === "Failed") || (!healthy && elapsedMs >= timeoutMs))
    return { state: "failed", message: unhealthyMessage(health) };
  return { state: healthy ? "healthy" : "progressing" };
}

/**
 * Flux's message for a failed or timed-out health check: `health check failed: [Deployment/ns/app status: 'Failed'
 * (…)]`.
 */
export function unhealthyMessage(health: ObjectHealth[]): string {
  const failed = health.filter((h) => h.status === "Failed");
  const why = failed.length > 0 ? failed : health.filter((h) => h.status !== "Current");
  return `${failed.length > 0 ? "health check failed" : "timeout waiting for"}: [${why.map((h) => `${h.subject} status: '${h.status}'${h.message ? ` (${h.message})` : ""}`).join(", ")}]`;
}

/** Flux's progress message while health checks run. */
export function healthProgressMessage(revision: string, timeoutMs: number): string {
  return `Running health checks for revision ${revision} with a timeout of ${formatDuration(timeoutMs)}`;
}

/** What removing an inventory did: deleted per the plan's deletion policy, or still terminating. */
export interface Removal {
  changeSet: ChangeSetEntry[];
  /** Objects still present (WaitForTermination): remove again later. */
  remaining: string[];
  /** Why deleting failed (PruneFailed), with `retained` the entries still to delete. */
  failure?: { error: ReconcileError; retained: Inventory };
}

/** The Kustomization is gone: delete what it applied, per `deletionPolicy` and `prune` (Flux's finalizer). */
export async function removeApplied(
  cluster: Cluster,
  inventory: Inventory,
  owner: Owner,
  plan: Pick<SyncPlan, "deletionPolicy" | "prune">,
): Promise<Removal> {
  const result = await deleteInventory(cluster, inventory, { owner, policy: plan.deletionPolicy, prune: plan.prune });
  const failure =
    result.errors.length > 0
      ? {
          error: new ReconcileError(REASON.pruneFailed, result.errors.map((e) => e.message).join("\n")),
          retained: { entries: result.retained },
        }
      : undefined;
  return { changeSet: result.changeSet, remaining: result.remaining, failure };
}
