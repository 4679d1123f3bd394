import type { KubeObject } from "../apply/object.js";
import { CONDITION, REASON } from "../api/reasons.js";
import type { ReconcileResult } from "../ports/metrics.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";

interface Settled {
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
  requeueAfterMs?: number;
  finalized?: boolean;
}

/**
 * Tells the runtime's metrics how one reconcile of a Flux object ended; `settled` is undefined when it threw. A
 * Cluster registration is configuration, not a Flux object, and is not measured.
 */
export function recordReconcile(
  ports: ReconcilerPorts,
  object: KubeObject,
  settled: Settled | undefined,
  durationMs: number,
): void {
  if (!ports.metrics || object.kind === "Cluster") return;
  ports.metrics.reconciled({
    object: settled ? { ...object, status: settled.status } : object,
    durationMs,
    result: resultOf(object, settled),
    removed: settled?.finalized,
  });
}

/**
 * controller-runtime's result. Unlike kustomize-controller, which returns no error for a failed apply (it requeues
 * after retryInterval, counted as `requeue_after`), every failure counts as an `error` here, as source-controller
 * and helm-controller count theirs: the dashboards' failed-reconciles panels then show failed Kustomizations too.
 * Waiting for a dependency is no failure, and a suspended object is left as it is.
 */
function resultOf(object: KubeObject, settled: Settled | undefined): ReconcileResult {
  if (!settled) return "error";
  if ((object.spec as { suspend?: unknown } | undefined)?.suspend === true) return "success";
  const ready = settled.status?.conditions?.find((c) => c.type === CONDITION.ready);
  if (ready?.status === "False" && ready.reason !== REASON.dependencyNotReady) return "error";
  return settled.requeueAfterMs !== undefined ? "requeue_after" : "success";
}
