import { access } from "node:fs/promises";
import { join } from "node:path";
import { MissingPrerequisiteError } from "./process.js";

/**
 * podinfo's real Helm chart (stefanprodan/podinfo, charts/podinfo), packaged into the cache by
 * test/env/build-podinfo-chart.sh. The Helm repository serves both versions at start; the OCI registry
 * holds both at `oci://<host>/charts/podinfo`.
 */
export const PODINFO = {
  chart: "podinfo",
  version: "6.9.2",
  /** The same chart with only Chart.yaml's version changed: the target of upgrade tests. */
  upgradeVersion: "6.9.3",
} as const;

/** The packaged chart files of both versions, or a MissingPrerequisiteError naming the install step. */
export async function podinfoPackages(cacheDir: string): Promise<string[]> {
  const files = [PODINFO.version, PODINFO.upgradeVersion].map((v) => join(cacheDir, "charts", `podinfo-${v}.tgz`));
  for (const file of files) {
    await access(file).catch(() => {
      throw new MissingPrerequisiteError(`podinfo's chart at ${file}`, "bash test/env/build-podinfo-chart.sh");
    });
  }
  return files;
}

/** podinfo's deploy/ and kustomize/ folders at the chart's commit, or a MissingPrerequisiteError naming the install step. */
export async function podinfoSources(cacheDir: string): Promise<string> {
  const dir = join(cacheDir, "podinfo-src", PODINFO.version);
  await access(dir).catch(() => {
    throw new MissingPrerequisiteError(`podinfo's sources at ${dir}`, "bash test/env/build-podinfo-chart.sh");
  });
  return dir;
}
