import type { Command } from "commander";
import type { Store, Stored } from "../store/store.js";
import { globals, openStore } from "./context.js";
import { formatTable } from "./output.js";

interface Status {
  conditions?: { type: string; status: string; reason: string; message: string }[];
  artifact?: { revision: string };
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
}

/** `sluice get sources git [NAME]`. */
export function sourcesTable(command: Command, name: string | undefined): Promise<void> {
  return table(command, "GitRepository", name, (s) => s.artifact?.revision ?? "");
}

/** `sluice get kustomizations [NAME] [--cluster C]`. */
export function kustomizationsTable(command: Command, name: string | undefined, cluster?: string): Promise<void> {
  return table(command, "Kustomization", name, (s) => s.lastAppliedRevision ?? s.lastAttemptedRevision ?? "", cluster);
}

async function table(
  command: Command,
  kind: string,
  name: string | undefined,
  revisionOf: (s: Status) => string,
  cluster?: string,
): Promise<void> {
  const options = globals(command) as ReturnType<typeof globals> & { allNamespaces: boolean };
  const store = await openStore(options);
  const inCluster = cluster ? await clusterFilter(store, cluster) : () => true;
  const stored = (await store.list({ kind, namespace: options.allNamespaces ? undefined : options.namespace }))
    .filter((s) => !name || s.object.metadata.name === name)
    .filter(inCluster);
  const where = `${options.allNamespaces ? "any" : options.namespace} namespace${cluster ? ` for cluster '${cluster}'` : ""}`;
  if (name && stored.length === 0) throw new Error(`${kind} object '${name}' not found in ${where}`);
  if (stored.length === 0) {
    process.stderr.write(`no ${kind} objects found in ${where}\n`);
    return;
  }
  const header = [...(options.allNamespaces ? ["NAMESPACE"] : []), "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"];
  process.stdout.write(formatTable([header, ...stored.map((s) => row(s, revisionOf, options.allNamespaces))]));
}

/**
 * Keeps the Kustomizations targeting a registered cluster. Imported here, not at the top: the
 * registration's schema loads zod, a third of a plain `sluice get`'s start-up.
 */
async function clusterFilter(store: Store, cluster: string): Promise<(stored: Stored) => boolean> {
  const [{ clusterKey }, { targetCluster }] = await Promise.all([import("../api/cluster.js"), import("./clusters.js")]);
  if (!(await store.get(clusterKey(cluster))))
    throw new Error(`--cluster: cluster '${cluster}' is not registered (sluice get clusters lists them)`);
  return (stored) => targetCluster(stored) === cluster;
}

function row(stored: Stored, revisionOf: (s: Status) => string, withNamespace: boolean): string[] {
  const status = (stored.object.status ?? {}) as Status;
  const ready = status.conditions?.find((c) => c.type === "Ready");
  const suspended = Boolean((stored.object.spec as { suspend?: boolean } | undefined)?.suspend);
  const cells = [
    stored.object.metadata.name,
    revisionOf(status),
    String(suspended),
    ready?.status ?? "Unknown",
    (ready?.message ?? "waiting to be reconciled").replaceAll("\n", " "),
  ];
  return withNamespace ? [stored.object.metadata.namespace ?? "", ...cells] : cells;
}
