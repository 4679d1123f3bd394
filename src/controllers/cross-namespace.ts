import { REASON } from "../api/reasons.js";
import { ReconcileError } from "../pipeline/reconcile-error.js";
import type { Settings } from "./settings.js";

/** A reference an object makes to another Flux object, by kind, name and (optionally) namespace. */
export interface NamespacedRef {
  kind: string;
  name: string;
  namespace?: string;
}

/**
 * Flux's `--no-cross-namespace-refs`: a reference into another namespace is refused with the Flux
 * controllers' message, stalled (only a change of the spec can fix it).
 */
export function refuseCrossNamespaceRefs(
  settings: Pick<Settings, "noCrossNamespaceRefs">,
  namespace: string,
  refs: NamespacedRef[],
): void {
  if (!settings.noCrossNamespaceRefs) return;
  const foreign = refs.find((r) => r.namespace && r.namespace !== namespace);
  if (foreign)
    throw new ReconcileError(
      REASON.accessDenied,
      `can't access '${foreign.kind}/${foreign.namespace}/${foreign.name}', cross-namespace references have been blocked`,
      { stalled: true },
    );
}
