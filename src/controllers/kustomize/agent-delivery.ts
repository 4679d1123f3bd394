import { formatDuration, parseDuration } from "../../api/duration.js";
import { kustomizationRetryMs } from "../../api/kustomization.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import type { BundleOptions, KustomizationBundle } from "../../bundle/bundle.js";
import type { AgentReport } from "../../bundle/channel.js";
import { formatChangeSet, type ChangeSetEntry } from "../../apply/changeset.js";
import { merge, type InventoryEntry } from "../../apply/inventory.js";
import type { KubeObject } from "../../apply/object.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { healthRules, syncPlanOf, unhealthyMessage } from "../../pipeline/sync.js";
import { REQUESTED_AT } from "../../api/meta.js";
import { isFluxEntry } from "./fleet.js";
import { upsertHistory, type Snapshot } from "./history.js";
import type { Attempt, KustomizationOutcome } from "./attempt.js";
import { agentState, publishIfNew } from "../agent-bundles.js";

/**
 * For an agent cluster: publish the rendered workloads as a signed bundle (only when its content
 * changed), then fold the agent's report for that bundle into the Kustomization's status. Until
 * the agent reports, the Kustomization is Progressing and polled like a health check.
 */
export async function deliverBundle(
  attempt: Attempt,
  cluster: string,
  revision: string,
  workloads: KubeObject[],
  fleet: { changeSet: ChangeSetEntry[]; entries: InventoryEntry[] },
): Promise<KustomizationOutcome> {
  const { ports, ks } = attempt;
  if (!ports.agents)
    throw new ReconcileError(
      REASON.reconciliationFailed,
      `cluster '${cluster}' is in agent mode: its bundles are published to S3, so it needs the AWS control plane (--aws-bucket), or register it as direct`,
    );
  const options = bundleOptions(attempt);
  healthRules(options); // a rule that does not compile is refused here, before anything is published
  const outbox = ports.agents.outbox(cluster);
  const [current, report] = await agentState(outbox, attempt.owner);
  const requestedAt = ks.metadata.annotations?.[REQUESTED_AT];
  const content = bundleFor(attempt, cluster, {
    revision,
    options,
    objects: workloads,
    ...(requestedAt && { requestedAt }),
  });
  const digest = await publishIfNew(attempt.ports, outbox, content, current, report);
  const agentInventory =
    report?.applied?.inventory ?? (attempt.status.inventory?.entries ?? []).filter((e) => !isFluxEntry(e));
  attempt.status.inventory = merge({ entries: agentInventory }, fleet.entries);
  const fresh = report !== undefined && recordReport(attempt, report);

  if (report?.digest === digest && report.ready === "True") {
    if (report.health)
      attempt.set({
        type: CONDITION.healthy,
        status: "True",
        reason: REASON.succeeded,
        message: "Health check passed in the agent",
      });
    const changes = [
      report.changes && fresh ? (report.driftCorrected ? `drift corrected:\n${report.changes}` : report.changes) : "",
      formatChangeSet(fleet.changeSet),
    ]
      .filter(Boolean)
      .join("\n");
    return attempt.succeeded(revision, changes);
  }
  if (report?.digest === digest && report.ready === "False") {
    if (report.reason === REASON.healthCheckFailed)
      attempt.set({
        type: CONDITION.healthy,
        status: "False",
        reason: REASON.healthCheckFailed,
        message: report.health ? unhealthyMessage(report.health) : report.message,
      });
    const outcome = attempt.failed(report.reason, `cluster '${cluster}': ${report.message}`, revision);
    return fresh ? outcome : { ...outcome, event: undefined };
  }
  const elapsed = attempt.elapsed(revision);
  const timeout = options.timeoutMs;
  if (elapsed >= timeout) {
    const contact = (await outbox.heartbeat())?.lastContact;
    throw new ReconcileError(
      REASON.reconciliationFailed,
      `the agent of cluster '${cluster}' has not applied revision ${revision} within ${formatDuration(timeout)} (last contact: ${contact ?? "never"})`,
    );
  }
  const message =
    report?.digest === digest
      ? `cluster '${cluster}': ${report.message}`
      : `Bundle for revision ${revision} published to cluster '${cluster}'; waiting for its agent`;
  const outcome = attempt.progressing(revision, message, elapsed);
  // A refused bundle that is not the one just rendered was altered in S3 (the genuine one was
  // published again above): worth an alert of its own.
  if (fresh && report.reason === REASON.bundleRejected)
    return {
      ...outcome,
      event: { severity: "error", reason: REASON.bundleRejected, message: `cluster '${cluster}': ${report.message}` },
    };
  const changes = formatChangeSet(fleet.changeSet);
  return {
    ...outcome,
    event: changes ? { severity: "info", reason: REASON.progressing, message: changes } : undefined,
  };
}

/**
 * The Kustomization was deleted: publish a signed withdrawal (an empty bundle marked `withdrawn`);
 * the agent deletes what it applied per `deletionPolicy` and `prune`. Deletion needs a signature
 * like any other change: an entry that merely disappears from the index deletes nothing.
 */
export async function withdrawBundle(
  attempt: Attempt,
  cluster: string,
  fleet: ChangeSetEntry[],
): Promise<KustomizationOutcome> {
  if (!attempt.ports.agents)
    throw new ReconcileError(
      REASON.pruneFailed,
      `cluster '${cluster}' is in agent mode and needs the AWS control plane to withdraw its bundle`,
    );
  const outbox = attempt.ports.agents.outbox(cluster);
  const [current, report] = await agentState(outbox, attempt.owner);
  const revision = attempt.status.lastAttemptedRevision ?? "";
  await publishIfNew(
    attempt.ports,
    outbox,
    bundleFor(attempt, cluster, { revision, withdrawn: true }),
    current,
    report,
  );
  const changes = formatChangeSet(fleet);
  return {
    status: attempt.status,
    finalized: true,
    event: {
      severity: "info",
      reason: REASON.progressing,
      message: [`bundle withdrawn from cluster '${cluster}'`, changes].filter(Boolean).join("\n"),
    },
  };
}

/** The Kustomization is suspended: tell its agent (signed) to stop reconciling it, drift correction included. */
export async function suspendBundle(attempt: Attempt, cluster: string): Promise<KustomizationOutcome> {
  if (!attempt.ports.agents) return { status: attempt.status };
  const outbox = attempt.ports.agents.outbox(cluster);
  const [current, report] = await agentState(outbox, attempt.owner);
  if (current) {
    const suspension = bundleFor(attempt, cluster, { revision: current.revision, suspended: true });
    await publishIfNew(attempt.ports, outbox, suspension, current, report);
  }
  return { status: attempt.status };
}

/**
 * A bundle of this Kustomization for `cluster`: empty unless `content` gives objects, with the spec's options
 * unless given.
 */
function bundleFor(
  attempt: Attempt,
  cluster: string,
  content: Pick<KustomizationBundle, "revision"> & Partial<KustomizationBundle>,
): KustomizationBundle {
  return {
    cluster,
    kustomization: attempt.owner,
    sequence: 0,
    options: content.options ?? bundleOptions(attempt),
    objects: [],
    ...content,
  };
}

/**
 * The sync plan the agent follows (the worker's own, from the spec), with the agent's schedule, identity and
 * decryption.
 */
function bundleOptions({ ks, identity }: Attempt): BundleOptions {
  return {
    ...syncPlanOf(ks),
    intervalMs: parseDuration(ks.spec.interval),
    retryMs: kustomizationRetryMs(ks.spec),
    ...(identity && { serviceAccountName: identity.name }), // serviceAccountName, else the default service account
    ...(ks.spec.decryption && { decryption: { secretRef: ks.spec.decryption.secretRef?.name } }),
  };
}

/**
 * Notes the report in `status.history` (a snapshot per bundle digest and outcome); true when it is one this
 * Kustomization had not seen.
 */
function recordReport(attempt: Attempt, report: AgentReport): boolean {
  const history = (attempt.status.history ?? []) as Snapshot[];
  if (history.some((s) => s.digest === report.digest && s.lastReconciled === report.reportedAt)) return false;
  const metadata = { revision: report.revision };
  const entry = {
    digest: report.digest,
    at: new Date(report.reportedAt),
    durationMs: report.durationMs ?? 0,
    status: report.reason,
    metadata,
  };
  attempt.status.history = upsertHistory(history, entry);
  return true;
}
