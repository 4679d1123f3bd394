import { parseDuration } from "../../api/duration.js";
import { CONDITION } from "../../api/reasons.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { markFailed, withoutConditions } from "../status.js";
import { type ReleaseTarget } from "./release-actions.js";
import { runHooks } from "./hooks.js";
import type { Run } from "./release-run.js";
import {
  COND,
  type ReleaseAction,
  hookLimits,
  recordSnapshot,
  fullName,
  type HelmReleaseOutcome,
} from "./release-run.js";

/**
 * Helm's test action: the chart's test hooks (spec.test.filters applied) run and recorded in the
 * release, TestSuccess as helm-controller words it; a failure counts against the active remediation
 * unless test failures are ignored, so the next request remediates.
 */
export async function testAction(
  run: Run,
  target: ReleaseTarget,
  latest: ReleaseRecord,
  failuresCount: boolean,
): Promise<HelmReleaseOutcome> {
  const filters = run.hr.spec.test?.filters ?? [];
  const included = filters.filter((f) => !f.exclude);
  const select = (hook: { name: string }) =>
    !filters.some((f) => f.exclude && f.name === hook.name) &&
    (included.length === 0 || included.some((f) => f.name === hook.name));
  const tested = await runHooks(target, latest.hooks ?? [], "test", hookLimits(run, "test")!, select);
  const record = { ...latest, hooks: tested.hooks };
  await target.storage.update(record, target.now());
  recordSnapshot(run, record, (run.status.history?.[0]?.action as ReleaseAction | undefined) ?? "upgrade");
  const head = run.status.history![0]!;
  head.testHooks = Object.fromEntries(
    tested.hooks
      .filter((h) => (h.events.includes("test") || h.events.includes("test-success")) && select(h) && h.last_run.phase)
      .map((h) => [
        h.name,
        { lastStarted: h.last_run.started_at, lastCompleted: h.last_run.completed_at, phase: h.last_run.phase },
      ]),
  );
  const versioned = `${latest.chart.metadata.name}@${latest.chart.metadata.version}`;
  if (tested.failure) {
    const message = `Helm test failed for release ${fullName(latest)} with chart ${versioned}: ${tested.failure}`;
    run.set(COND.testSuccess, "False", "TestFailed", message);
    const action = run.status.lastAttemptedReleaseAction;
    if (failuresCount && action) {
      run.status.failures = (run.status.failures ?? 0) + 1;
      if (action === "install") run.status.installFailures = (run.status.installFailures ?? 0) + 1;
      else run.status.upgradeFailures = (run.status.upgradeFailures ?? 0) + 1;
    }
    run.summarize();
    if (failuresCount) run.status = markFailed(run.status, run.at, "TestFailed", message);
    return {
      status: run.status,
      requeueAfterMs: failuresCount ? 0 : parseDuration(run.hr.spec.interval),
      changed: true,
      event: { severity: "error", reason: "TestFailed", message },
    };
  }
  const count = Object.keys(head.testHooks).length;
  const hooks = count === 0 ? "no test hooks" : `${count} test ${count > 1 ? "hooks" : "hook"} completed successfully`;
  const message = `Helm test succeeded for release ${fullName(latest)} with chart ${versioned}: ${hooks}`;
  run.set(COND.testSuccess, "True", "TestSucceeded", message);
  run.status = withoutConditions(run.status, CONDITION.reconciling);
  run.summarize();
  return {
    status: run.status,
    requeueAfterMs: parseDuration(run.hr.spec.interval),
    changed: true,
    event: { severity: "info", reason: "TestSucceeded", message },
  };
}
