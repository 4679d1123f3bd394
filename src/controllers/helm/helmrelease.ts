import { CLUSTER_ANNOTATION } from "../../api/cluster.js";
import type { HelmRelease } from "../../api/helmrelease.js";
import { REASON } from "../../api/reasons.js";
import { identityOf } from "../kustomize/fleet-access.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import {
  reconcileRelease,
  releaseValues,
  uninstallRelease,
  type ReleaseChart,
} from "../../pipeline/helm-release/release.js";
import { releaseTarget, Run, type HelmReleaseOutcome } from "../../pipeline/helm-release/release-run.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { refuseCrossNamespaceRefs } from "../cross-namespace.js";
import { checkDependencies } from "../dependencies.js";
import { chartPhase, deleteGeneratedChart, type ChartSource } from "./chart-source.js";

// A HelmRelease on the control plane: where it goes, what it waits for, its chart and values; the
// release itself is pipeline/helm-release's, which the pull agent runs too.

/** Reconciles one HelmRelease: at most one Helm action, or one health check of the rollout under way. */
export async function reconcileHelmRelease(ports: ReconcilerPorts, hr: HelmRelease): Promise<HelmReleaseOutcome> {
  const run = new Run(ports, hr, () => connect(ports, hr));
  try {
    if (hr.metadata.deletionTimestamp) return await finalize(ports, run);
    if (hr.spec.suspend) return { status: run.status };
    refuseAgentPlacement(hr);
    refuseCrossNamespaceRefs(ports.settings, run.namespace, [
      ...(hr.spec.chart ? [{ ...hr.spec.chart.spec.sourceRef }] : []),
      ...(hr.spec.chartRef ? [hr.spec.chartRef] : []),
      ...(hr.spec.dependsOn ?? []).map((d) => ({ kind: "HelmRelease", ...d })),
    ]);
    await dependenciesPhase(ports, hr);
    const chart = await chartPhase(ports, hr);
    run.status.helmChart = hr.spec.chart ? `${chart.key.namespace}/${chart.key.name}` : undefined;
    const values = await releaseValues(hr, ports.secrets);
    return await reconcileRelease(run, releaseChart(ports, chart), values);
  } catch (error) {
    return run.settle(error);
  }
}

function refuseAgentPlacement(hr: HelmRelease): void {
  const cluster = hr.metadata.annotations?.[CLUSTER_ANNOTATION];
  if (cluster)
    throw new ReconcileError(
      REASON.unsupportedField,
      `metadata.annotations[${CLUSTER_ANNOTATION}]: HelmReleases for registered clusters ('${cluster}') are not supported by Sluice yet`,
      { stalled: true },
    );
}

/** Flux's dependsOn between HelmReleases (controllers/dependencies.ts), with helm-controller's words. */
async function dependenciesPhase(ports: ReconcilerPorts, hr: HelmRelease): Promise<void> {
  const notFound = (ref: string) => `unable to get '${ref}' dependency: not found`;
  await checkDependencies(ports, "HelmRelease", hr.metadata.namespace ?? "default", hr.spec.dependsOn ?? [], notFound);
}

/** The HelmRelease was deleted: uninstall its release, then drop the HelmChart generated for it. */
async function finalize(ports: ReconcilerPorts, run: Run): Promise<HelmReleaseOutcome> {
  const outcome = await uninstallRelease(run);
  if (outcome.finalized) await deleteGeneratedChart(ports, run.status.helmChart);
  return outcome;
}

/** The cluster as the HelmRelease's identity (`serviceAccountName`, `kubeConfig`), and its release storage there. */
async function connect(ports: ReconcilerPorts, hr: HelmRelease) {
  const identity = identityOf(hr, ports.settings);
  const secretRef = hr.spec.kubeConfig?.secretRef;
  const cluster = await ports.cluster({
    namespace: hr.metadata.namespace ?? "default",
    serviceAccountName: identity?.name,
    kubeConfig: secretRef && { secretName: secretRef.name, key: secretRef.key },
    insecureKubeConfigTLS: ports.settings.insecureKubeConfigTLS,
  });
  return releaseTarget(cluster, hr, ports.clock);
}

/** The chart source's artifact as the release takes it: fetched from artifact storage only when an action needs it. */
function releaseChart(ports: ReconcilerPorts, chart: ChartSource): ReleaseChart {
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
