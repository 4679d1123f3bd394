import { formatKey, type ObjectKey } from "../api/object-key.js";
import type { DependentsIndex } from "../ports/dependents.js";

/**
 * The index in memory, for one long-lived process (local mode): every object is reconciled at
 * start-up, so the index fills before it matters.
 */
export class MemoryDependents implements DependentsIndex {
  private readonly edges = new Map<string, Set<string>>();
  private readonly recorded = new Map<string, string[]>();

  async record(key: ObjectKey, targets: string[]): Promise<void> {
    const self = formatKey(key);
    await this.forget(key);
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
