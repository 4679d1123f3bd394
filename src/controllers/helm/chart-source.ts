import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import semver from "semver";
import { HELM_CHART_API_VERSION } from "../../api/helmchart.js";
import { helmChartOf, type HelmRelease } from "../../api/helmrelease.js";
import type { Artifact } from "../../api/meta.js";
import { formatKey, type ObjectKey } from "../../api/object-key.js";
import { REASON } from "../../api/reasons.js";
import { ByteLru } from "../../artifacts/byte-lru.js";
import type { KubeObject } from "../../apply/object.js";
import { ownerLabels } from "../../apply/policy.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import type { ReleaseChart } from "../../pipeline/helm-release/release.js";
import { openChartArchive, readChartMetadata, withBuildMetadata } from "../../sources/helm-chart-build.js";
import { parseVersion } from "../../sources/helm-index.js";
import { applyToStore } from "../../store/objects.js";
import { isReady } from "../../pipeline/conditions.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { HELM_GROUP } from "../../pipeline/helm-release/release-actions.js";
import { SOURCE_NOT_READY } from "../../pipeline/helm-release/release-run.js";

// The chart a HelmRelease installs: the HelmChart its `spec.chart` template generates (created and
// kept in line as helm-controller does, named `<namespace>-<name>` in the source's namespace), or
// the one `spec.chartRef` names. Until that chart has an artifact, the release waits for it: the
// HelmChart's new artifact wakes it (the dependents index), nothing polls.

/** The chart to release: its artifact, and the HelmChart (OCIRepository, ExternalArtifact) it came from. */
export interface ChartSource {
  key: ObjectKey;
  artifact: Artifact;
  /** The chart's name (the HelmChart's observedChartName, or the OCI chart's Chart.yaml). */
  name: string;
  /** The version released: the chart's, with an OCI artifact's digest as build metadata (as helm-controller sets it). */
  version: string;
  /** The OCI artifact's digest (`sha256:…`), for chartRef to an OCIRepository. */
  ociDigest?: string;
}

/** The HelmChart `spec.chart` generates (helm-controller's buildHelmChartFromTemplate). */
export function chartFromTemplate(hr: HelmRelease): KubeObject | undefined {
  const template = hr.spec.chart;
  if (!template) return undefined;
  const { namespace, name } = helmChartOf(hr);
  const { spec } = template;
  return {
    apiVersion: HELM_CHART_API_VERSION,
    kind: "HelmChart",
    metadata: {
      name,
      namespace,
      labels: {
        ...template.metadata?.labels,
        ...ownerLabels({ group: HELM_GROUP, name: hr.metadata.name, namespace: hr.metadata.namespace ?? "default" }),
      },
      ...(template.metadata?.annotations && { annotations: template.metadata.annotations }),
    },
    spec: {
      chart: spec.chart,
      ...(spec.version && { version: spec.version }),
      sourceRef: { kind: spec.sourceRef.kind, name: spec.sourceRef.name },
      interval: spec.interval ?? hr.spec.interval,
      ...(spec.reconcileStrategy && { reconcileStrategy: spec.reconcileStrategy }),
      ...(spec.valuesFiles && { valuesFiles: spec.valuesFiles }),
      ...(spec.ignoreMissingValuesFiles && { ignoreMissingValuesFiles: spec.ignoreMissingValuesFiles }),
      ...(spec.verify && { verify: { provider: spec.verify.provider, secretRef: spec.verify.secretRef } }),
    },
  };
}

/** The key of the HelmChart a HelmRelease uses. */
export function chartKeyOf(hr: HelmRelease): ObjectKey {
  if (hr.spec.chartRef) {
    const { kind, name, namespace } = hr.spec.chartRef;
    return { kind, name, namespace: namespace ?? hr.metadata.namespace ?? "default" };
  }
  return { kind: "HelmChart", ...helmChartOf(hr) };
}

/**
 * Keeps the generated HelmChart in the Store (asking for its reconcile when it changed) and returns
 * the chart once its HelmChart is Ready at its generation with an artifact; until then a quiet
 * ArtifactFailed / SourceNotReady wait, as helm-controller's.
 */
export async function chartPhase(ports: ReconcilerPorts, hr: HelmRelease): Promise<ChartSource> {
  const generated = chartFromTemplate(hr);
  if (generated && (await applyToStore(ports.store, generated)) !== "unchanged")
    await ports.queue.enqueue({ key: formatKey(chartKeyOf(hr)), reason: "dependency" });
  const key = chartKeyOf(hr);
  const stored = await ports.store.get(key);
  const waiting = (reason: string, message: string) =>
    new ReconcileError(reason, message, { quiet: true, retryAfterMs: ports.settings.dependencyRequeueMs });
  if (!stored)
    throw waiting(
      REASON.artifactFailed,
      `could not get Source object: HelmChart '${key.namespace}/${key.name}' not found`,
    );
  const chart = stored.object as KubeObject & {
    status?: { artifact?: Artifact; observedChartName?: string; observedGeneration?: number; conditions?: never[] };
  };
  const label = `${key.kind} '${key.namespace}/${key.name}'`;
  // helm-controller's isSourceReady: an ExternalArtifact is ready once it has an artifact (its generator owns it).
  if (key.kind === "ExternalArtifact") {
    if (!chart.status?.artifact) throw waiting(SOURCE_NOT_READY, `${label} is not ready: does not have an artifact`);
    return { key, artifact: chart.status.artifact, ...(await externalChart(ports, label, chart.status.artifact)) };
  }
  if (chart.status?.observedGeneration !== chart.metadata.generation)
    throw waiting(SOURCE_NOT_READY, `${label} is not ready: latest generation of object has not been reconciled`);
  if (!isReady(chart as never) || !chart.status?.artifact)
    throw waiting(SOURCE_NOT_READY, `${label} is not ready: does not have an artifact`);
  const { artifact } = chart.status;
  if (key.kind === "OCIRepository") return { key, artifact, ...(await ociChart(ports, label, artifact)) };
  return {
    key,
    artifact,
    name: chart.status.observedChartName ?? String((chart.spec as { chart?: string }).chart),
    version: artifact.revision,
  };
}

/**
 * Chart.yaml's name and version per OCI artifact digest: read once, not on every interval. Bounded by bytes: Helm
 * does not bound a chart's name, and a chart's Chart.yaml may be megabytes.
 */
const ociCharts = new ByteLru<{ name: string; version: string }>(1 << 20);

/** Chart.yaml's name and version of a chart artifact (an OCI layer, an ExternalArtifact's files). */
async function chartMetadataOf(
  ports: ReconcilerPorts,
  label: string,
  artifact: Artifact,
): Promise<{ name: string; version: string }> {
  let metadata = ociCharts.get(artifact.digest);
  if (!metadata) {
    const data = await ports.artifacts.get(artifact.path, artifact.digest);
    if (!data) throw new ReconcileError(REASON.artifactFailed, `Source not ready: artifact not found for ${label}`);
    const dir = await mkdtemp(join(ports.workDir, "oci-chart-"));
    try {
      metadata = await readChartMetadata(await openChartArchive(data, dir));
    } catch (error) {
      throw new ReconcileError(REASON.artifactFailed, `Could not load chart: ${(error as Error).message}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const { name, version } = metadata;
    ociCharts.set(artifact.digest, { name, version }, artifact.digest.length + name.length + version.length);
  }
  return metadata;
}

/**
 * An OCIRepository's chart: its name, and its version with the artifact digest's first 12 hex digits as build metadata
 * (helm-controller's mutateChartWithSourceRevision); a semver tag must be the chart's version.
 */
async function ociChart(
  ports: ReconcilerPorts,
  label: string,
  artifact: Artifact,
): Promise<Pick<ChartSource, "name" | "version" | "ociDigest">> {
  const metadata = await chartMetadataOf(ports, label, artifact);
  const [tag, digest] = artifact.revision.includes("@") ? artifact.revision.split("@") : [undefined, artifact.revision];
  const hex = digest?.replace(/^sha256:/, "") ?? "";
  // parseSemverFromTag: an OCI tag spells build metadata's `+` as `_`; versions are compared as semver (a `v` prefix
  // and build metadata aside), so the tag `v1.19.1` is cert-manager's chart version `v1.19.1`.
  const tagVersion = tag && parseVersion(tag.replaceAll("_", "+"));
  const chartVersion = parseVersion(metadata.version);
  if (tagVersion && (!chartVersion || semver.compare(tagVersion, chartVersion) !== 0))
    throw new ReconcileError(
      "ChartMutateError",
      `artifact revision ${tag} does not match chart version ${metadata.version}`,
    );
  return { name: metadata.name, version: withBuildMetadata(metadata.version, hex.slice(0, 12)), ociDigest: digest };
}

/**
 * An ExternalArtifact's chart, as helm-controller's mutateChartWithSourceRevision takes one: a revision without a digest
 * (a chart version an ArtifactGenerator took from a source) leaves the version as it is; `<semver>@<digest>` as an OCI
 * tag; any other (`latest@sha256:…`) adds its digest's first 12 hex digits, and the whole revision is the digest.
 */
async function externalChart(
  ports: ReconcilerPorts,
  label: string,
  artifact: Artifact,
): Promise<Pick<ChartSource, "name" | "version" | "ociDigest">> {
  const { revision } = artifact;
  if (!revision.includes(":")) return chartMetadataOf(ports, label, artifact);
  const tag = revision.includes("@") ? revision.split("@")[0]! : "";
  if (parseVersion(tag)) return ociChart(ports, label, artifact);
  const metadata = await chartMetadataOf(ports, label, artifact);
  const parts = revision.split(":");
  if (parts.length !== 2 || parts[1]!.length < 12)
    throw new ReconcileError("ChartMutateError", `invalid artifact revision ${revision}`);
  return {
    name: metadata.name,
    version: withBuildMetadata(metadata.version, parts[1]!.slice(0, 12)),
    ociDigest: revision,
  };
}

/** The chart source's artifact as the release takes it: fetched from artifact storage only when an action needs it. */
export function releaseChart(ports: ReconcilerPorts, chart: ChartSource): ReleaseChart {
  return {
    name: chart.name,
    version: chart.version,
    ociDigest: chart.ociDigest,
    archive: async () => {
      const data = await ports.artifacts.get(chart.artifact.path, chart.artifact.digest);
      if (data) return data;
      const { kind, namespace, name } = chart.key;
      throw new ReconcileError(
        REASON.artifactFailed,
        `Source not ready: artifact not found for ${kind} '${namespace}/${name}'`,
        {
          quiet: true,
          retryAfterMs: ports.settings.dependencyRequeueMs,
        },
      );
    },
  };
}

/** Removes the generated HelmChart (the HelmRelease is gone, or now uses `chartRef`). */
export async function deleteGeneratedChart(ports: ReconcilerPorts, helmChart: string | undefined): Promise<void> {
  if (!helmChart) return;
  const [namespace, name] = helmChart.split("/");
  if (namespace && name) await ports.store.delete({ kind: "HelmChart", namespace, name });
}
