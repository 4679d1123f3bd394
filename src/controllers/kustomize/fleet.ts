import { changeSetEntry, type ChangeSetEntry } from "../../apply/changeset.js";
import { entryName, parseEntryId, type InventoryEntry } from "../../apply/inventory.js";
import { groupOf, type KubeObject } from "../../apply/object.js";
import { ownerLabels, type Owner } from "../../apply/policy.js";
import type { ObjectHealth } from "../../apply/wait.js";
import type { Queue } from "../../queue/queue.js";
import { applyToStore, requestDeletion } from "../../store/objects.js";
import { type Store } from "../../store/store.js";
import { formatKey } from "../../api/object-key.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { findCondition, isReady } from "../../pipeline/conditions.js";

// Flux objects a Kustomization renders (GitRepository, Kustomization, …) are registered in the
// Store for Sluice to reconcile rather than sent to the cluster — that is how a fleet repo laid out
// for Flux (clusters/<name>/… → apps → sources) works unchanged.

/** Whether an object is a Flux kind, by its API group (`*.toolkit.fluxcd.io`, or source-watcher's group). */
export function isFluxObject(object: { apiVersion: string }): boolean {
  return isFluxGroup(groupOf(object.apiVersion));
}

export function isFluxEntry(entry: InventoryEntry): boolean {
  return isFluxGroup(parseEntryId(entry.id).group);
}

const isFluxGroup = (group: string) => group.endsWith(".toolkit.fluxcd.io") || group === "source.extensions.fluxcd.io";

/** Registers (creates or updates) Flux objects in the Store, labelled with their owner, and enqueues what changed. */
export async function applyFleetObjects(
  store: Store,
  queue: Queue,
  objects: KubeObject[],
  owner: Owner,
): Promise<ChangeSetEntry[]> {
  const changes: ChangeSetEntry[] = [];
  for (const object of objects) {
    const labelled = {
      ...object,
      metadata: { ...object.metadata, labels: { ...object.metadata.labels, ...ownerLabels(owner) } },
    };
    const action = await applyToStore(store, labelled);
    if (action !== "unchanged")
      await queue.enqueue({
        key: `${object.kind}/${object.metadata.namespace}/${object.metadata.name}`,
        reason: action,
      });
    changes.push(changeSetEntry(object, action));
  }
  return changes;
}

/** Whether a stored object still carries `owner`'s labels (another Kustomization may have taken it over). */
function ownedBy(object: KubeObject, owner: Owner): boolean {
  return Object.entries(ownerLabels(owner)).every(([k, v]) => object.metadata.labels?.[k] === v);
}

/** The entries pruneFleetObjects would delete: still in the Store and still `owner`'s. */
export async function ownedFleetEntries(
  store: Store,
  entries: InventoryEntry[],
  owner: Owner,
): Promise<InventoryEntry[]> {
  const stored = await Promise.all(
    entries.map(async (entry) => ({ entry, stored: await store.get(parseEntryId(entry.id)) })),
  );
  return stored.filter((s) => s.stored && ownedBy(s.stored.object, owner)).map((s) => s.entry);
}

/** Marks pruned Flux objects for deletion (they finalize themselves), skipping ones another owner took over. */
export async function pruneFleetObjects(
  store: Store,
  queue: Queue,
  stale: InventoryEntry[],
  owner: Owner,
  now: Date,
): Promise<ChangeSetEntry[]> {
  const changes: ChangeSetEntry[] = [];
  for (const entry of stale) {
    const meta = parseEntryId(entry.id);
    const key = { kind: meta.kind, namespace: meta.namespace, name: meta.name };
    const stored = await store.get(key);
    if (!stored) continue;
    const ours = ownedBy(stored.object, owner);
    const change: ChangeSetEntry = {
      subject: entryName(entry),
      object: meta,
      groupVersion: `${meta.group}/${entry.v}`,
      version: entry.v,
      action: ours ? "deleted" : "skipped",
    };
    if (ours) {
      await requestDeletion(store, key, now);
      await queue.enqueue({ key: formatKey(key), reason: "deleted" });
    }
    changes.push(change);
  }
  return changes;
}

/** kstatus for Flux objects in the Store: Ready=True at the current generation is Current. */
export async function fleetHealth(
  store: Store,
  objects: { kind: string; metadata: { name: string; namespace?: string } }[],
): Promise<ObjectHealth[]> {
  return Promise.all(
    objects.map(async (o) => {
      const key = { kind: o.kind, namespace: o.metadata.namespace ?? "default", name: o.metadata.name };
      const subject = formatKey(key);
      const stored = await store.get(key);
      if (!stored) return { subject, status: "NotFound" as const, message: "not registered" };
      const conditions = (stored.object.status as { conditions?: [] } | undefined)?.conditions;
      const ready = findCondition(conditions, CONDITION.ready);
      if (isReady(stored.object as never))
        return { subject, status: "Current" as const, message: ready?.message ?? "" };
      const stalled = findCondition(conditions, CONDITION.stalled);
      // kstatus: Stalled fails, then Reconciling (a HelmRelease waiting for its chart, or retrying) is in progress.
      const reconciling = findCondition(conditions, CONDITION.reconciling)?.status === "True";
      if (
        stalled?.status === "True" ||
        (!reconciling &&
          ready?.status === "False" &&
          ready.reason !== REASON.progressing &&
          ready.reason !== REASON.dependencyNotReady)
      ) {
        return { subject, status: "Failed" as const, message: ready?.message ?? stalled?.message ?? "" };
      }
      return { subject, status: "InProgress" as const, message: ready?.message ?? "not reconciled yet" };
    }),
  );
}
