import { REASON } from "../api/reasons.js";
import { ReconcileError } from "../pipeline/reconcile-error.js";
import { isReady } from "../pipeline/conditions.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";

/**
 * Flux's dependsOn (Kustomizations, HelmReleases): each dependency of `kind` Ready at its current
 * generation; until then a quiet DependencyNotReady, retried after dependencyRequeueMs. `notFound`
 * words a missing one as the kind's Flux controller does.
 */
export async function checkDependencies(
  ports: ReconcilerPorts,
  kind: "Kustomization" | "HelmRelease",
  namespace: string,
  dependsOn: { name: string; namespace?: string }[],
  notFound: (ref: string) => string,
): Promise<void> {
  for (const dep of dependsOn) {
    const key = { kind, namespace: dep.namespace ?? namespace, name: dep.name };
    const ref = `${key.namespace}/${key.name}`;
    const stored = await ports.store.get(key);
    if (!stored || !isReady(stored.object as never))
      throw new ReconcileError(REASON.dependencyNotReady, stored ? `dependency '${ref}' is not ready` : notFound(ref), {
        quiet: true,
        retryAfterMs: ports.settings.dependencyRequeueMs,
      });
  }
}
