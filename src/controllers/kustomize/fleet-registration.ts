import { CLUSTER_ANNOTATION } from "../../api/cluster.js";
import { REASON } from "../../api/reasons.js";
import type { ChangeSetEntry } from "../../apply/changeset.js";
import { diff, entryId, fromChangeSet, type InventoryEntry } from "../../apply/inventory.js";
import { objMetadata, versionOf, type KubeObject } from "../../apply/object.js";
import { AccessReviews } from "../../cluster/access-review.js";
import { isUnreachable } from "../../cluster/reachability.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { applyFleetObjects, isFluxEntry, ownedFleetEntries, pruneFleetObjects } from "./fleet.js";
import { fleetRefusals, type Authority, type FleetChange } from "./fleet-access.js";
import type { Attempt } from "./attempt.js";
import type { Placement } from "../placement.js";

// The Flux objects a Kustomization renders (GitRepository, Kustomization, Receiver…) are not applied
// to a cluster: they are registered in Sluice's Store, under the same RBAC a cluster would apply.

/**
 * The Flux objects of a render as they will be registered (a Kustomization inherits its owner's
 * target cluster, so it cannot drop it) and, with `prune`, the entries of those it no longer renders.
 */
export function fleetChange(attempt: Attempt, fleet: KubeObject[]): FleetChange {
  const { ks } = attempt;
  const target = ks.metadata.annotations?.[CLUSTER_ANNOTATION];
  const register = fleet.map((o) =>
    target && o.kind === "Kustomization" && !o.metadata.annotations?.[CLUSTER_ANNOTATION]
      ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [CLUSTER_ANNOTATION]: target } } }
      : o,
  );
  if (!ks.spec.prune) return { register, prune: [] };
  const next = { entries: register.map((o) => ({ id: entryId(objMetadata(o)), v: versionOf(o.apiVersion) })) };
  return { register, prune: diff({ entries: (attempt.status.inventory?.entries ?? []).filter(isFluxEntry) }, next) };
}

/**
 * The authorize phase. Flux applies as the Kustomization's service account, so the API server's RBAC
 * covers Flux objects too; Sluice registers them in its Store and asks the API server the same
 * question first (AccessDenied). Without an identity the control plane's own rights apply, as in Flux.
 */
export async function authorizeFleetChange(attempt: Attempt, placement: Placement, change: FleetChange): Promise<void> {
  const { ports, identity } = attempt;
  if (!identity || (change.register.length === 0 && change.prune.length === 0)) return;
  let refusals: string[];
  try {
    const authority: Authority =
      placement.mode === "agent"
        ? { agentCluster: placement.cluster }
        : { reviews: AccessReviews.of((await attempt.controlCluster()).client, ports.clock) };
    const owned = {
      register: change.register,
      prune: await ownedFleetEntries(ports.store, change.prune, attempt.owner),
    };
    const { store, settings } = ports;
    const context = { store, identity, authority, defaultServiceAccount: settings.defaultServiceAccount };
    refusals = await fleetRefusals({ ...context, revision: attempt.revision }, owned);
  } catch (error) {
    if (isUnreachable(error)) throw error;
    throw new ReconcileError(
      REASON.reconciliationFailed,
      `access review for ${identity.namespace}/${identity.name} failed: ${(error as Error).message}`,
    );
  }
  if (refusals.length > 0) throw new ReconcileError(REASON.accessDenied, refusals.join("\n"));
}

/**
 * Registers the Flux objects of a render in the Store and prunes the ones it dropped. Returns their inventory
 * entries.
 */
export async function syncFleet(
  attempt: Attempt,
  change: FleetChange,
): Promise<{ changeSet: ChangeSetEntry[]; entries: InventoryEntry[] }> {
  const { ports } = attempt;
  const changeSet = await applyFleetObjects(ports.store, ports.queue, change.register, attempt.owner);
  const entries = fromChangeSet(changeSet).entries;
  changeSet.push(...(await pruneFleetObjects(ports.store, ports.queue, change.prune, attempt.owner, attempt.now)));
  return { changeSet, entries };
}
