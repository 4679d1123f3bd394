import { formatDuration, parseDuration } from "../../api/duration.js";
import { actionTimeoutMsOf, retryIntervalMsOf } from "../../api/helmrelease.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { legacyReadiness } from "../../apply/health/helm-legacy.js";
import { checkHealth, refOfEntry, type ObjectRef } from "../../apply/wait.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { healthRules, healthVerdict } from "../sync.js";
import { findCondition } from "../conditions.js";
import { nextPollMs } from "../outcome.js";
import { markFailed, markProgressing, withoutConditions } from "../status.js";
import { splitOutput } from "../../helm/render.js";
import { cleanupCreated, failedDescription, setStatus, type ReleaseTarget } from "./release-actions.js";
import type { Run } from "./release-run.js";
import {
  activeRetryMs,
  COND,
  type ReleaseAction,
  recordSnapshot,
  rolledBackTo,
  fullName,
  WHY,
  type HelmReleaseOutcome,
} from "./release-run.js";

// What an action's outcome means for a HelmRelease: its rollout's health verdict, success
// (Released or Remediated), failure (counted for remediation), as helm-controller words each.

/** The release action whose rollout a previous request left to health-check (Reconciling says which). */
export function pendingAction(run: Run): ReleaseAction | undefined {
  const reconciling = findCondition(run.status.conditions, CONDITION.reconciling);
  const match = /^Running '(install|upgrade|rollback)' action/.exec(reconciling?.message ?? "");
  return reconciling?.status === "True" && run.status.observedGeneration === run.at.generation
    ? (match?.[1] as ReleaseAction | undefined)
    : undefined;
}

/**
 * The health of the rollout an action started, by kstatus (or `healthCheckExprs`) over what the
 * release applied: success, a failure (the stored version marked failed, as Helm's wait marks it),
 * or another look soon while the action's timeout lasts.
 */
export async function healthPhase(
  run: Run,
  target: ReleaseTarget,
  record: ReleaseRecord,
  action: ReleaseAction,
  changes = "",
): Promise<HelmReleaseOutcome> {
  const timeoutMs = actionTimeoutMsOf(run.hr, action);
  // disableWaitForJobs: Jobs are not waited for (they count as healthy however they stand).
  const checkJobs = !run.hr.spec[action]?.disableWaitForJobs;
  const refs = (run.status.inventory?.entries ?? []).map(refOfEntry);
  const objects =
    run.hr.spec.waitStrategy?.name === "legacy"
      ? await legacyReadiness(target.cluster, refs, { checkJobs })
      : (await checkHealth(target.cluster, waitedByPoller(refs, record, checkJobs), healthRules(run.hr.spec))).objects;
  const reconciling = findCondition(run.status.conditions, CONDITION.reconciling);
  const elapsed =
    pendingAction(run) === action && reconciling
      ? run.at.now.getTime() - Date.parse(reconciling.lastTransitionTime)
      : 0;
  const verdict = healthVerdict(objects, elapsed, timeoutMs);
  if (verdict.state === "healthy") return succeeded(run, record, action, changes);
  if (verdict.state !== "failed") {
    const message = `Running '${action}' action with timeout of ${formatDuration(timeoutMs)}`;
    run.status = markProgressing(run.status, run.at, message);
    const poll = nextPollMs(run.ports.settings.healthPollMs, elapsed);
    const event = changes ? { severity: "info" as const, reason: REASON.progressing, message: changes } : undefined;
    return { status: run.status, requeueAfterMs: poll, requeueReason: "health", event };
  }
  const failed = await setStatus(
    target.storage,
    record,
    "failed",
    failedDescription(action, record.name, verdict.message),
    target.now(),
  );
  recordSnapshot(run, failed, action);
  const why = await cleanupOnFail(run, target, record, action, verdict.message);
  const chart = record.chart.metadata;
  if (action === "rollback")
    return remediationFailed(
      run,
      WHY.rollbackFailed,
      `Helm rollback to previous release ${fullName(record, rolledBackTo(record))} with chart ${chart.name}@${chart.version} failed: ${why}`,
    );
  return actionFailed(run, action, chart.name, chart.version, why, { stored: true });
}

/**
 * What the `poller` strategy waits for, as helm-controller's waiter: not a Deployment the chart renders paused
 * (it would never roll out), nor Jobs under `disableWaitForJobs`.
 */
function waitedByPoller(refs: ObjectRef[], record: ReleaseRecord, checkJobs: boolean): ObjectRef[] {
  const manifest = record.manifest ?? "";
  // Parsed only when something may be paused: this runs at every health poll.
  const paused = new Set(
    splitOutput(manifest.includes("paused:") ? manifest : "")
      .objects.filter(
        (o) =>
          o.apiVersion === "apps/v1" && o.kind === "Deployment" && (o.spec as { paused?: unknown })?.paused === true,
      )
      .map((o) => `${o.metadata.namespace ?? record.namespace}/${o.metadata.name}`),
  );
  return refs.filter(
    (ref) =>
      (checkJobs || ref.kind !== "Job") &&
      !(
        ref.apiVersion === "apps/v1" &&
        ref.kind === "Deployment" &&
        paused.has(`${ref.metadata.namespace ?? ""}/${ref.metadata.name}`)
      ),
  );
}

/**
 * An upgrade or rollback whose rollout failed, with `upgrade|rollback.cleanupOnFail`: what it created is deleted,
 * against the version before it in storage. Returns the failure's message.
 */
async function cleanupOnFail(
  run: Run,
  target: ReleaseTarget,
  record: ReleaseRecord,
  action: ReleaseAction,
  why: string,
): Promise<string> {
  if (action === "install" || !run.hr.spec[action]?.cleanupOnFail) return why;
  const predecessor = (await target.storage.history(record.name)).find((r) => r.version === record.version - 1);
  return cleanupCreated(target, splitOutput(record.manifest ?? "").objects, predecessor, why);
}

/** Released=True (or, for a rollback, Remediated=True) and Ready as summarize says. */
export function succeeded(run: Run, record: ReleaseRecord, action: ReleaseAction, changes: string): HelmReleaseOutcome {
  const versioned = `${record.chart.metadata.name}@${record.chart.metadata.version}`;
  let message: string;
  if (action === "rollback") {
    message = `Helm rollback to previous release ${fullName(record, rolledBackTo(record))} with chart ${versioned} succeeded`;
    run.set(COND.remediated, "True", WHY.rollbackSucceeded, message);
  } else {
    const [reason, verb] = action === "install" ? [WHY.installSucceeded, "install"] : [WHY.upgradeSucceeded, "upgrade"];
    message = `Helm ${verb} succeeded for release ${fullName(record)} with chart ${versioned}`;
    run.status = withoutConditions(run.status, COND.remediated, COND.testSuccess);
    run.set(COND.released, "True", reason, message);
    // Under RetryOnFailure the counts only mattered while the release was failing.
    if (retryIntervalMsOf(run.hr, action) !== undefined)
      Object.assign(run.status, { failures: undefined, installFailures: undefined, upgradeFailures: undefined });
  }
  run.status = withoutConditions(run.status, CONDITION.reconciling);
  run.summarize();
  // A rollback is checked again at once (the spec may still want an upgrade), a new version is tested at once.
  const requeueAfterMs = action === "rollback" || run.hr.spec.test?.enable ? 0 : parseDuration(run.hr.spec.interval);
  return {
    status: run.status,
    requeueAfterMs,
    changed: true,
    revision: record.chart.metadata.version,
    event: {
      severity: "info",
      reason: findCondition(run.status.conditions, CONDITION.ready)!.reason,
      message: changes ? `${message}\n${changes}` : message,
    },
  };
}

/**
 * An install or upgrade failed: Released=False, the failure counted; then either remediation on the next request,
 * at once, or (RetryOnFailure) the action run again after the retry interval. `stored`: the attempt left a (failed)
 * version in storage.
 */
export function actionFailed(
  run: Run,
  action: "install" | "upgrade",
  chartName: string,
  chartVersion: string,
  why: string,
  attempt: { stored: boolean; started?: number },
): HelmReleaseOutcome {
  const reason = action === "install" ? WHY.installFailed : WHY.upgradeFailed;
  const message = `Helm ${action} failed for release ${run.targetNamespace}/${run.releaseName} with chart ${chartName}@${chartVersion}: ${why}`;
  const { status } = run;
  const retryMs = activeRetryMs(run, action);
  status.failures = (status.failures ?? 0) + 1;
  // helm-controller counts an action's failures only when a version was stored (else nothing needs remediating).
  // Remediating, Sluice counts the others too: its next request, at once, would otherwise repeat the same failure.
  if (attempt.stored || retryMs === undefined) {
    if (action === "install") status.installFailures = (status.installFailures ?? 0) + 1;
    else status.upgradeFailures = (status.upgradeFailures ?? 0) + 1;
  }
  if (attempt.started !== undefined)
    status.lastAttemptedReleaseActionDuration = formatDuration(run.ports.clock.now() - attempt.started);
  run.set(COND.released, "False", reason, message);
  run.status = markFailed(run.status, run.at, reason, message);
  // RetryOnFailure: no remediation; the next attempt (an upgrade once a version is stored) waits out the interval.
  if (retryMs !== undefined)
    run.set(CONDITION.reconciling, "True", REASON.progressingWithRetry, `retrying after ${formatDuration(retryMs)}`);
  return {
    status: run.status,
    // Otherwise the next request remediates (or stalls when retries are spent), at once.
    requeueAfterMs: retryMs ?? 0,
    changed: true,
    revision: chartVersion,
    event: { severity: "error", reason, message },
  };
}

export function remediationFailed(run: Run, reason: string, message: string): HelmReleaseOutcome {
  run.set(COND.remediated, "False", reason, message);
  run.status = markFailed(run.status, run.at, reason, message);
  return {
    status: run.status,
    requeueAfterMs: parseDuration(run.hr.spec.interval),
    changed: true,
    event: { severity: "error", reason, message },
  };
}
