import { clusterRegistration } from "../../api/cluster.js";
import { formatImageRef, type ImageRef } from "../../api/imagepolicy.js";
import { formatKey, keyOf, type ObjectKey } from "../../api/object-key.js";
import { parseEntryId } from "../../apply/inventory.js";
import type { AgentHeartbeat } from "../../bundle/channel.js";
import { summarize, targetCluster } from "../../cli/clusters.js";
import type { FluxEvent } from "../../notify/events.js";
import { REQUESTABLE_KINDS } from "../../api/requestable-kinds.js";
import type { Stored } from "../../store/store.js";
import {
  DRIFT_LIMIT,
  EVENT_LIMIT,
  GRAPH_LIMIT,
  type ClusterRow,
  type Condition,
  type EventRow,
  type GraphNode,
  type InventoryItem,
  type ObjectDetail,
  type ObjectRow,
  type ReadyState,
  type SourceRow,
} from "./types.js";

// What each page shows, computed from the Store and the event log. Pure: the router reads, these shape.

/** The kinds the sources page lists. */
export const SOURCE_KINDS = [
  "GitRepository",
  "OCIRepository",
  "Bucket",
  "HelmRepository",
  "HelmChart",
  "ExternalArtifact",
];
/** Sluice's own bookkeeping kinds, shown on their own pages rather than as Flux objects. */
const NOT_FLUX = new Set(["Cluster"]);
// A message is attacker text and may be long; the overview needs its start only (the object page has it all).
const ROW_MESSAGE_CHARS = 400;

interface Status {
  conditions?: Condition[];
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  history?: { chartVersion?: string }[];
  artifact?: { revision?: string; lastUpdateTime?: string; size?: number; url?: string };
  latestRef?: ImageRef;
  lastScanResult?: { latestTags?: string[] };
  inventory?: { entries?: { id: string; v: string }[] };
}

const statusOf = (stored: Stored) => (stored.object.status ?? {}) as Status;
const readyOf = (status: Status) => status.conditions?.find((c) => c.type === "Ready");

/** The revision a kind reports, as `sluice get` shows it. */
function revisionOf(kind: string, status: Status): string {
  if (kind === "Kustomization") return status.lastAppliedRevision ?? status.lastAttemptedRevision ?? "";
  if (kind === "HelmRelease") return status.history?.[0]?.chartVersion ?? status.lastAttemptedRevision ?? "";
  if (kind === "ImagePolicy" && status.latestRef) return formatImageRef(status.latestRef);
  return status.artifact?.revision ?? "";
}

export function rowOf(stored: Stored): ObjectRow {
  const { kind, namespace, name } = keyOf(stored.object);
  const status = statusOf(stored);
  const ready = readyOf(status);
  const cluster = targetCluster(stored);
  const message = ready?.message ?? "";
  return {
    kind,
    namespace,
    name,
    ...(cluster !== undefined && { cluster }),
    ready: (ready?.status as ReadyState | undefined) ?? "-",
    reason: ready?.reason ?? "",
    message: message.length > ROW_MESSAGE_CHARS ? `${message.slice(0, ROW_MESSAGE_CHARS)}…` : message,
    revision: revisionOf(kind, status),
    suspended: (stored.object.spec as { suspend?: boolean } | undefined)?.suspend === true,
    since: ready?.lastTransitionTime ?? (stored.object.metadata.creationTimestamp as string | undefined) ?? "",
  };
}

const RANK: Record<ReadyState, number> = { False: 0, Unknown: 1, "-": 2, True: 3 };

/** Failing first, then in progress, not yet reconciled, Ready; within each by kind, namespace, name. */
export function byAttention(a: ObjectRow, b: ObjectRow): number {
  return RANK[a.ready] - RANK[b.ready] || formatKey(a).localeCompare(formatKey(b));
}

export function overview(objects: Stored[]): ObjectRow[] {
  return objects
    .filter((s) => !NOT_FLUX.has(s.object.kind))
    .map(rowOf)
    .sort(byAttention);
}

export function sources(objects: Stored[]): SourceRow[] {
  return objects
    .filter((s) => SOURCE_KINDS.includes(s.object.kind))
    .map((stored) => {
      const { artifact } = statusOf(stored);
      const spec = (stored.object.spec ?? {}) as {
        url?: string;
        endpoint?: string;
        bucketName?: string;
        chart?: string;
      };
      const url = spec.url ?? (spec.endpoint ? `${spec.endpoint}/${spec.bucketName ?? ""}` : (spec.chart ?? ""));
      return {
        ...rowOf(stored),
        url,
        lastFetch: artifact?.lastUpdateTime ?? "",
        ...(artifact?.size !== undefined && { size: artifact.size }),
      };
    })
    .sort(byAttention);
}

/** Reads an agent cluster's last heartbeat; absent where no bundle channel exists (`sluice run`). */
export type HeartbeatReader = (cluster: string) => Promise<AgentHeartbeat | undefined>;

export async function clusters(
  registered: Stored[],
  kustomizations: Stored[],
  heartbeat?: HeartbeatReader,
): Promise<ClusterRow[]> {
  return Promise.all(
    registered.map(async (stored) => {
      const name = stored.object.metadata.name;
      const parsed = clusterRegistration.safeParse(stored.object);
      const mode = parsed.success ? parsed.data.spec.mode : "invalid";
      const beat = mode === "agent" && heartbeat ? await heartbeat(name) : undefined;
      const summary = summarize(kustomizations.filter((k) => targetCluster(k) === name));
      return {
        name,
        mode,
        ...(beat && { lastContact: beat.lastContact, revision: beat.revision, bundles: beat.bundles }),
        ...summary,
      };
    }),
  );
}

export function eventRows(events: FluxEvent[]): EventRow[] {
  let reports = 0;
  return events
    .slice(-EVENT_LIMIT)
    .reverse()
    .map((e) => ({
      timestamp: e.timestamp,
      severity: e.severity,
      reason: e.reason,
      message: e.message,
      ...(e.metadata.revision !== undefined && { revision: e.metadata.revision }),
      ...(e.metadata[ACTOR_METADATA] !== undefined && { actor: e.metadata[ACTOR_METADATA] }),
      ...(e.drift &&
        reports++ < DRIFT_LIMIT && {
          drift: e.drift.objects.map(({ subject, diff }) => ({
            subject,
            changes: diff.changes,
            omitted: diff.omitted,
          })),
          ...(e.drift.omitted > 0 && { driftOmitted: e.drift.omitted }),
        }),
    }));
}

/** The event metadata key naming who asked for an action. */
export const ACTOR_METADATA = "sluice.dev/actor";

/** The Flux objects an object points at (its source, chart, dependsOn), as graph edges into it. */
function referencesOf(stored: Stored): ObjectKey[] {
  const { namespace } = keyOf(stored.object);
  const spec = (stored.object.spec ?? {}) as {
    sourceRef?: { kind: string; name: string; namespace?: string };
    chartRef?: { kind: string; name: string; namespace?: string };
    dependsOn?: { name: string; namespace?: string }[];
  };
  const refs = [spec.sourceRef, spec.chartRef].flatMap((r) =>
    r ? [{ kind: r.kind, namespace: r.namespace ?? namespace, name: r.name }] : [],
  );
  for (const d of spec.dependsOn ?? [])
    refs.push({ kind: stored.object.kind, namespace: d.namespace ?? namespace, name: d.name });
  return refs;
}

export function detail(stored: Stored, all: Stored[], events: FluxEvent[]): ObjectDetail {
  const key = keyOf(stored.object);
  const status = statusOf(stored);
  const byKey = new Map(all.map((s) => [formatKey(keyOf(s.object)), s]));
  const readyAt = (k: ObjectKey) => {
    const found = byKey.get(formatKey(k));
    return found && ((readyOf(statusOf(found))?.status as ReadyState | undefined) ?? "-");
  };
  const inventory: InventoryItem[] = (status.inventory?.entries ?? []).flatMap((entry) => {
    try {
      const id = parseEntryId(entry.id);
      const ready = readyAt({ kind: id.kind, namespace: id.namespace, name: id.name });
      return [{ ...id, version: entry.v, ...(ready && { ready }) }];
    } catch {
      return []; // a malformed id is the reconciler's to report; the page lists what it can name
    }
  });
  const node = (k: ObjectKey): GraphNode => {
    const ready = readyAt(k);
    return { id: formatKey(k), ...k, ...(ready && { ready }), stored: byKey.has(formatKey(k)) };
  };
  const self = node(key);
  const nodes = new Map<string, GraphNode>([[self.id, self]]);
  const edges: [string, string][] = [];
  const link = (from: GraphNode, to: GraphNode) => {
    nodes.set(from.id, nodes.get(from.id) ?? from);
    nodes.set(to.id, nodes.get(to.id) ?? to);
    edges.push([from.id, to.id]);
  };
  for (const ref of referencesOf(stored)) link(node(ref), self);
  // Who uses this object: a source's Kustomizations and HelmCharts, a Kustomization's dependents.
  for (const other of all)
    if (referencesOf(other).some((r) => formatKey(r) === self.id)) link(self, node(keyOf(other.object)));
  for (const item of inventory.slice(0, GRAPH_LIMIT)) link(self, node(item));
  const ready = readyOf(status);
  const requestable = (REQUESTABLE_KINDS as readonly string[]).includes(key.kind);
  const suspended = (stored.object.spec as { suspend?: boolean } | undefined)?.suspend === true;
  return {
    row: { ...rowOf(stored), message: ready?.message ?? "" },
    object: stored.object,
    conditions: status.conditions ?? [],
    events: eventRows(events),
    inventory,
    graph: { nodes: [...nodes.values()], edges, truncated: inventory.length > GRAPH_LIMIT },
    actions: {
      reconcile: requestable && !suspended,
      suspend: requestable && !suspended,
      resume: requestable && suspended,
      withSource: ["Kustomization", "HelmRelease", "HelmChart"].includes(key.kind),
    },
  };
}
