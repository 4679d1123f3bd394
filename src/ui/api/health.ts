import { formatKey } from "../../api/object-key.js";
import { parseEntryId, type InventoryEntry } from "../../apply/inventory.js";
import { isFluxEntry } from "../../controllers/kustomize/fleet.js";
import type { Stored } from "../../store/store.js";
import { HEALTH_LIMIT, type HealthState, type InventoryHealth } from "./types.js";

// The inventory's live health, read only when a page asks for it: the Store keeps no per-object health, and a
// health check at the last reconcile says nothing of a Deployment that crashed since.

/** Health by inventory entry id, or why none was read. */
export type HealthReading =
  { notChecked: string } | { identity: string; objects: Record<string, { status: HealthState; message: string }> };

/** Reads the health of objects an owner applied, from its cluster, as the identity it applies as. */
export type HealthReader = (owner: Stored, entries: InventoryEntry[]) => Promise<HealthReading>;

/** Where the UI has no reader: it reaches no cluster. */
export const NO_CLUSTER =
  "this UI reaches no cluster (on AWS the UI holds no cluster credentials): only Flux objects show their Ready";

export async function inventoryHealth(
  stored: Stored,
  read: HealthReader | undefined,
  now: Date,
): Promise<InventoryHealth> {
  const status = stored.object.status as { inventory?: { entries?: InventoryEntry[] } } | undefined;
  // Flux objects show their Ready from the Store; a malformed id is the reconciler's to report.
  const entries = (status?.inventory?.entries ?? []).filter((entry) => {
    try {
      return !isFluxEntry(entry);
    } catch {
      return false;
    }
  });
  const answer: InventoryHealth = { objects: {}, skipped: 0, at: now.toISOString() };
  if (entries.length === 0) return answer;
  if (!read) return { ...answer, notChecked: NO_CLUSTER };
  const checked = entries.slice(0, HEALTH_LIMIT);
  const reading = await read(stored, checked);
  if ("notChecked" in reading) return { ...answer, notChecked: reading.notChecked };
  for (const entry of checked) {
    const health = reading.objects[entry.id];
    if (health) answer.objects[formatKey(parseEntryId(entry.id))] = health;
  }
  return { ...answer, identity: reading.identity, skipped: entries.length - checked.length };
}
