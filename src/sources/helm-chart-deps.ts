import { lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { packageChart, readChartMetadata, satisfiesConstraint, type ChartMetadata } from "./helm-chart-build.js";

// A chart's dependencies built as source-controller's DependencyManager builds those of a chart
// from Git: one already in `charts/` is kept; a `file://` one is read from the source (never from
// outside it), checked against its version constraint and packaged into `charts/`, its own local
// dependencies first. A dependency from a chart repository is refused: Sluice does not fetch those yet.

/**
 * Builds the missing dependencies of the chart in `chartDir`, inside the source tree at `root`.
 * Returns how many were added.
 */
export async function buildLocalDependencies(
  chartDir: string,
  root: string,
  seen = new Set<string>(),
): Promise<number> {
  const metadata = await readChartMetadata(chartDir);
  // Helm v1 charts list dependencies in requirements.yaml; building them is not implemented, and never skipped silently.
  if (
    await lstat(join(chartDir, "requirements.yaml")).then(
      (s) => s.isFile(),
      () => false,
    )
  )
    throw new Error(
      "requirements.yaml (a Helm v1 chart's dependencies) is not supported by Sluice yet; list them in Chart.yaml",
    );
  const present = await vendored(chartDir);
  let added = 0;
  for (const dependency of metadata.dependencies) {
    if (present.has(dependency.name)) continue;
    const repository = dependency.repository ?? "";
    if (!repository.startsWith("file://"))
      throw new Error(
        `dependency '${dependency.name}' from repository '${repository}': dependencies from chart repositories are not supported by Sluice yet; vendor it in charts/ or use a file:// dependency`,
      );
    const dir = resolve(chartDir, repository.slice("file://".length));
    if (dir !== root && !dir.startsWith(root + sep))
      throw new Error(`dependency '${dependency.name}': '${repository}' is outside the source`);
    if (seen.has(dir)) throw new Error(`dependency '${dependency.name}': '${repository}' depends on itself`);
    const info = await lstat(dir).catch(() => undefined);
    if (!info?.isDirectory())
      throw new Error(
        `failed to add local dependency '${dependency.name}': no chart found at '${relative(root, dir)}'`,
      );
    const chart = await readLocal(dir, dependency.name);
    if (!satisfiesConstraint(chart.version, dependency.version))
      throw new Error(
        `failed to add local dependency '${dependency.name}': can't get a valid version for constraint '${dependency.version}'`,
      );
    await buildLocalDependencies(dir, root, new Set([...seen, chartDir]));
    await mkdir(join(chartDir, "charts"), { recursive: true });
    await writeFile(
      join(chartDir, "charts", `${chart.name}-${chart.version}.tgz`),
      await packageChart(dir, chart.name),
    );
    added++;
  }
  return added;
}

async function readLocal(dir: string, name: string): Promise<ChartMetadata> {
  const chart = await readChartMetadata(dir).catch((error: Error) => {
    throw new Error(`failed to add local dependency '${name}': ${error.message}`);
  });
  if (chart.name !== name)
    throw new Error(`failed to add local dependency '${name}': the chart at its path is named '${chart.name}'`);
  return chart;
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
