/** The API group of Flux's per-object annotations and ownership labels. */
export const FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io";

/** Flux's per-object annotations, same names and values. */
export const annotations = {
  ssa: `${FLUX_KUSTOMIZE_GROUP}/ssa`,
  force: `${FLUX_KUSTOMIZE_GROUP}/force`,
  prune: `${FLUX_KUSTOMIZE_GROUP}/prune`,
  reconcile: `${FLUX_KUSTOMIZE_GROUP}/reconcile`,
} as const;

/** Objects left alone entirely: `ssa: Ignore`, or the older `reconcile: disabled`. */
export const EXCLUDE = { [annotations.ssa]: "Ignore", [annotations.reconcile]: "disabled" };
/** Objects created when missing but never updated. */
export const IF_NOT_PRESENT = { [annotations.ssa]: "IfNotPresent" };
/** Objects whose fields other managers own are left to them (no field-manager cleanup). */
export const MERGE = { [annotations.ssa]: "Merge" };
/** Objects recreated when an immutable field changes. */
export const FORCE = { [annotations.force]: "Enabled" };
/** Objects never pruned. */
export const PRUNE_DISABLED = { [annotations.prune]: "Disabled" };

/** Who owns applied objects: a Kustomization's (or a HelmRelease's) name and namespace, recorded as Flux's labels. */
export interface Owner {
  name: string;
  namespace: string;
  /** The owner's API group, the labels' prefix. @default "kustomize.toolkit.fluxcd.io" */
  group?: string;
}

/** Flux's ownership labels for `owner`. */
export function ownerLabels(owner: Owner): Record<string, string> {
  const group = owner.group ?? FLUX_KUSTOMIZE_GROUP;
  return { [`${group}/name`]: owner.name, [`${group}/namespace`]: owner.namespace };
}

/** A label selector matching objects owned by `owner`. */
export function ownerSelector(owner: Owner): string {
  return Object.entries(ownerLabels(owner))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
