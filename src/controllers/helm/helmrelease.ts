import type { HelmRelease } from "../../api/helmrelease.js";
import { identityOf } from "../kustomize/fleet-access.js";
import { reconcileRelease, releaseValues, uninstallRelease } from "../../pipeline/helm-release/release.js";
import { releaseTarget, Run, type HelmReleaseOutcome } from "../../pipeline/helm-release/release-run.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { refuseCrossNamespaceRefs } from "../cross-namespace.js";
import { checkDependencies } from "../dependencies.js";
import { healthRules } from "../../pipeline/sync.js";
import type { ServiceAccountRef } from "../../cluster/access-review.js";
import { placementPhase, type Placement } from "../placement.js";
import { deliverRelease, suspendRelease, withdrawRelease } from "./agent-delivery.js";
import { chartPhase, deleteGeneratedChart, releaseChart } from "./chart-source.js";

// A HelmRelease on the control plane: where it goes (placement), what it waits for, its chart and
// values; the release itself is pipeline/helm-release's, which the pull agent runs too.

/**
 * Reconciles one HelmRelease: at most one Helm action, or one health check of the rollout under way; for an agent
 * cluster, publishes it with its chart to the cluster's agent and takes the status the agent reports.
 */
export async function reconcileHelmRelease(ports: ReconcilerPorts, hr: HelmRelease): Promise<HelmReleaseOutcome> {
  const identity = identityOf(hr, ports.settings);
  let placement: Placement = { mode: "direct" };
  const run = new Run(ports, hr, () => connect(ports, hr, identity, placement));
  try {
    placement = await placementPhase(ports, hr, identity);
    const agent = placement.mode === "agent" ? placement.cluster : undefined;
    if (hr.metadata.deletionTimestamp) return await finalize(ports, run, agent);
    if (hr.spec.suspend) return agent ? await suspendRelease(ports, run, agent) : { status: run.status };
    healthRules(hr.spec); // an expression that does not compile stalls it before any Helm action
    refuseCrossNamespaceRefs(ports.settings, run.namespace, [
      ...(hr.spec.chart ? [{ ...hr.spec.chart.spec.sourceRef }] : []),
      ...(hr.spec.chartRef ? [hr.spec.chartRef] : []),
      ...(hr.spec.dependsOn ?? []).map((d) => ({ kind: "HelmRelease", ...d })),
    ]);
    await dependenciesPhase(ports, hr);
    const chart = await chartPhase(ports, hr);
    run.status.helmChart = hr.spec.chart ? `${chart.key.namespace}/${chart.key.name}` : undefined;
    if (agent) return await deliverRelease(ports, run, agent, chart, identity);
    const values = await releaseValues(hr, ports.secrets);
    return await reconcileRelease(run, releaseChart(ports, chart), values);
  } catch (error) {
    return run.settle(error);
  }
}

/** Flux's dependsOn between HelmReleases (controllers/dependencies.ts), with helm-controller's words. */
async function dependenciesPhase(ports: ReconcilerPorts, hr: HelmRelease): Promise<void> {
  await checkDependencies(ports, {
    kind: "HelmRelease",
    self: hr,
    dependsOn: hr.spec.dependsOn ?? [],
    notFound: (ref) => `unable to get '${ref}' dependency: not found`,
  });
}

/** The HelmRelease was deleted: uninstall its release (its agent does, for an agent cluster), then drop its HelmChart. */
async function finalize(ports: ReconcilerPorts, run: Run, agent: string | undefined): Promise<HelmReleaseOutcome> {
  const outcome = agent ? await withdrawRelease(ports, run, agent) : await uninstallRelease(run);
  if (outcome.finalized) await deleteGeneratedChart(ports, run.status.helmChart);
  return outcome;
}

/**
 * The cluster as the HelmRelease's identity (`serviceAccountName`, `kubeConfig`): the runtime's own or the registered
 * direct cluster it names; and its release storage there.
 */
async function connect(
  ports: ReconcilerPorts,
  hr: HelmRelease,
  identity: ServiceAccountRef | undefined,
  placement: Placement,
) {
  const secretRef = hr.spec.kubeConfig?.secretRef;
  const cluster = await ports.cluster({
    namespace: hr.metadata.namespace ?? "default",
    serviceAccountName: identity?.name,
    kubeConfig: secretRef && { secretName: secretRef.name, key: secretRef.key },
    insecureKubeConfigTLS: ports.settings.insecureKubeConfigTLS,
    cluster: placement.mode === "direct" ? placement.target : undefined,
  });
  return releaseTarget(cluster, hr, ports.clock);
}
