import { maxHistoryOf, remediationOf } from "../../api/helmrelease.js";
import { releaseDigest } from "../../helm/observation.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { ReconcileError } from "../reconcile-error.js";
import { markFailed } from "../status.js";
import {
  appliesServerSide,
  ReleaseActionError,
  rollback,
  setStatus,
  uninstall,
  type ReleaseTarget,
} from "./release-actions.js";
import type { Run } from "./release-run.js";
import {
  COND,
  failureCount,
  exhausted,
  retriesExceeded,
  hookLimits,
  uninstallOptions,
  recordSnapshot,
  refreshSnapshots,
  fullName,
  WHY,
  type HelmReleaseOutcome,
} from "./release-run.js";
import { healthPhase, succeeded, remediationFailed } from "./release-verdicts.js";

// A failed release remediated as helm-controller's atomic release does: retried, rolled back to the
// previous version, uninstalled, or stalled once retries are spent; a stale pending version unlocked.

/** A failed release: remediation per the spec of the action that failed (atomic_release.go's Failed case). */
export async function remediate(
  run: Run,
  target: ReleaseTarget,
  latest: ReleaseRecord,
  force: boolean,
  upgrade: () => Promise<HelmReleaseOutcome>,
): Promise<HelmReleaseOutcome> {
  const action = run.status.lastAttemptedReleaseAction;
  if (!action || failureCount(run, action) <= 0 || force) return upgrade();
  const remediation = remediationOf(run.hr, action);
  if (exhausted(run, action) && !remediation.remediateLastFailure) throw retriesExceeded(run, action);
  if (remediation.strategy === "uninstall") return uninstallRemediation(run, target, latest, action);
  const previous = run.status.history?.slice(1).find((s) => s.status === "deployed" || s.status === "superseded");
  const stored =
    previous && (await target.storage.history(run.releaseName)).find((r) => r.version === previous.version);
  if (!previous || !stored)
    throw new ReconcileError(
      WHY.missingRollbackTarget,
      "Failed to perform remediation: missing target release for rollback: cannot remediate failed release",
      {
        stalled: true,
      },
    );
  if (releaseDigest(stored) !== previous.digest) return upgrade(); // the target was changed: try the upgrade again instead
  try {
    const result = await rollback(target, latest, stored, {
      force: !!run.hr.spec.rollback?.force,
      serverSideApply: appliesServerSide(run.hr.spec.rollback?.serverSideApply, stored),
      maxHistory: maxHistoryOf(run.hr),
      hooks: hookLimits(run, "rollback"),
    });
    recordSnapshot(run, result.record, "rollback");
    refreshSnapshots(run, result.stored);
    run.status.inventory = result.inventory;
    if (run.hr.spec.rollback?.disableWait) return succeeded(run, result.record, "rollback", "");
    return healthPhase(run, target, result.record, "rollback");
  } catch (error) {
    if (!(error instanceof ReleaseActionError)) throw error;
    const meta = latest.chart.metadata;
    return remediationFailed(
      run,
      WHY.rollbackFailed,
      `Helm rollback to previous release ${fullName(previous)} with chart ${meta.name}@${meta.version} failed: ${error.message}`,
    );
  }
}

export async function uninstallRemediation(
  run: Run,
  target: ReleaseTarget,
  latest: ReleaseRecord,
  action: "install" | "upgrade",
): Promise<HelmReleaseOutcome> {
  const versioned = `${latest.chart.metadata.name}@${latest.chart.metadata.version}`;
  try {
    await uninstall(target, latest, uninstallOptions(run));
  } catch (error) {
    return remediationFailed(
      run,
      WHY.uninstallFailed,
      `Helm uninstall remediation for release ${fullName(latest)} with chart ${versioned} failed: ${(error as Error).message}`,
    );
  }
  const message = `Helm uninstall remediation for release ${fullName(latest)} with chart ${versioned} succeeded`;
  run.set(COND.remediated, "True", WHY.uninstallSucceeded, message);
  run.status.history = undefined;
  run.status.inventory = undefined;
  run.summarize();
  const again = !exhausted(run, action);
  if (!again)
    run.status = markFailed(
      run.status,
      run.at,
      WHY.retriesExceeded,
      `Failed to ${action} after ${failureCount(run, action)} attempt(s)`,
      { stalled: true },
    );
  return {
    status: run.status,
    requeueAfterMs: again ? 0 : undefined,
    changed: true,
    event: { severity: "info", reason: WHY.uninstallSucceeded, message },
  };
}

/** A version left pending by an interrupted action is marked failed, as helm-controller's unlock does. */
export async function unlock(run: Run, target: ReleaseTarget, latest: ReleaseRecord): Promise<HelmReleaseOutcome> {
  const was = latest.info.status;
  const failed = await setStatus(
    target.storage,
    latest,
    "failed",
    `Release unlocked from stale '${was}' state`,
    target.now(),
  );
  if (run.status.history?.[0]?.version === failed.version)
    recordSnapshot(run, failed, run.status.lastAttemptedReleaseAction ?? "upgrade");
  const message = `Unlocked Helm release ${fullName(latest)} with chart ${latest.chart.metadata.name}@${latest.chart.metadata.version} in ${was} state`;
  const reason = was === "pending-install" ? WHY.installFailed : WHY.upgradeFailed;
  run.set(COND.released, "False", reason, message);
  run.status = markFailed(run.status, run.at, reason, message);
  return { status: run.status, requeueAfterMs: 0, changed: true, event: { severity: "error", reason, message } };
}
