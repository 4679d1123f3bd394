import { lstat, readdir, readFile, writeFile } from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import ignore from "ignore";
import semver from "semver";
import { create as createTar } from "tar";
import { isMap, parseDocument, stringify } from "yaml";
import { extractArchive, UnsafeArchiveError } from "../artifacts/extract.js";
import { parseVersion } from "./helm-index.js";

// A chart as source-controller's chart builders handle one: an archive opened safely (it is
// attacker input), its Chart.yaml validated, values files merged in order into values.yaml, the
// version given build metadata, and the folder packaged again as `helm package` lays it out.

/** Helm's MaxDecompressedChartSize: what one chart archive may expand to. */
const MAX_CHART_EXPANDED_BYTES = 100 << 20;
/** Alias expansions a Chart.yaml or values file may make (a real one has few or none). */
const MAX_ALIASES = 1_000;

/** source-controller's chart build error reasons (internal/helm/chart/errors.go): the condition reason and the message's start. */
export const BUILD_ERROR = {
  reference: { reason: "InvalidChartReference", summary: "invalid chart reference" },
  pull: { reason: "ChartPullError", summary: "chart pull error" },
  metadataPatch: { reason: "MetadataPatchError", summary: "chart metadata patch error" },
  valuesFiles: { reason: "ValuesFilesError", summary: "values files merge error" },
  dependencyBuild: { reason: "DependencyBuildError", summary: "dependency build error" },
  packaging: { reason: "ChartPackageError", summary: "chart package error" },
  verification: { reason: "ChartVerificationError", summary: "chart verification error" },
} as const;
export type BuildErrorKind = (typeof BUILD_ERROR)[keyof typeof BUILD_ERROR];

/** A chart build failed: `reason` is Flux's, the message `<summary>: <what failed>`. */
export class ChartBuildError extends Error {
  override name = "ChartBuildError";
  readonly reason: string;
  constructor(
    readonly kind: BuildErrorKind,
    detail: string,
  ) {
    super(`${kind.summary}: ${detail}`);
    this.reason = kind.reason;
  }
}

/** What Sluice reads of a Chart.yaml. */
export interface ChartMetadata {
  name: string;
  version: string;
  dependencies: { name: string; version?: string; repository?: string; alias?: string }[];
}

/**
 * Extracts a chart archive into `dir` (empty) with the safe extraction every artifact gets — no
 * links, no `..`, bounded size — and returns the chart's folder: the archive's one top-level folder.
 */
export async function openChartArchive(data: Buffer, dir: string): Promise<string> {
  try {
    await extractArchive(data, dir, { maxBytes: MAX_CHART_EXPANDED_BYTES });
  } catch (error) {
    if (error instanceof UnsafeArchiveError)
      throw new Error(`unsafe chart archive: ${error.message}`, { cause: error });
    throw error;
  }
  const top = await readdir(dir, { withFileTypes: true });
  if (top.length !== 1 || !top[0]!.isDirectory())
    throw new Error("chart archive must hold exactly one top-level folder, the chart");
  return join(dir, top[0]!.name);
}

/** Chart.yaml validated as Helm's Metadata.Validate: an apiVersion, a name without path separators, a SemVer version. */
export async function readChartMetadata(chartDir: string): Promise<ChartMetadata> {
  const file = join(chartDir, "Chart.yaml");
  if (!(await isRegularFile(file))) throw new Error("Chart.yaml file is missing");
  const value = parseYaml(await readFile(file, "utf8"), "Chart.yaml") as
    (Partial<ChartMetadata> & { apiVersion?: unknown }) | null;
  if (!value?.apiVersion) throw new Error("validation: chart.metadata.apiVersion is required");
  const { name, version } = value;
  if (!name) throw new Error("validation: chart.metadata.name is required");
  if (typeof name !== "string" || name === "." || name === ".." || /[/\\]/.test(name))
    throw new Error(`validation: chart.metadata.name '${String(name)}' is invalid`);
  if (!version) throw new Error("validation: chart.metadata.version is required");
  if (typeof version !== "string" || parseVersion(version) === null)
    throw new Error(`validation: chart.metadata.version '${String(version)}' is invalid`);
  const dependencies = Array.isArray(value.dependencies) ? value.dependencies : [];
  return { name, version, dependencies };
}

/** `version` with build metadata set (Masterminds' SetMetadata): `1.2.3+5`, replacing any it had. */
export function withBuildMetadata(version: string, metadata: string): string {
  const parsed = parseVersion(version);
  if (!parsed) throw new Error(`failed to parse version from chart metadata as SemVer: ${version}`);
  if (!/^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/.test(metadata))
    throw new Error(`failed to set SemVer metadata on chart version: invalid metadata string '${metadata}'`);
  const pre = parsed.prerelease.length > 0 ? `-${parsed.prerelease.join(".")}` : "";
  return `${parsed.major}.${parsed.minor}.${parsed.patch}${pre}+${metadata}`;
}

/**
 * `valuesFiles` read from `baseDir` (the chart's folder for a chart from a repository, the source's
 * root for one from Git; a path cannot leave it) and deep-merged in order, a later file winning.
 * A missing file fails, or is skipped with `ignoreMissing`. Returns the merge and the files used.
 */
export async function mergeValuesFiles(
  baseDir: string,
  paths: string[],
  ignoreMissing: boolean,
): Promise<{ values: Record<string, unknown>; used: string[] }> {
  let values: Record<string, unknown> = {};
  const used: string[] = [];
  for (const path of paths) {
    const file = join(baseDir, posix.normalize(`/${path}`));
    if (!(await isRegularFile(file))) {
      if (ignoreMissing) continue;
      throw new Error(`no values file found at path '${path}'`);
    }
    const parsed = parseYaml(await readFile(file, "utf8"), path);
    if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed)))
      throw new Error(`unmarshaling values from '${path}' failed: not a map of values`);
    values = mergeMaps(values, (parsed ?? {}) as Record<string, unknown>);
    used.push(path);
  }
  return { values, used };
}

/**
 * Writes merged values as the chart's values.yaml (source-controller's OverwriteChartDefaultValues).
 * Returns whether it changed; a chart without values.yaml cannot take them.
 */
export async function overwriteValues(chartDir: string, values: Record<string, unknown>): Promise<boolean> {
  const file = join(chartDir, "values.yaml");
  if (!(await isRegularFile(file))) throw new Error("failed to locate values file: values.yaml");
  const encoded = Object.keys(values).length > 0 ? stringify(values) : "";
  if ((await readFile(file, "utf8")) === encoded) return false;
  await writeFile(file, encoded);
  return true;
}

/** Sets Chart.yaml's version, the rest of the file kept as written. */
export async function setChartVersion(chartDir: string, version: string): Promise<void> {
  const file = join(chartDir, "Chart.yaml");
  const doc = parseDocument(await readFile(file, "utf8"));
  doc.set("version", version);
  await writeFile(file, doc.toString());
}

/**
 * Packages the chart folder as `helm package` does: a `.tgz` of `<name>/…`, files matched by its
 * `.helmignore` left out, regular files only. Entries are sorted with fixed times and owners, so the
 * same chart gives the same bytes.
 */
export async function packageChart(chartDir: string, name: string): Promise<Buffer> {
  const rules = ignore();
  const helmignore = join(chartDir, ".helmignore");
  if (await isRegularFile(helmignore)) rules.add(await readFile(helmignore, "utf8"));
  const files: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(folder, entry.name);
      const path = relative(chartDir, full).split(sep).join("/");
      if (entry.isDirectory()) {
        if (!rules.ignores(`${path}/`)) await walk(full);
      } else if (entry.isFile() && (path === "Chart.yaml" || !rules.ignores(path))) files.push(path);
    }
  };
  await walk(chartDir);
  const chunks: Buffer[] = [];
  const stream = createTar({ gzip: true, cwd: chartDir, prefix: name, portable: true, mtime: new Date(0) }, files);
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Whether `version` satisfies a dependency's `version` constraint (none: any). */
export function satisfiesConstraint(version: string, constraint: string | undefined): boolean {
  if (!constraint) return true;
  const parsed = parseVersion(version);
  return parsed !== null && semver.satisfies(parsed, constraint.replaceAll(",", " "), { loose: true });
}

/** fluxcd/pkg's transform.MergeMaps: maps merged key by key, anything else replaced by b's value. */
function mergeMaps(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const before = out[key];
    out[key] = isPlainMap(value) && isPlainMap(before) ? mergeMaps(before, value) : value;
  }
  return out;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseYaml(text: string, name: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) throw new Error(`unmarshaling ${name} failed: ${doc.errors[0]!.message.split("\n")[0]}`);
  if (doc.contents !== null && !isMap(doc.contents) && name === "Chart.yaml")
    throw new Error("unmarshaling Chart.yaml failed: not a map");
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown;
  } catch (error) {
    throw new Error(`unmarshaling ${name} failed: ${(error as Error).message}`, { cause: error });
  }
}

async function isRegularFile(path: string): Promise<boolean> {
  return lstat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
