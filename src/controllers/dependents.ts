import type { Kustomization } from "../api/kustomization.js";
import { formatKey, type ObjectKey } from "../store/store.js";

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

/**
 * The index in memory, for one long-lived process (local mode): every object is reconciled at
 * start-up, so the index fills before it matters.
 */
export class MemoryDependents implements DependentsIndex {
  private readonly edges = new Map<string, Set<string>>();
  private readonly recorded = new Map<string, string[]>();

  async record(key: ObjectKey, spec: Kustomization["spec"]): Promise<void> {
    const self = formatKey(key);
    await this.forget(key);
    const targets = targetsOf(key, spec);
    for (const target of targets) this.edges.set(target, (this.edges.get(target) ?? new Set()).add(self));
    this.recorded.set(self, targets);
  }

  async forget(key: ObjectKey): Promise<void> {
    const self = formatKey(key);
    for (const target of this.recorded.get(self) ?? []) this.edges.get(target)?.delete(self);
    this.recorded.delete(self);
  }

  async of(key: ObjectKey): Promise<string[]> {
    return [...(this.edges.get(formatKey(key)) ?? [])].sort();
  }
}
