import { lstat, readdir, readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { parse } from "yaml";

// A chart as Helm stores it inside a release record (helm v4 pkg/chart/v2 Chart, JSON-encoded):
// the release Secret carries the chart it was made from, so `helm get values --all`, `helm get
// notes` and `helm history` read Sluice's releases as they read their own. Sub-charts (charts/)
// are not part of Helm's JSON either. Keys are in Helm's struct order, so re-encoding what Helm
// wrote gives Helm's bytes.

/** Helm's chart.Metadata, in its JSON field order. */
const METADATA_KEYS = [
  "name",
  "home",
  "sources",
  "version",
  "description",
  "keywords",
  "maintainers",
  "icon",
  "apiVersion",
  "condition",
  "tags",
  "appVersion",
  "deprecated",
  "annotations",
  "kubeVersion",
  "dependencies",
  "type",
] as const;

/** What a chart file is in Helm's JSON: its path in the chart and its bytes, base64. */
export interface ChartFile {
  name: string;
  data: string;
}

/** Helm's chart.Chart as a release record holds it. */
export interface ChartRecord {
  metadata: ChartMetadataRecord;
  lock: unknown;
  templates: ChartFile[];
  values: Record<string, unknown>;
  schema: string | null;
  files: ChartFile[];
}

export interface ChartMetadataRecord {
  name: string;
  version: string;
  appVersion?: string;
  [key: string]: unknown;
}

/**
 * Reads an extracted chart folder (already opened safely: no links, bounded size) into Helm's
 * record: Chart.yaml's metadata, Chart.lock, templates/, values.yaml, values.schema.json and the
 * other files, each in Helm's order (sorted by path, as its loader reads an archive).
 */
export async function loadChart(chartDir: string): Promise<ChartRecord> {
  const files = await filesUnder(chartDir, "");
  const text = (name: string) => files.get(name)?.toString("utf8");
  const metadata = orderedMetadata(parse(text("Chart.yaml") ?? "") as Record<string, unknown> | null);
  const lockText = text("Chart.lock");
  const valuesText = text("values.yaml");
  // YAML 1.1, as Helm's loader (sigs.k8s.io/yaml) reads it: a plain `yes`, `on` or `off` is a boolean there, and the
  // stored record must hold what Helm itself would (reuse-values and `helm get values --all` read it back).
  const values = (valuesText ? parse(valuesText, { version: "1.1", maxAliasCount: 1_000 }) : undefined) ?? {};
  const schema = files.get("values.schema.json");
  const record: ChartRecord = {
    metadata,
    lock: lockText ? parse(lockText) : null,
    templates: [],
    values: values as Record<string, unknown>,
    schema: schema ? schema.toString("base64") : null,
    files: [],
  };
  for (const [name, data] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (["Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json"].includes(name)) continue;
    if (name.startsWith("charts/")) continue;
    const file = { name, data: data.toString("base64") };
    if (name.startsWith("templates/")) record.templates.push(file);
    else record.files.push(file);
  }
  return record;
}

function orderedMetadata(raw: Record<string, unknown> | null): ChartMetadataRecord {
  const ordered: Record<string, unknown> = {};
  for (const key of METADATA_KEYS) if (raw?.[key] !== undefined && raw[key] !== null) ordered[key] = raw[key];
  return ordered as ChartMetadataRecord;
}

async function filesUnder(root: string, prefix: string): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const name = prefix ? posix.join(prefix, entry.name) : entry.name;
    const path = join(root, name);
    if (entry.isDirectory()) for (const [k, v] of await filesUnder(root, name)) found.set(k, v);
    else if ((await lstat(path)).isFile()) found.set(name, await readFile(path));
  }
  return found;
}
