import { REASON, TERMINAL_ERROR_MESSAGE } from "../api/reasons.js";
import type { KubeObject } from "../apply/object.js";
import { ReconcileError } from "../pipeline/reconcile-error.js";
import { isReady } from "../pipeline/conditions.js";
import { readyByExpr, ReadyExprError } from "./ready-expr.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";

export interface DependencyRef {
  name: string;
  namespace?: string;
  readyExpr?: string;
}

export interface Dependencies {
  kind: "Kustomization" | "HelmRelease";
  /** The dependent object, CEL's `self` in a readyExpr. */
  self: { metadata: { namespace?: string } };
  dependsOn: DependencyRef[];
  /** How the kind's Flux controller words a missing dependency. */
  notFound: (ref: string) => string;
  /** kustomize-controller's last check of a Ready dependency: it applied the revision the dependent is about to. */
  upToDate?: (dependency: KubeObject) => boolean;
}

/**
 * Flux's dependsOn (Kustomizations, HelmReleases), dependency by dependency: it exists; with a readyExpr, the
 * expression is true and nothing else is checked (Flux's AdditiveCELDependencyCheck feature gate is off by default);
 * otherwise it is Ready at its current generation and `upToDate`. Until then a quiet DependencyNotReady, retried
 * after dependencyRequeueMs; an expression that does not compile stalls the dependent (InvalidCELExpression).
 */
export async function checkDependencies(ports: ReconcilerPorts, dependencies: Dependencies): Promise<void> {
  const { kind, self, notFound, upToDate } = dependencies;
  const notReady = (message: string) =>
    new ReconcileError(REASON.dependencyNotReady, message, {
      quiet: true,
      retryAfterMs: ports.settings.dependencyRequeueMs,
    });
  for (const dep of dependencies.dependsOn) {
    const key = { kind, namespace: dep.namespace ?? self.metadata.namespace ?? "default", name: dep.name };
    const ref = `${key.namespace}/${key.name}`;
    const stored = await ports.store.get(key);
    if (!stored) throw notReady(notFound(ref));
    if (dep.readyExpr) {
      if (!readyByExprOf(dep.name, dep.readyExpr, self, stored.object, notReady))
        throw notReady(`dependency '${ref}' is not ready according to readyExpr eval`);
      continue;
    }
    if (!isReady(stored.object)) throw notReady(`dependency '${ref}' is not ready`);
    if (upToDate && !upToDate(stored.object)) throw notReady(`dependency '${ref}' revision is not up to date`);
  }
}

function readyByExprOf(
  name: string,
  expr: string,
  self: unknown,
  dep: unknown,
  notReady: (message: string) => ReconcileError,
): boolean {
  try {
    return readyByExpr(expr, self, dep);
  } catch (error) {
    if (!(error instanceof ReadyExprError)) throw notReady((error as Error).message);
    // Only a change of the spec can help, as in Flux (which names the dependency by its name alone here). Flux wraps
    // the error in controller-runtime's TerminalError, whose text ("terminal error: …") its messages keep.
    const terminal = `terminal error: failed to evaluate dependency ${name}: ${error.message}`;
    throw new ReconcileError(REASON.invalidCELExpression, `${TERMINAL_ERROR_MESSAGE}: ${terminal}`, {
      stalled: true,
      eventMessage: terminal,
    });
  }
}
