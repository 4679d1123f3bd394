import type { FieldDiff } from "./field-diff.js";
import { formatId, objMetadata, versionOf, type KubeObject, type ObjMetadata } from "./object.js";

/** What the engine did to one object; the same fixed set as Flux's ssa. */
export type Action = "created" | "configured" | "unchanged" | "deleted" | "skipped" | "unknown";

/** One object's outcome: the common language of inventory, events and CLI output. */
export interface ChangeSetEntry {
  /** `Kind/namespace/name` */
  subject: string;
  object: ObjMetadata;
  /** `group/version` (or `version` for the core group). */
  groupVersion: string;
  /** The version alone, as the inventory records it. */
  version: string;
  action: Action;
  /** For `configured` objects that existed: the fields the apply changed (live → stored). */
  diff?: FieldDiff;
}

export function changeSetEntry(object: KubeObject, action: Action): ChangeSetEntry {
  const meta = objMetadata(object);
  return {
    subject: formatId(meta),
    object: meta,
    groupVersion: object.apiVersion,
    version: versionOf(object.apiVersion),
    action,
  };
}

/** `Kind/ns/name action` lines, as Flux prints a change set (e.g. in events and `flux diff`). */
export function formatChangeSet(
  entries: ChangeSetEntry[],
  actions: Action[] = ["created", "configured", "deleted"],
): string {
  return entries
    .filter((e) => actions.includes(e.action))
    .map((e) => `${e.subject} ${e.action}`)
    .join("\n");
}
