import type { Cluster } from "../cluster/cluster.js";
import type { ChangeSetEntry } from "./changeset.js";
import { EmptySetPruneError, ObjectError, describeApiError } from "./errors.js";
import { diff, entryName, parseEntryId, type Inventory, type InventoryEntry } from "./inventory.js";
import { anyInMetadata, formatId } from "./object.js";
import { deleteObject, getObject } from "./objects-api.js";
import { deletesOnRemoval, type DeletionPolicy } from "./plan.js";
import { PRUNE_DISABLED, ownerLabels, type Owner } from "./policy.js";
import { refOf, refOfEntry } from "./wait.js";

/** What a prune or inventory deletion did. */
export interface DeleteResult {
  /** `deleted` and `skipped` entries (objects already gone are not listed). */
  changeSet: ChangeSetEntry[];
  /** Entries whose delete failed: keep them in the inventory so the delete is retried next time. */
  retained: InventoryEntry[];
  errors: ObjectError[];
}

/**
 * Deletes what `previous` has and `next` lacks. Call only after a fully successful apply. Objects
 * that opt out (`kustomize.toolkit.fluxcd.io/prune: Disabled`) or whose ownership labels no longer
 * name `owner` (moved to another Kustomization) are skipped. Refuses to empty a non-empty
 * inventory unless `allowEmpty`, since an empty render is far more often a mistake than intent.
 */
export async function prune(
  cluster: Cluster,
  previous: Inventory | undefined,
  next: Inventory,
  options: { owner: Owner; allowEmpty?: boolean },
): Promise<DeleteResult> {
  const stale = diff(previous, next);
  if (next.entries.length === 0 && stale.length > 0 && !options.allowEmpty) {
    throw new EmptySetPruneError(
      `refusing to prune all ${stale.length} objects of ${options.owner.namespace}/${options.owner.name}: the new set is empty (allow it explicitly to delete everything)`,
    );
  }
  return deleteEntries(cluster, stale, options.owner);
}

/**
 * Deletes a whole inventory per the deletion policy: MirrorPrune deletes only when `prune` is on,
 * Delete and WaitForTermination always, Orphan never. For WaitForTermination, `remaining` lists
 * objects still present after the delete requests, so the caller can requeue until it is empty.
 */
export async function deleteInventory(
  cluster: Cluster,
  inventory: Inventory,
  options: { owner: Owner; policy: DeletionPolicy; prune: boolean },
): Promise<DeleteResult & { remaining: string[] }> {
  if (!deletesOnRemoval({ deletionPolicy: options.policy, prune: options.prune }))
    return { changeSet: [], retained: [], errors: [], remaining: [] };
  const result = await deleteEntries(cluster, inventory.entries, options.owner);
  if (options.policy !== "WaitForTermination") return { ...result, remaining: [] };
  const deleted = inventory.entries.filter((e) =>
    result.changeSet.some((c) => c.action === "deleted" && c.subject === entryName(e)),
  );
  const present = await Promise.all(
    deleted.map(async (e) => ((await lookup(cluster, e))?.live ? entryName(e) : undefined)),
  );
  return { ...result, remaining: present.filter((s): s is string => s !== undefined) };
}

async function deleteEntries(cluster: Cluster, entries: InventoryEntry[], owner: Owner): Promise<DeleteResult> {
  const labels = ownerLabels(owner);
  const results = await Promise.all(
    entries.map(async (entry): Promise<{ entry?: ChangeSetEntry; retained?: InventoryEntry; error?: ObjectError }> => {
      const meta = parseEntryId(entry.id);
      const subject = formatId(meta);
      const change = (action: "deleted" | "skipped"): ChangeSetEntry => ({
        subject,
        object: meta,
        groupVersion: refOf(meta, entry.v).apiVersion,
        version: entry.v,
        action,
      });
      try {
        const found = await lookup(cluster, entry);
        if (!found?.live) return {}; // already gone (or its kind no longer exists)
        const ours = Object.entries(labels).every(([k, v]) => found.live!.metadata.labels?.[k] === v);
        if (!ours || anyInMetadata(found.live, PRUNE_DISABLED)) return { entry: change("skipped") };
        await deleteObject(cluster, found.info, meta.namespace, meta.name, "Background");
        return { entry: change("deleted") };
      } catch (error) {
        const detail = describeApiError(error, { secret: meta.kind === "Secret", identity: cluster.client.identity });
        return { retained: entry, error: new ObjectError(subject, "delete", detail) };
      }
    }),
  );
  return {
    changeSet: results.flatMap((r) => (r.entry ? [r.entry] : [])),
    retained: results.flatMap((r) => (r.retained ? [r.retained] : [])),
    errors: results.flatMap((r) => (r.error ? [r.error] : [])),
  };
}

async function lookup(cluster: Cluster, entry: InventoryEntry) {
  const ref = refOfEntry(entry);
  const info = await cluster.discovery.find(ref.apiVersion, ref.kind);
  if (!info) return undefined;
  return { info, live: await getObject(cluster, info, ref.metadata.namespace ?? "", ref.metadata.name) };
}
