import { lstat, mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import {
  openChartArchive,
  packageChart,
  readChartMetadata,
  satisfiesConstraint,
  type ChartMetadata,
} from "./helm-chart-build.js";

// A chart's dependencies built as source-controller's DependencyManager builds those of a chart
// from Git: one already in `charts/` is kept; a `file://` one is read from the source (never from
// outside it), checked against its version constraint and packaged into `charts/`, its own local
// dependencies first; one from a chart repository is fetched by the caller's `remote` (which knows
// the HelmRepository objects and their credentials) and opened safely before it is added.

/** A dependency as Chart.yaml lists it. */
export type ChartDependency = ChartMetadata["dependencies"][number];

export interface DependencyOptions {
  /** The source tree the chart is in: no `file://` dependency may leave it. */
  root: string;
  /** An empty folder for opening downloaded archives. */
  scratch: string;
  /** Downloads a dependency from its chart repository: the archive and the version picked. */
  remote(dependency: ChartDependency & { repository: string }): Promise<{ data: Buffer; version: string }>;
}

/** Builds the missing dependencies of the chart in `chartDir`; returns how many were added. */
export async function buildDependencies(
  chartDir: string,
  options: DependencyOptions,
  seen = new Set<string>(),
): Promise<number> {
  const metadata = await readChartMetadata(chartDir);
  // Helm v1 charts list dependencies in requirements.yaml; building them is not implemented, and never skipped silently.
  if (await isFile(join(chartDir, "requirements.yaml")))
    throw new Error(
      "requirements.yaml (a Helm v1 chart's dependencies) is not supported by Sluice yet; list them in Chart.yaml",
    );
  const present = await vendored(chartDir);
  const missing = metadata.dependencies.filter((d) => !present.has(d.alias ?? d.name));
  for (const dependency of missing) {
    const repository = dependency.repository ?? "";
    const archive =
      repository === "" || repository.startsWith("file://")
        ? await localDependency(chartDir, dependency, options, seen)
        : await remoteDependency(dependency, repository, options);
    await mkdir(join(chartDir, "charts"), { recursive: true });
    await writeFile(join(chartDir, "charts", archive.file), archive.data, { flag: "wx" });
  }
  return missing.length;
}

async function localDependency(
  chartDir: string,
  dependency: ChartDependency,
  options: DependencyOptions,
  seen: Set<string>,
): Promise<{ file: string; data: Buffer }> {
  const { name, repository = "" } = dependency;
  const fail = (why: string) => new Error(`failed to add local dependency '${name}': ${why}`);
  const path = repository === "" ? join("charts", name) : repository.slice("file://".length);
  const dir = resolve(chartDir, path);
  if (dir !== options.root && !dir.startsWith(options.root + sep)) throw fail(`'${repository}' is outside the source`);
  if (seen.has(dir)) throw fail(`'${repository}' depends on itself`);
  if (
    !(await lstat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw fail(`no chart found at '${relative(options.root, dir)}' (reference '${repository}')`);
  const chart = await readChartMetadata(dir).catch((error: Error) => {
    throw fail(error.message);
  });
  if (chart.name !== name) throw fail(`the chart at '${repository}' is named '${chart.name}'`);
  if (!satisfiesConstraint(chart.version, dependency.version))
    throw fail(`can't get a valid version for constraint '${dependency.version}'`);
  await buildDependencies(dir, options, new Set([...seen, chartDir]));
  return { file: `${chart.name}-${chart.version}.tgz`, data: await packageChart(dir, chart.name) };
}

async function remoteDependency(
  dependency: ChartDependency,
  repository: string,
  options: DependencyOptions,
): Promise<{ file: string; data: Buffer }> {
  const fail = (why: string) => new Error(`failed to add remote dependency '${dependency.name}': ${why}`);
  let fetched;
  try {
    fetched = await options.remote({ ...dependency, repository });
  } catch (error) {
    throw fail((error as Error).message);
  }
  // A chart from a repository is attacker input like any other: opened with the safe extraction, its Chart.yaml read.
  const chart = await openChartArchive(fetched.data, await mkdtemp(join(options.scratch, "dependency-")))
    .then(readChartMetadata)
    .catch((error: Error) => {
      throw fail(`failed to load downloaded archive of version '${fetched.version}': ${error.message}`);
    });
  if (chart.name !== dependency.name) throw fail(`the downloaded chart is named '${chart.name}'`);
  return { file: `${chart.name}-${chart.version}.tgz`, data: fetched.data };
}

/** Names of the charts in `charts/`: folders by their name, archives by the name before their version. */
async function vendored(chartDir: string): Promise<Set<string>> {
  const entries = await readdir(join(chartDir, "charts"), { withFileTypes: true }).catch(() => []);
  return new Set(
    entries.map((e) =>
      e.isDirectory() ? e.name : e.name.replace(/\.tgz$/, "").replace(/-v?\d+(\.\d+)*([-+].*)?$/, ""),
    ),
  );
}

async function isFile(path: string): Promise<boolean> {
  return lstat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
