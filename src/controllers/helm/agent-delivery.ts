import { isDeepStrictEqual } from "node:util";
import { CLUSTER_ANNOTATION } from "../../api/cluster.js";
import { formatDuration, parseDuration } from "../../api/duration.js";
import { actionTimeoutMsOf, type HelmRelease } from "../../api/helmrelease.js";
import { REQUESTED_AT } from "../../api/meta.js";
import { REASON } from "../../api/reasons.js";
import type { BundleOwner, HelmReleaseBundle } from "../../bundle/bundle.js";
import type { AgentReport, BundleOutbox } from "../../bundle/channel.js";
import type { ServiceAccountRef } from "../../cluster/access-review.js";
import { nextPollMs } from "../../pipeline/outcome.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import type { HelmReleaseOutcome, HelmReleaseStatus, Run } from "../../pipeline/helm-release/release-run.js";
import { markProgressing } from "../../pipeline/status.js";
import { agentState, publishIfNew } from "../agent-bundles.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { releaseChart, type ChartSource } from "./chart-source.js";

// A HelmRelease for an agent cluster: the control plane resolves its chart (sources live here) and
// publishes the HelmRelease with the chart archive as a signed bundle; the agent composes the values
// from its own ConfigMaps and Secrets, runs the release (pipeline/helm-release, as for a direct
// cluster) as the HelmRelease's identity, and reports the status, which comes back here as is.

/** Publishes the HelmRelease and its chart (when either changed) and takes the release's status from the agent. */
export async function deliverRelease(
  ports: ReconcilerPorts,
  run: Run,
  cluster: string,
  chart: ChartSource,
  identity: ServiceAccountRef | undefined,
): Promise<HelmReleaseOutcome> {
  const outbox = outboxOf(ports, cluster);
  const owner = ownerOf(run.hr);
  const [current, report] = await agentState(outbox, owner);
  const content: HelmReleaseBundle = {
    ...bundleFor(run.hr, cluster, chart.version),
    helmRelease: {
      object: specOf(run.hr),
      // The archive is named by its digest here and fetched only when the bundle is published.
      chart: {
        name: chart.name,
        version: chart.version,
        ociDigest: chart.ociDigest,
        digest: chart.artifact.digest,
        archive: "",
      },
      serviceAccountName: identity?.name,
    },
  };
  const digest = await publishIfNew(ports, outbox, content, current, report, async () => {
    const archive = (await releaseChart(ports, chart).archive()).toString("base64");
    return { ...content, helmRelease: { ...content.helmRelease, chart: { ...content.helmRelease.chart!, archive } } };
  });
  if (report?.digest === digest && report.helmRelease) return fromReport(ports, run, report);
  const publishedAt = current?.digest === digest ? Date.parse(current.publishedAt) : ports.clock.now();
  const elapsed = ports.clock.now() - publishedAt;
  const timeout = actionTimeoutMsOf(run.hr, "install");
  if (elapsed >= timeout) {
    const contact = (await outbox.heartbeat())?.lastContact;
    throw new ReconcileError(
      REASON.reconciliationFailed,
      `the agent of cluster '${cluster}' has not reported on chart ${chart.name}@${chart.version} within ${formatDuration(timeout)} (last contact: ${contact ?? "never"})`,
    );
  }
  const waiting =
    report?.digest === digest
      ? `cluster '${cluster}': ${report.message}`
      : `HelmRelease with chart ${chart.name}@${chart.version} published to cluster '${cluster}'; waiting for its agent`;
  run.status = markProgressing(run.status, run.at, waiting);
  return { status: run.status, requeueAfterMs: nextPollMs(ports.settings.healthPollMs, elapsed) };
}

/**
 * The HelmRelease was deleted: a signed withdrawal tells the agent to uninstall the release (as `spec.uninstall`
 * says); an entry that merely disappears from the index uninstalls nothing.
 */
export async function withdrawRelease(ports: ReconcilerPorts, run: Run, cluster: string): Promise<HelmReleaseOutcome> {
  const outbox = outboxOf(ports, cluster);
  const owner = ownerOf(run.hr);
  const [current, report] = await agentState(outbox, owner);
  if (current || report) {
    const revision = run.status.lastAttemptedRevision ?? "";
    const withdrawal: HelmReleaseBundle = {
      ...bundleFor(run.hr, cluster, revision),
      withdrawn: true,
      helmRelease: { object: specOf(run.hr) },
    };
    await publishIfNew(ports, outbox, withdrawal, current, report);
  }
  const message = `HelmRelease withdrawn from cluster '${cluster}': its agent uninstalls the release`;
  return { status: run.status, finalized: true, event: { severity: "info", reason: REASON.progressing, message } };
}

/** The HelmRelease is suspended: tell its agent (signed) to leave the release alone, drift included. */
export async function suspendRelease(ports: ReconcilerPorts, run: Run, cluster: string): Promise<HelmReleaseOutcome> {
  const outbox = outboxOf(ports, cluster);
  const [current, report] = await agentState(outbox, ownerOf(run.hr));
  if (current) {
    const suspension: HelmReleaseBundle = {
      ...bundleFor(run.hr, cluster, current.revision),
      suspended: true,
      helmRelease: { object: specOf(run.hr) },
    };
    await publishIfNew(ports, outbox, suspension, current, report);
  }
  return { status: run.status };
}

function outboxOf(ports: ReconcilerPorts, cluster: string): BundleOutbox {
  if (!ports.agents)
    throw new ReconcileError(
      REASON.reconciliationFailed,
      `metadata.annotations[${CLUSTER_ANNOTATION}]: cluster '${cluster}' is in agent mode: its bundles are published to S3, so it needs the AWS control plane (--aws-bucket), or register it as direct`,
    );
  return ports.agents.outbox(cluster);
}

function ownerOf(hr: HelmRelease): BundleOwner {
  return { kind: "HelmRelease", namespace: hr.metadata.namespace ?? "default", name: hr.metadata.name };
}

function bundleFor(hr: HelmRelease, cluster: string, revision: string) {
  const requestedAt = hr.metadata.annotations?.[REQUESTED_AT];
  return { cluster, kustomization: ownerOf(hr), revision, sequence: 0, ...(requestedAt && { requestedAt }) };
}

/**
 * What the agent needs of the HelmRelease: its spec, and the metadata a release reads (generation for
 * `observedGeneration`, annotations for forceAt/resetAt). Nothing the Store changes on its own (resourceVersion,
 * status) is in it, so an unchanged HelmRelease publishes nothing.
 */
function specOf(hr: HelmRelease): HelmReleaseBundle["helmRelease"]["object"] {
  const { name, namespace, generation, labels, annotations } = hr.metadata;
  return {
    apiVersion: hr.apiVersion,
    kind: hr.kind,
    metadata: { name, namespace, generation, labels, annotations },
    spec: hr.spec,
  };
}

/**
 * The agent's report on the current bundle: its status replaces the HelmRelease's (the agent alone sees the
 * release), keeping what only the control plane knows; its event is reported when the status changed with it.
 */
function fromReport(ports: ReconcilerPorts, run: Run, report: AgentReport): HelmReleaseOutcome {
  const previous = run.hr.status ?? {};
  const status: HelmReleaseStatus = {
    ...report.helmRelease!.status,
    helmChart: run.status.helmChart,
    lastHandledReconcileAt: previous.lastHandledReconcileAt,
  };
  const changed = !isDeepStrictEqual(plain(status), plain({ ...previous, helmChart: run.status.helmChart }));
  run.status = status;
  const working = report.ready === "Unknown";
  const elapsed = ports.clock.now() - Date.parse(report.reportedAt);
  return {
    status,
    requeueAfterMs: working ? nextPollMs(ports.settings.healthPollMs, elapsed) : parseDuration(run.hr.spec.interval),
    changed,
    event: changed ? report.helmRelease!.event : undefined,
  };
}

/** As stored (JSON): without undefined fields, whatever the key order. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
