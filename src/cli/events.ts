import { resolve } from "node:path";
import type { Command } from "commander";
import { CLUSTER_ANNOTATION } from "../api/cluster.js";
import { parseEntryId } from "../apply/inventory.js";
import { openCluster, type Cluster } from "../cluster/cluster.js";
import { readEvents } from "../notify/file-events.js";
import { systemClock } from "../ports/clock.js";
import { statePaths } from "../runtime/state-paths.js";
import { parseDuration } from "../api/duration.js";
import { globals, openStore, readKubeconfig, type GlobalOptions } from "./context.js";
import { formatTable, say } from "./output.js";

/** The flags of `sluice events`. */
export interface EventsFlags {
  for?: string;
  allNamespaces: boolean;
  types?: string[];
  watch: boolean;
}

/** One table row before formatting: Sluice's own events and Flagger's cluster Events alike. */
interface EventRow {
  time: number;
  type: "Normal" | "Warning";
  reason: string;
  object: string;
  message: string;
}

interface CanaryRef {
  namespace: string;
  name: string;
}

/** A Kubernetes core/v1 Event, the fields Flagger's event recorder fills in. */
interface KubeEvent {
  involvedObject?: { apiVersion?: string; kind?: string; namespace?: string; name?: string };
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  metadata?: { creationTimestamp?: string };
}

// Cluster Events are written by anyone who may create Events in the namespace: bounded and on one line.
const MAX_CELL = 300;

/** The kinds `--for` names (flux's list, and Flagger's Canary), matched whatever their case. */
const KINDS = [
  "Kustomization",
  "HelmRelease",
  "GitRepository",
  "OCIRepository",
  "Bucket",
  "HelmRepository",
  "HelmChart",
  "Alert",
  "Provider",
  "Receiver",
  "ImageRepository",
  "ImagePolicy",
  "ImageUpdateAutomation",
  "ArtifactGenerator",
  "Canary",
];
const TYPES = ["Normal", "Warning"];

/**
 * `sluice events` (defined in commands/events.ts): the merged table on stdout. With `--watch`, then
 * the rows of each new event as it comes (the event log and the cluster are polled), until `--timeout`.
 */
export async function printEvents(flags: EventsFlags, command: Command): Promise<void> {
  const options = globals(command);
  const selected = selector(flags);
  const rows = await eventRows(options, flags, selected);
  if (rows.length === 0 && !flags.watch) {
    say.failure(flags.allNamespaces ? "No events found." : `No events found in ${options.namespace} namespace.`);
    return;
  }
  const header = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];
  const print = (batch: EventRow[], withHeader: boolean) => {
    if (batch.length === 0 && !withHeader) return;
    const now = Date.now();
    const cells = batch.map((r) =>
      [Number.isNaN(r.time) ? "<unknown>" : ago(now - r.time), r.type, r.reason, r.object, r.message].map(oneLine),
    );
    const text = formatTable([header, ...cells]);
    process.stdout.write(withHeader ? text : text.slice(text.indexOf("\n") + 1));
  };
  print(rows, true);
  if (!flags.watch) return;
  const seen = new Set(rows.map(rowKey));
  const deadline = Date.now() + parseDuration(options.timeout);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1_000));
    const fresh = (await eventRows(options, flags, selected)).filter((r) => !seen.has(rowKey(r)));
    for (const r of fresh) seen.add(rowKey(r));
    print(fresh, false);
  }
}

/** What `--for` and `--types` select: `Kind` or `Kind/name` in any case, as `flux events` takes them. */
interface Selected {
  kind?: string;
  name?: string;
  types?: string[];
}

function selector(flags: EventsFlags): Selected {
  const types = flags.types?.map((t) => {
    const type = TYPES.find((known) => known.toLowerCase() === t.toLowerCase());
    if (!type) throw new Error(`type '${t}' not supported. Supported types are Normal, Warning`);
    return type;
  });
  if (!flags.for) return { types };
  const [kindText, name, extra] = flags.for.split("/");
  if (!kindText || extra !== undefined) throw new Error("--for selector must be of format <kind>[/<name>]");
  const kind = KINDS.find((k) => k.toLowerCase() === kindText.toLowerCase());
  if (!kind) throw new Error(`'${kindText}' is not a recognized Flux kind`);
  return { kind, ...(name && { name }), types };
}

/** The rows to show, oldest first: Sluice's own events, and Flagger's on the Canaries selected. */
async function eventRows(options: GlobalOptions, flags: EventsFlags, selected: Selected): Promise<EventRow[]> {
  const { kind, name, types } = selected;
  const own = (await readEvents(statePaths(resolve(options.stateDir)).events)).filter(
    (e) =>
      (flags.allNamespaces || e.involvedObject.namespace === options.namespace) &&
      (!kind || e.involvedObject.kind === kind) &&
      (!name || e.involvedObject.name === name),
  );
  const rows: EventRow[] = own.map((e) => ({
    time: Date.parse(e.timestamp),
    type: e.severity === "error" ? "Warning" : "Normal",
    reason: e.reason,
    object: `${e.involvedObject.kind}/${e.involvedObject.name}`,
    message: e.message,
  }));
  const canaries =
    kind === "Canary" && name
      ? [{ namespace: options.namespace, name }]
      : !kind || kind === "Canary"
        ? await inventoryCanaries(options, flags.allNamespaces)
        : [];
  if (canaries.length > 0) {
    try {
      rows.push(...(await canaryEvents(await kubeconfigCluster(options), canaries)));
    } catch (error) {
      say.failure(`Canary events not read: ${(error as Error).message}`);
    }
  }
  return rows.filter((r) => !types || types.includes(r.type)).sort((a, b) => (a.time || 0) - (b.time || 0));
}

const rowKey = (r: EventRow) => JSON.stringify([r.time, r.type, r.reason, r.object, r.message]);

/**
 * Canaries in the inventories of the Kustomizations that apply to the kubeconfig's cluster: those
 * with a `kubeConfig` or an agent cluster apply elsewhere, where a same-named Canary is another one.
 */
async function inventoryCanaries(options: GlobalOptions, allNamespaces: boolean): Promise<CanaryRef[]> {
  const store = await openStore(options);
  const stored = await store.list({
    kind: "Kustomization",
    namespace: allNamespaces ? undefined : options.namespace,
  });
  const found = new Map<string, CanaryRef>();
  for (const { object } of stored) {
    if (
      (object.spec as { kubeConfig?: unknown } | undefined)?.kubeConfig ||
      object.metadata.annotations?.[CLUSTER_ANNOTATION]
    )
      continue;
    const entries =
      (object.status as { inventory?: { entries?: { id: string }[] } } | undefined)?.inventory?.entries ?? [];
    for (const entry of entries) {
      const id = parseEntryId(entry.id);
      if (id.group === "flagger.app" && id.kind === "Canary" && id.namespace)
        found.set(`${id.namespace}/${id.name}`, { namespace: id.namespace, name: id.name });
    }
  }
  return [...found.values()];
}

async function kubeconfigCluster(options: GlobalOptions): Promise<Cluster> {
  return openCluster({ kubeconfig: (await readKubeconfig(options)).content, context: options.context }, systemClock);
}

/** Events Flagger recorded on each Canary (`involvedObject` kind Canary of flagger.app), as table rows. */
async function canaryEvents(cluster: Cluster, canaries: CanaryRef[]): Promise<EventRow[]> {
  const lists = await Promise.all(
    canaries.map(async ({ namespace, name }) => {
      const fieldSelector = `involvedObject.kind=Canary,involvedObject.name=${name}`;
      const list = await cluster.client.send<{ items?: KubeEvent[] }>({
        method: "GET",
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        query: { fieldSelector },
      });
      return (list.items ?? []).filter(
        (e) =>
          e.involvedObject?.apiVersion?.startsWith("flagger.app/") &&
          e.involvedObject.name === name &&
          e.involvedObject.namespace === namespace,
      );
    }),
  );
  return lists.flat().map((e) => ({
    time: Date.parse(e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata?.creationTimestamp || ""),
    type: e.type === "Warning" ? "Warning" : "Normal",
    reason: bounded(oneLine(e.reason ?? "")),
    object: `Canary/${e.involvedObject!.name!}`,
    message: bounded(oneLine(e.message ?? "")),
  }));
}

/** A table cell on one line, without control characters (a terminal would run escape sequences). */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r?\n/g, ", ").replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

function bounded(text: string): string {
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL)}…` : text;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
