import type { HelmRepository } from "../../api/helmrepository.js";
import type { ChartDependency } from "../../sources/helm-chart-deps.js";
import { downloadChart } from "../../sources/helm-chart-fetch.js";
import { pickChartVersion } from "../../sources/helm-chart-version.js";
import { fetchHelmIndex, loadHelmIndex, type HelmIndex, type HelmIndexSource } from "../../sources/helm-index.js";
import { indexSource } from "./helmrepository.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/** source-controller's default timeout for a dependency's repository when no HelmRepository has its URL. */
const DEPENDENCY_TIMEOUT_MS = 60_000;

/**
 * A chart dependency from a chart repository, as source-controller's namespaced chart repository
 * callback gets it: through the HelmRepository of the chart's namespace with that URL (its stored
 * index, its credentials), or without one, the repository's index fetched anonymously.
 */
export async function repositoryDependency(
  ports: ReconcilerPorts,
  namespace: string,
  dependency: ChartDependency & { repository: string },
): Promise<{ data: Buffer; version: string }> {
  const url = dependency.repository;
  if (!/^https?:\/\//.test(url))
    throw new Error(
      `repository '${url}': only http and https chart repositories are supported by Sluice yet (not OCI or a repository alias)`,
    );
  const normalize = (u: string) => u.replace(/\/+$/, "");
  const repositories = await ports.store.list({ kind: "HelmRepository", namespace });
  const repo = repositories
    .map((r) => r.object as HelmRepository)
    .find((r) => r.spec.type !== "oci" && normalize(r.spec.url) === normalize(url));
  const network = { allowPrivateNetworks: ports.settings.allowPrivateNetworks };
  const source: HelmIndexSource = repo
    ? await indexSource(ports, namespace, repo.spec)
    : { url, network, timeoutMs: DEPENDENCY_TIMEOUT_MS };
  const artifact = repo?.status?.artifact;
  const stored = artifact && (await ports.artifacts.get(artifact.path, artifact.digest));
  const index = stored
    ? (JSON.parse(stored.toString("utf8")) as HelmIndex)
    : loadHelmIndex(await fetchHelmIndex(source));
  let picked;
  try {
    picked = pickChartVersion(index, dependency.name, dependency.version ?? "");
  } catch (error) {
    throw new Error(
      `failed to get chart '${dependency.name}' version '${dependency.version ?? ""}' from '${url}': ${(error as Error).message}`,
      { cause: error },
    );
  }
  const data = await downloadChart({ ...source, passCredentials: repo?.spec.passCredentials }, picked);
  return { data, version: picked.version! };
}
