import type { Kustomization } from "../api/kustomization.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";

/**
 * Who to wake when an object changes: the Kustomizations using a source, and those that dependsOn a
 * Kustomization — so a change wakes its dependents without listing the whole Store. Learned from
 * each Kustomization as it is reconciled.
 */
export interface DependentsIndex {
  /** Records a Kustomization's source and dependencies, replacing what it had before. */
  record(key: ObjectKey, spec: Kustomization["spec"]): Promise<void>;
  forget(key: ObjectKey): Promise<void>;
  /** Keys of the Kustomizations that use or depend on `key`, sorted. */
  of(key: ObjectKey): Promise<string[]>;
}

/** What a Kustomization points at: its source and each dependency, as Store keys. */
export function targetsOf(key: ObjectKey, spec: Kustomization["spec"]): string[] {
  return [
    formatKey({
      kind: spec.sourceRef.kind,
      namespace: spec.sourceRef.namespace ?? key.namespace,
      name: spec.sourceRef.name,
    }),
    ...(spec.dependsOn ?? []).map((d) =>
      formatKey({ kind: "Kustomization", namespace: d.namespace ?? key.namespace, name: d.name }),
    ),
  ].sort();
}
