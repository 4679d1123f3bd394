import type { HealthCheckExpr } from "./health/expressions.js";
import type { IgnoreRule } from "./ignore.js";
import type { ObjectRef } from "./wait.js";

/** Flux's `spec.deletionPolicy` for a Kustomization that is itself deleted. */
export type DeletionPolicy = "MirrorPrune" | "Delete" | "WaitForTermination" | "Orphan";

/**
 * How a desired set is applied, health-checked and finally removed: the Kustomization fields the
 * apply engine obeys. The worker reads it from the spec; a pull agent from its signed bundle.
 */
export interface SyncPlan {
  prune: boolean;
  force: boolean;
  /** Health-check everything applied (Flux's `wait`); `healthChecks` is then ignored, as in Flux. */
  wait: boolean;
  healthChecks: ObjectRef[];
  /** Health-check timeout (Flux's `timeout`). */
  timeoutMs: number;
  /** What to do with the applied objects when the Kustomization goes. */
  deletionPolicy: DeletionPolicy;
  /** CEL health rules for custom resource kinds (Flux's `healthCheckExprs`). */
  healthCheckExprs?: HealthCheckExpr[];
  /** Fields of existing objects left to other managers (Flux's `spec.ignore` rules). */
  driftIgnoreRules?: IgnoreRule[];
}

/**
 * Whether removing the Kustomization deletes what it applied: Delete and WaitForTermination always, MirrorPrune
 * with `prune`, Orphan never.
 */
export function deletesOnRemoval(plan: Pick<SyncPlan, "deletionPolicy" | "prune">): boolean {
  const policy = plan.deletionPolicy;
  return policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && plan.prune);
}
