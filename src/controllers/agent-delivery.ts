import { formatDuration, parseDuration } from "../api/duration.js";
import { kustomizationRetryMs, kustomizationTimeoutMs } from "../api/kustomization.js";
import { bundleDigest, sealBundle, type BundleContent, type BundleSigner } from "../agent/bundle.js";
import type { AgentReport, BundleOutbox } from "../agent/channel.js";
import { formatChangeSet, type ChangeSetEntry } from "../apply/changeset.js";
import { merge, type InventoryEntry } from "../apply/inventory.js";
import type { KubeObject } from "../apply/object.js";
import { unhealthyMessage } from "../apply/sync.js";
import { isFluxEntry } from "./fleet.js";
import { healthTargets, type Attempt } from "./kustomization-attempt.js";
import type { Outcome } from "./outcome.js";

/** The control plane's part in agent clusters: how bundles are signed and where each cluster's go. */
export interface AgentPlane {
  signer: BundleSigner;
  outbox(cluster: string): BundleOutbox;
}

/** Flux's `status.history` entry, here one per bundle digest an agent reported on. */
interface HistoryEntry {
  digest: string;
  firstReconciled: string;
  lastReconciled: string;
  lastReconciledStatus: string;
  totalReconciliations: number;
  metadata: { revision: string };
}

const HISTORY_LENGTH = 5;

/**
 * For an agent cluster: publish the rendered workloads as a signed bundle (only when its content
 * changed), then fold the agent's report for that bundle into the Kustomization's status. Until
 * the agent reports, the Kustomization is Progressing and polled like a health check.
 */
export async function deliverBundle(attempt: Attempt, cluster: string, revision: string, workloads: KubeObject[], fleet: { changeSet: ChangeSetEntry[]; entries: InventoryEntry[] }): Promise<Outcome> {
  const { rt, ks } = attempt;
  if (!rt.agents) return attempt.failed("ReconciliationFailed", `cluster '${cluster}' is in agent mode: its bundles are published to S3, so it needs the AWS control plane (--aws-bucket), or register it as direct`, revision);
  const outbox = rt.agents.outbox(cluster);
  const content: BundleContent = {
    cluster,
    kustomization: attempt.owner,
    revision,
    sequence: 0,
    options: {
      prune: ks.spec.prune,
      force: ks.spec.force ?? false,
      wait: ks.spec.wait ?? false,
      healthChecks: ks.spec.wait ? [] : healthTargets(ks, { entries: [] }),
      timeoutMs: kustomizationTimeoutMs(ks.spec),
      intervalMs: parseDuration(ks.spec.interval),
      retryMs: kustomizationRetryMs(ks.spec),
      deletionPolicy: ks.spec.deletionPolicy ?? "MirrorPrune",
      ...(ks.spec.decryption && { decryption: { secretRef: ks.spec.decryption.secretRef?.name } }),
    },
    objects: workloads,
  };
  // Publish only what is new (no KMS call, no write otherwise), or again when the agent refused the
  // bundle the index points at (altered or replayed in S3); each publish gets the next sequence.
  const contentDigest = bundleDigest(content);
  const [current, report] = await Promise.all([outbox.current(attempt.owner), outbox.report(attempt.owner)]);
  const refused = report?.reason === "BundleRejected" && report.digest === current?.digest;
  let digest = current?.digest;
  if (current?.contentDigest !== contentDigest || !digest || refused) {
    // The index is not signed; the agent's own record of what it applied keeps the sequence rising.
    const sequence = Math.max(current?.sequence ?? 0, report?.applied?.sequence ?? 0) + 1;
    const sealed = await sealBundle({ ...content, sequence }, rt.agents.signer);
    await outbox.publish(sealed, contentDigest);
    digest = sealed.digest;
    rt.log.info({ object: `Kustomization/${attempt.namespace}/${ks.metadata.name}`, cluster, digest, revision }, "bundle published");
  }
  const agentInventory = report?.applied?.inventory ?? (attempt.status.inventory?.entries ?? []).filter((e) => !isFluxEntry(e));
  attempt.status.inventory = merge({ entries: agentInventory }, fleet.entries);
  const fresh = report !== undefined && recordReport(attempt, report);

  if (report?.digest === digest && report.ready === "True") {
    if (report.health) attempt.set({ type: "Healthy", status: "True", reason: "Succeeded", message: "Health check passed in the agent" });
    const changes = [report.changes && fresh ? (report.driftCorrected ? `drift corrected:\n${report.changes}` : report.changes) : "", formatChangeSet(fleet.changeSet)].filter(Boolean).join("\n");
    return attempt.succeeded(revision, changes);
  }
  if (report?.digest === digest && report.ready === "False") {
    if (report.reason === "HealthCheckFailed") attempt.set({ type: "Healthy", status: "False", reason: "HealthCheckFailed", message: report.health ? unhealthyMessage(report.health) : report.message });
    const outcome = attempt.failed(report.reason, `cluster '${cluster}': ${report.message}`, revision);
    return fresh ? outcome : { ...outcome, event: undefined };
  }
  const elapsed = attempt.elapsed(revision);
  const timeout = kustomizationTimeoutMs(ks.spec);
  if (elapsed >= timeout) {
    const contact = (await outbox.heartbeat())?.lastContact;
    return attempt.failed("ReconciliationFailed", `the agent of cluster '${cluster}' has not applied revision ${revision} within ${formatDuration(timeout)} (last contact: ${contact ?? "never"})`, revision);
  }
  const message = report?.digest === digest ? `cluster '${cluster}': ${report.message}` : `Bundle for revision ${revision} published to cluster '${cluster}'; waiting for its agent`;
  const outcome = attempt.progressing(revision, message, elapsed);
  // A refused bundle that is not the one just rendered was altered in S3 (the genuine one was
  // published again above): worth an alert of its own.
  if (fresh && report.reason === "BundleRejected") return { ...outcome, event: { severity: "error", reason: "BundleRejected", message: `cluster '${cluster}': ${report.message}` } };
  const changes = formatChangeSet(fleet.changeSet);
  return { ...outcome, event: changes ? { severity: "info", reason: "Progressing", message: changes } : undefined };
}

/** The Kustomization was deleted: withdraw its bundle; the agent deletes per the policy the bundle carried. */
export async function withdrawBundle(attempt: Attempt, cluster: string, fleet: ChangeSetEntry[]): Promise<Outcome> {
  if (!attempt.rt.agents) return attempt.failed("PruneFailed", `cluster '${cluster}' is in agent mode and needs the AWS control plane to withdraw its bundle`);
  await attempt.rt.agents.outbox(cluster).withdraw(attempt.owner);
  const changes = formatChangeSet(fleet);
  return { status: attempt.status, finalized: true, event: { severity: "info", reason: "Progressing", message: [`bundle withdrawn from cluster '${cluster}'`, changes].filter(Boolean).join("\n") } };
}

/** Notes the report in `status.history`; true when it is one this Kustomization had not seen. */
function recordReport(attempt: Attempt, report: AgentReport): boolean {
  const history = (attempt.status.history ?? []) as HistoryEntry[];
  const known = history.find((h) => h.digest === report.digest);
  if (known?.lastReconciled === report.reportedAt) return false;
  const entry: HistoryEntry = {
    digest: report.digest,
    firstReconciled: known?.firstReconciled ?? report.reportedAt,
    lastReconciled: report.reportedAt,
    lastReconciledStatus: report.reason,
    totalReconciliations: (known?.totalReconciliations ?? 0) + 1,
    metadata: { revision: report.revision },
  };
  attempt.status.history = [entry, ...history.filter((h) => h.digest !== report.digest)].slice(0, HISTORY_LENGTH);
  return true;
}
