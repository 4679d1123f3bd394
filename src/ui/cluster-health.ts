import { formatKey, keyOf } from "../api/object-key.js";
import { admitFluxObject } from "../api/parse.js";
import type { Kustomization } from "../api/kustomization.js";
import { customHealth, type CustomHealth } from "../apply/health/expressions.js";
import type { InventoryEntry } from "../apply/inventory.js";
import { checkHealth, refOfEntry } from "../apply/wait.js";
import { Attempt } from "../controllers/kustomize/attempt.js";
import { placementPhase } from "../controllers/placement.js";
import type { ReconcilerPorts } from "../controllers/reconciler-ports.js";
import type { Stored } from "../store/store.js";
import type { HealthReader, HealthReading } from "./api/health.js";
import type { HealthState } from "./api/types.js";

// `sluice run`'s reader of inventory health: the cluster a Kustomization applies to, as the identity it applies as
// (its serviceAccountName, its kubeConfig), so the page shows only what that Kustomization could read itself, and
// of each object only its kstatus and message.

/** GETs in flight per check: a page of a huge inventory must not flood the API server. */
const CONCURRENCY = 8;

export function clusterHealth(ports: ReconcilerPorts): HealthReader {
  // Pages open on the same object (or one reloading) share a check rather than each starting one.
  const inFlight = new Map<string, Promise<HealthReading>>();
  return (owner, entries) => {
    const key = formatKey(keyOf(owner.object));
    let reading = inFlight.get(key);
    if (!reading) {
      reading = read(ports, owner, entries).finally(() => inFlight.delete(key));
      inFlight.set(key, reading);
    }
    return reading;
  };
}

async function read(ports: ReconcilerPorts, owner: Stored, entries: InventoryEntry[]): Promise<HealthReading> {
  if (owner.object.kind !== "Kustomization")
    return { notChecked: `the health of a ${owner.object.kind}'s objects is not read` };
  try {
    const ks = admitFluxObject(owner.object).object as Kustomization;
    const attempt = new Attempt(ports, ks);
    const placement = await placementPhase(ports, ks, attempt.identity);
    if (placement.mode === "agent")
      return {
        notChecked: `its objects are in agent cluster '${placement.cluster}', which the control plane holds no credentials for (its agent reports only the Kustomization's Ready)`,
      };
    attempt.target = placement.target;
    const cluster = await attempt.cluster();
    const objects: Record<string, { status: HealthState; message: string }> = {};
    const custom = rules(ks);
    for (let i = 0; i < entries.length; i += CONCURRENCY) {
      const batch = entries.slice(i, i + CONCURRENCY);
      const report = await checkHealth(cluster, batch.map(refOfEntry), custom);
      batch.forEach((entry, j) => {
        const { status, message } = report.objects[j]!;
        objects[entry.id] = { status, message };
      });
    }
    return { identity: cluster.client.identity, objects };
  } catch (error) {
    // What the reconciler would say in its Ready message (no cluster, a refused placement, an invalid spec).
    return { notChecked: (error as Error).message };
  }
}

/** The Kustomization's own healthCheckExprs; ones that do not compile leave kstatus to judge (its Ready says why). */
function rules(ks: Kustomization): CustomHealth | undefined {
  try {
    return customHealth(ks.spec.healthCheckExprs);
  } catch {
    return undefined;
  }
}
