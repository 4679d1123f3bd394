import type { Command } from "commander";
import type { Store, Stored } from "../store/store.js";
import { globals, openStore, type GlobalOptions } from "./context.js";
import { labelSelector } from "./label-selector.js";
import { formatTable } from "./output.js";

interface Status {
  conditions?: { type: string; status: string; reason: string; message: string }[];
  artifact?: { revision: string };
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  /** An ImageUpdateAutomation's last run. */
  lastAutomationRunTime?: string;
  /** An ImageRepository's last scan. */
  lastScanResult?: { scanTime?: string };
  /** An ImagePolicy's pick. */
  latestRef?: { name: string; tag: string };
  /** A HelmRelease's releases, newest first. */
  history?: { chartVersion: string }[];
}

/** The flags of `sluice get` (flux's persistent ones) and of its subcommands. */
export interface GetFlags {
  allNamespaces: boolean;
  /** false with `--no-header`. */
  header: boolean;
  watch: boolean;
  statusSelector?: string;
  labelSelector?: string;
  /** get kustomizations and helmreleases: a SOURCE column. */
  showSource?: boolean;
  /** get kustomizations: only those targeting this registered cluster. */
  cluster?: string;
}

type Options = GlobalOptions & GetFlags;

/** What one kind's table shows beside NAME, READY and MESSAGE, as `flux get` shows it. */
interface Columns {
  kind: string;
  /** A REVISION column; none for Providers and Alerts. */
  revision?(status: Status): string;
  /** The REVISION column's header when it shows something else (an automation's LAST RUN). */
  revisionHeader?: string;
  source?(stored: Stored): string;
  /** false: no SUSPENDED column (a Provider cannot be suspended); a function: what suspends the object, if not `spec.suspend`. */
  suspends?: false | ((stored: Stored) => boolean);
  /** How the Ready message is shown (flux shortens the digests in a Helm source's). */
  message?(text: string): string;
  /** Columns of their own after REVISION (an ImagePolicy's IMAGE and TAG, an ExternalArtifact's SOURCE). */
  cells?: { header: string; value(status: Status, stored: Stored): string }[];
  /** `kind/name` in the NAME column and an empty line after the table, no "no objects" note, as flux's `get … all`. */
  kindInName?: boolean;
}

const artifactRevision = (status: Status) => status.artifact?.revision ?? "";

/** The tables `sluice get sources …`, `get alerts` and `get alert-providers` print, by kind. */
const TABLES = {
  GitRepository: { kind: "GitRepository", revision: artifactRevision },
  // flux shortens hex digests to 8 characters in a repository's revision, not in a chart's (a SemVer).
  HelmRepository: {
    kind: "HelmRepository",
    revision: (s) => truncateHex(artifactRevision(s)),
    message: truncateHex,
  },
  HelmChart: { kind: "HelmChart", revision: artifactRevision, message: truncateHex },
  OCIRepository: {
    kind: "OCIRepository",
    revision: (s) => truncateHex(artifactRevision(s)),
    message: truncateHex,
  },
  Bucket: { kind: "Bucket", revision: (s) => truncateHex(artifactRevision(s)), message: truncateHex },
  Alert: { kind: "Alert" },
  Provider: { kind: "Provider", suspends: false },
  ImageRepository: {
    kind: "ImageRepository",
    revisionHeader: "LAST SCAN",
    revision: (s) => rfc3339(s.lastScanResult?.scanTime),
  },
  ImagePolicy: {
    kind: "ImagePolicy",
    suspends: false,
    cells: [
      { header: "IMAGE", value: (s) => s.latestRef?.name ?? "" },
      { header: "TAG", value: (s) => s.latestRef?.tag ?? "" },
    ],
  },
  // flux get sources external: NAME REVISION SOURCE READY MESSAGE, the source the generator's `Kind/namespace/name`.
  ExternalArtifact: {
    kind: "ExternalArtifact",
    revision: (s) => truncateHex(artifactRevision(s)),
    cells: [{ header: "SOURCE", value: (_, stored) => generatorOf(stored) }],
    suspends: false,
    message: truncateHex,
  },
  // flux get artifact generators: SUSPENDED is the reconcile annotation set to disabled.
  ArtifactGenerator: {
    kind: "ArtifactGenerator",
    suspends: (stored) =>
      stored.object.metadata.annotations?.["source.extensions.fluxcd.io/reconcile"]?.toLowerCase() === "disabled",
  },
  // flux prints the last run as Go's time.RFC3339 (whole seconds).
  ImageUpdateAutomation: {
    kind: "ImageUpdateAutomation",
    revisionHeader: "LAST RUN",
    revision: (s) => s.lastAutomationRunTime?.replace(/\.\d+(?=Z$)/, "") ?? "",
  },
} satisfies Record<string, Columns>;
export type TableKind = keyof typeof TABLES;

/** Go's time.RFC3339 of a timestamp (whole seconds), as flux prints times. */
const rfc3339 = (time: string | undefined) => time?.replace(/\.\d+(?=Z$)/, "") ?? "";

/**
 * `sluice get images all`: the tables of ImageRepositories, ImagePolicies and ImageUpdateAutomations, each row
 * named `kind/name` and each table followed by an empty line, kinds without objects left out, as flux prints them.
 */
export async function imagesTables(command: Command): Promise<void> {
  for (const kind of ["ImageRepository", "ImagePolicy", "ImageUpdateAutomation"] as const)
    await table(command, undefined, { ...TABLES[kind], kindInName: true });
}

/** `sluice get sources git|helm|chart [NAME]`, `get alerts [NAME]`, `get alert-providers [NAME]`. */
export function kindTable(kind: TableKind, command: Command, name: string | undefined): Promise<void> {
  return table(command, name, TABLES[kind]);
}

/** Hex digests and commit SHAs cut to their first 8 characters, as flux's TruncateHex. */
function truncateHex(text: string): string {
  return text.replace(/\b[a-f0-9]{40,128}\b/g, (hex) => hex.slice(0, 8));
}

/** `sluice get kustomizations [NAME] [--show-source] [--cluster C]`. */
export function kustomizationsTable(command: Command, name: string | undefined): Promise<void> {
  const options = globals(command) as Options;
  return table(command, name, {
    kind: "Kustomization",
    revision: (s) => s.lastAppliedRevision ?? s.lastAttemptedRevision ?? "",
    ...(options.showSource && { source: sourceOf }),
  });
}

/** `sluice get helmreleases [NAME] [--show-source]`: the chart version of the newest release, else the one last attempted. */
export function helmReleasesTable(command: Command, name: string | undefined): Promise<void> {
  const options = globals(command) as Options;
  return table(command, name, {
    kind: "HelmRelease",
    revision: (s) => s.history?.[0]?.chartVersion ?? s.lastAttemptedRevision ?? "",
    ...(options.showSource && { source: chartSourceOf }),
  });
}

/**
 * Lists the objects as flux's table; with `--watch`, then prints each object's row again whenever it
 * changes (the Store is polled), until `--timeout`, as flux watches until its timeout.
 */
async function table(command: Command, name: string | undefined, columns: Columns): Promise<void> {
  const options = globals(command) as Options;
  const store = await openStore(options);
  const keep = await filters(store, options, name);
  const where = `${options.allNamespaces ? "any" : options.namespace} namespace${options.cluster ? ` for cluster '${options.cluster}'` : ""}`;
  const list = async () =>
    (await store.list({ kind: columns.kind, namespace: options.allNamespaces ? undefined : options.namespace })).filter(
      keep,
    );
  const found = await list();
  if (!options.watch && name && found.length === 0)
    throw new Error(`${columns.kind} object '${name}' not found in ${where}`);
  if (!options.watch && found.length === 0) {
    if (!columns.kindInName) process.stderr.write(`no ${columns.kind} objects found in ${where}\n`);
    return;
  }
  const header = [
    ...(options.allNamespaces ? ["NAMESPACE"] : []),
    "NAME",
    ...(columns.source ? ["SOURCE"] : []),
    ...(columns.revision ? [columns.revisionHeader ?? "REVISION"] : []),
    ...(columns.cells ?? []).map((c) => c.header),
    ...(columns.suspends === false ? [] : ["SUSPENDED"]),
    "READY",
    "MESSAGE",
  ];
  const print = (rows: Stored[], withHeader: boolean) => {
    if (rows.length === 0 && !withHeader) return;
    const cells = rows.map((s) => row(s, columns, options.allNamespaces));
    const text = formatTable([header, ...cells]);
    process.stdout.write(withHeader ? text : text.slice(text.indexOf("\n") + 1));
  };
  print(found, options.header);
  if (columns.kindInName) process.stdout.write("\n");
  if (!options.watch) return;
  // Later rows come without the header, as flux's watch prints them.
  const seen = new Map(found.map((s) => [keyText(s), s.version]));
  // Imported here: api/duration.ts brings zod, which a plain `sluice get` does without.
  const { parseDuration } = await import("../api/duration.js");
  const deadline = Date.now() + parseDuration(options.timeout);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const changed = (await list()).filter((s) => seen.get(keyText(s)) !== s.version);
    for (const s of changed) seen.set(keyText(s), s.version);
    print(changed, false);
  }
}

/** `[NAME]`, `-l`, `--status-selector` and `--cluster` as one predicate; a selector that does not parse fails here. */
async function filters(store: Store, options: Options, name: string | undefined): Promise<(s: Stored) => boolean> {
  const labels = labelSelector(options.labelSelector ?? "");
  const status = statusSelector(options.statusSelector);
  const inCluster = options.cluster ? await clusterFilter(store, options.cluster) : () => true;
  return (s) =>
    (!name || s.object.metadata.name === name) && labels(s.object.metadata.labels) && status(s) && inCluster(s);
}

/**
 * `type=status` or `type!=status`, case-insensitive, as flux's `--status-selector`: an object
 * without the condition matches neither (and so every `!=`).
 */
function statusSelector(text: string | undefined): (stored: Stored) => boolean {
  if (!text) return () => true;
  const negated = text.includes("!=");
  const [type, wanted] = text.split(negated ? "!=" : "=", 2);
  if (wanted === undefined)
    throw new Error(`expected status selector in type=status or type!=status format, but found: ${text}`);
  return (stored) => {
    const conditions = (stored.object.status as Status | undefined)?.conditions ?? [];
    const condition = conditions.findLast((c) => c.type.toLowerCase() === type!.toLowerCase());
    return negated !== (condition?.status.toLowerCase() === wanted.toLowerCase());
  };
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

/** `Kind/namespace/name` of a Kustomization's source, the namespace its own when unset, as flux's SOURCE column. */
function sourceOf(stored: Stored): string {
  const ref = (stored.object.spec as { sourceRef?: { kind: string; name: string; namespace?: string } }).sourceRef;
  return ref ? `${ref.kind}/${ref.namespace ?? stored.object.metadata.namespace}/${ref.name}` : "";
}

/** `Kind/namespace/name` of a HelmRelease's chartRef, else of its chart template's source, as flux's SOURCE column. */
function chartSourceOf(stored: Stored): string {
  type Ref = { kind: string; name: string; namespace?: string };
  const spec = stored.object.spec as { chartRef?: Ref; chart?: { spec: { sourceRef: Ref } } };
  const ref = spec.chartRef ?? spec.chart?.spec.sourceRef;
  return ref ? `${ref.kind}/${ref.namespace ?? stored.object.metadata.namespace}/${ref.name}` : "";
}

/** An ExternalArtifact's sourceRef as flux prints it: `Kind/namespace/name`, empty without one. */
function generatorOf(stored: Stored): string {
  const ref = (stored.object.spec as { sourceRef?: { kind: string; name: string; namespace?: string } }).sourceRef;
  return ref ? `${ref.kind}/${ref.namespace ?? ""}/${ref.name}` : "";
}

const keyText = (s: Stored) => `${s.object.metadata.namespace}/${s.object.metadata.name}`;

function row(stored: Stored, columns: Columns, withNamespace: boolean): string[] {
  const status = (stored.object.status ?? {}) as Status;
  const ready = status.conditions?.find((c) => c.type === "Ready");
  const suspended =
    typeof columns.suspends === "function"
      ? columns.suspends(stored)
      : Boolean((stored.object.spec as { suspend?: boolean } | undefined)?.suspend);
  const cells = [
    columns.kindInName
      ? `${stored.object.kind.toLowerCase()}/${stored.object.metadata.name}`
      : stored.object.metadata.name,
    ...(columns.source ? [columns.source(stored)] : []),
    ...(columns.revision ? [columns.revision(status)] : []),
    ...(columns.cells ?? []).map((c) => c.value(status, stored)),
    // As flux prints it: Go's bool in title case.
    ...(columns.suspends === false ? [] : [suspended ? "True" : "False"]),
    ready?.status ?? "Unknown",
    (columns.message ?? String)(ready?.message ?? "waiting to be reconciled").replaceAll("\n", " "),
  ];
  return withNamespace ? [stored.object.metadata.namespace ?? "", ...cells] : cells;
}
