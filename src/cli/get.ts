import { Command } from "commander";
import type { Stored } from "../store/store.js";
import { clusterKey } from "../api/cluster.js";
import { clustersTable, targetCluster } from "./clusters.js";
import { fail, globals, openStore } from "./context.js";
import { formatTable } from "./output.js";

interface Status {
  conditions?: { type: string; status: string; reason: string; message: string }[];
  artifact?: { revision: string };
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
}

/** `sluice get sources git`, `sluice get kustomizations`: `flux get`'s table (NAME REVISION SUSPENDED READY MESSAGE). */
export function getCommand(): Command {
  const get = new Command("get")
    .description("Show the status of sources and Kustomizations")
    .option("-A, --all-namespaces", "list across all namespaces", false);
  const sources = new Command("sources").description("Show the status of sources");
  sources.addCommand(
    new Command("git")
      .description("Show the status of GitRepository sources")
      .argument("[name]")
      .action((name: string | undefined, _flags, command: Command) =>
        table(command, "GitRepository", name, (s) => s.artifact?.revision ?? "").catch(fail),
      ),
  );
  get.addCommand(sources);
  get.addCommand(
    new Command("kustomizations")
      .alias("ks")
      .alias("kustomization")
      .description("Show the status of Kustomizations")
      .argument("[name]")
      .option("--cluster <name>", "only those targeting this registered cluster (annotation sluice.dev/cluster)")
      .action((name: string | undefined, flags: { cluster?: string }, command: Command) =>
        table(
          command,
          "Kustomization",
          name,
          (s) => s.lastAppliedRevision ?? s.lastAttemptedRevision ?? "",
          flags.cluster,
        ).catch(fail),
      ),
  );
  get.addCommand(
    new Command("clusters")
      .description(
        "Show registered clusters: mode, an agent's last contact and revision, and their Kustomizations (objects, Ready, failing, last applied)",
      )
      .action((_flags, command: Command) => clustersTable(globals(command)).catch(fail)),
  );
  return get;
}

async function table(
  command: Command,
  kind: string,
  name: string | undefined,
  revisionOf: (s: Status) => string,
  cluster?: string,
): Promise<void> {
  const options = globals(command) as ReturnType<typeof globals> & { allNamespaces: boolean };
  const store = openStore(options);
  if (cluster && !(await store.get(clusterKey(cluster))))
    throw new Error(`--cluster: cluster '${cluster}' is not registered (sluice get clusters lists them)`);
  const stored = (await store.list({ kind, namespace: options.allNamespaces ? undefined : options.namespace }))
    .filter((s) => !name || s.object.metadata.name === name)
    .filter((s) => !cluster || targetCluster(s) === cluster);
  const where = `${options.allNamespaces ? "any" : options.namespace} namespace${cluster ? ` for cluster '${cluster}'` : ""}`;
  if (name && stored.length === 0) throw new Error(`${kind} object '${name}' not found in ${where}`);
  if (stored.length === 0) {
    process.stderr.write(`no ${kind} objects found in ${where}\n`);
    return;
  }
  const header = [...(options.allNamespaces ? ["NAMESPACE"] : []), "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"];
  process.stdout.write(formatTable([header, ...stored.map((s) => row(s, revisionOf, options.allNamespaces))]));
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
