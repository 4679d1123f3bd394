import type { ChangeSetEntry } from "./changeset.js";
import { formatId, type ObjMetadata } from "./object.js";

/** One inventory entry in Flux's format: id `<namespace>_<name>_<group>_<kind>`, v the version. */
export interface InventoryEntry {
  id: string;
  v: string;
}

/** A Kustomization's inventory (`status.inventory`), exactly as Flux writes it. */
export interface Inventory {
  entries: InventoryEntry[];
}

/** The entry id for an object; `_` separates fields, as in Flux (names cannot contain `_`). */
export function entryId(object: ObjMetadata): string {
  return `${object.namespace}_${object.name}_${object.group}_${object.kind}`;
}

/** Parses an entry id back into the object's identity; throws on a malformed id. */
export function parseEntryId(id: string): ObjMetadata {
  const parts = id.split("_");
  if (parts.length !== 4) throw new Error(`inventory entry "${id}" is not <namespace>_<name>_<group>_<kind>`);
  const [namespace, name, group, kind] = parts as [string, string, string, string];
  return { namespace, name, group, kind };
}

/** The inventory of what a change set applied (skipped objects included: they are still ours). */
export function fromChangeSet(entries: ChangeSetEntry[]): Inventory {
  const seen = new Map<string, InventoryEntry>();
  for (const entry of entries) {
    if (entry.action === "deleted") continue;
    const id = entryId(entry.object);
    seen.set(id, { id, v: entry.version });
  }
  return { entries: [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** Entries of `previous` that `next` no longer has: the candidates for pruning. */
export function diff(previous: Inventory | undefined, next: Inventory): InventoryEntry[] {
  const keep = new Set(next.entries.map((e) => e.id));
  return (previous?.entries ?? []).filter((e) => !keep.has(e.id));
}

/** `next` plus the entries of `extra` it lacks (objects whose delete failed stay listed, so it is retried). */
export function merge(next: Inventory, extra: InventoryEntry[]): Inventory {
  const ids = new Set(next.entries.map((e) => e.id));
  const entries = [...next.entries, ...extra.filter((e) => !ids.has(e.id))];
  return { entries: entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** `Kind/namespace/name` of an entry, for messages. */
export function entryName(entry: InventoryEntry): string {
  return formatId(parseEntryId(entry.id));
}
