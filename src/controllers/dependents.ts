import type { Kustomization } from "../api/kustomization.js";
import { formatKey, type ObjectKey } from "../store/store.js";

/**
 * Who to wake when an object changes: the Kustomizations using a source, and those that dependsOn a
 * Kustomization. Learned from each Kustomization as it is reconciled (every object is reconciled
 * at start-up), so a change wakes its dependents without listing the whole Store.
 */
export class Dependents {
  private readonly edges = new Map<string, Set<string>>();
  private readonly recorded = new Map<string, string[]>();

  /** Records a Kustomization's source and dependencies, replacing what it had before. */
  record(key: ObjectKey, spec: Kustomization["spec"]): void {
    const self = formatKey(key);
    this.forget(key);
    const targets = [
      formatKey({ kind: spec.sourceRef.kind, namespace: spec.sourceRef.namespace ?? key.namespace, name: spec.sourceRef.name }),
      ...(spec.dependsOn ?? []).map((d) => formatKey({ kind: "Kustomization", namespace: d.namespace ?? key.namespace, name: d.name })),
    ];
    for (const target of targets) this.edges.set(target, (this.edges.get(target) ?? new Set()).add(self));
    this.recorded.set(self, targets);
  }

  forget(key: ObjectKey): void {
    const self = formatKey(key);
    for (const target of this.recorded.get(self) ?? []) this.edges.get(target)?.delete(self);
    this.recorded.delete(self);
  }

  /** Keys of the Kustomizations that use or depend on `key`. */
  of(key: ObjectKey): string[] {
    return [...(this.edges.get(formatKey(key)) ?? [])].sort();
  }
}
