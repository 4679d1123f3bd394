import { CLUSTER_ANNOTATION, clusterRegistration } from "../api/cluster.js";
import { parseObject } from "../api/parse.js";
import type { Stored } from "../store/store.js";
import { cliAws, openStore, type GlobalOptions } from "./context.js";
import { formatTable } from "./output.js";

interface KustomizationStatus {
  conditions?: { type: string; status: string; lastTransitionTime?: string }[];
  lastAppliedRevision?: string;
}

/** The registered cluster a Kustomization targets; undefined: the control plane's own. */
export function targetCluster(stored: Stored): string | undefined {
  return stored.object.metadata.annotations?.[CLUSTER_ANNOTATION];
}

/** What a fleet operator asks of each cluster: how many Kustomizations target it, how many are Ready or failing, and what it last got. */
export interface ClusterSummary {
  objects: number;
  ready: number;
  failing: number;
  /** The lastAppliedRevision of the Kustomization that became Ready most recently. */
  lastApplied?: string;
}

export function summarize(kustomizations: Stored[]): ClusterSummary {
  const summary: ClusterSummary = { objects: kustomizations.length, ready: 0, failing: 0 };
  let latest = "";
  for (const stored of kustomizations) {
    const status = (stored.object.status ?? {}) as KustomizationStatus;
    const ready = status.conditions?.find((c) => c.type === "Ready");
    if (ready?.status === "True") summary.ready++;
    if (ready?.status === "False") summary.failing++;
    const at = ready?.status === "True" ? (ready.lastTransitionTime ?? "") : "";
    if (status.lastAppliedRevision && (summary.lastApplied === undefined || at > latest)) {
      summary.lastApplied = status.lastAppliedRevision;
      latest = at;
    }
  }
  return summary;
}

/**
 * `sluice get clusters`: NAME MODE LAST CONTACT REVISION BUNDLES (an agent's heartbeat) and, per
 * cluster, its Kustomizations (all namespaces): OBJECTS READY FAILING LAST APPLIED.
 */
export async function clustersTable(options: GlobalOptions): Promise<void> {
  const store = await openStore(options);
  const [registered, kustomizations] = await Promise.all([
    store.list({ kind: "Cluster" }),
    store.list({ kind: "Kustomization" }),
  ]);
  if (registered.length === 0) {
    process.stderr.write("no clusters registered (sluice create cluster NAME --mode agent|direct)\n");
    return;
  }
  const heartbeatOf = options.awsBucket
    ? (await import("./aws.js")).heartbeatReader(options.awsBucket, cliAws())
    : undefined;
  const rows = await Promise.all(
    registered.map(async (stored) => {
      const { metadata, spec } = parseObject(clusterRegistration, stored.object);
      const heartbeat = spec.mode === "agent" && heartbeatOf ? await heartbeatOf(metadata.name) : undefined;
      const summary = summarize(kustomizations.filter((k) => targetCluster(k) === metadata.name));
      return [
        metadata.name,
        spec.mode,
        heartbeat?.lastContact ?? "-",
        heartbeat?.revision ?? "-",
        heartbeat ? String(heartbeat.bundles) : "-",
        String(summary.objects),
        String(summary.ready),
        String(summary.failing),
        summary.lastApplied ?? "-",
      ];
    }),
  );
  process.stdout.write(
    formatTable([
      ["NAME", "MODE", "LAST CONTACT", "REVISION", "BUNDLES", "OBJECTS", "READY", "FAILING", "LAST APPLIED"],
      ...rows,
    ]),
  );
}
