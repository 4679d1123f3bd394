import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatDuration, parseDuration } from "../../api/duration.js";
import { configDigest } from "../../api/values-digest.js";
import { composeValues } from "../../api/helm-values.js";
import { maxHistoryOf, remediationOf, type HelmRelease } from "../../api/helmrelease.js";
import { FORCE_AT, REQUESTED_AT, RESET_AT } from "../../api/meta.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { applyAll } from "../../apply/apply.js";
import { formatChangeSet } from "../../apply/changeset.js";
import { openChartArchive, setChartVersion } from "../../sources/helm-chart-build.js";
import { loadChart } from "../../helm/chart.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { PostRenderError } from "../../helm/post-render.js";
import { postRenderRelease } from "../../helm/post-render-strategy.js";
import { renderRelease, RenderError } from "../../helm/render.js";
import { ReleaseStorage } from "../../helm/storage.js";
import { currentRelease, reuseValues } from "../../helm/reuse-values.js";
import type { Secrets } from "../../secrets/secrets.js";
import { ReconcileError } from "../reconcile-error.js";
import { findCondition, isReady } from "../conditions.js";
import { markFailed, markProgressing, withoutConditions } from "../status.js";
import {
  appliesServerSide,
  correctDrift,
  FIELD_MANAGER,
  fluxMetadata,
  release,
  ReleaseActionError,
  uninstall,
  type ReleaseTarget,
} from "./release-actions.js";
import { releaseState } from "./release-state.js";
import type { Run } from "./release-run.js";
import {
  activeRetryMs,
  COND,
  exhausted,
  retriesExceeded,
  hookLimits,
  uninstallOptions,
  recordSnapshot,
  refreshSnapshots,
  fullName,
  chartOf,
  WHY,
  type HelmReleaseOutcome,
} from "./release-run.js";
import { pendingAction, healthPhase, succeeded, actionFailed } from "./release-verdicts.js";
import { remediate, unlock } from "./remediation.js";
import { testAction } from "./helm-test.js";

// helm-controller's reconcile, serverless-shaped: each request runs at most one Helm action
// (install, upgrade, rollback, uninstall, unlock) and returns; the rollout it started is health-
// checked by later requests (requeued, never waited on), and its verdict decides success or the
// spec's remediation. The decisions are helm-controller's (internal/reconcile/atomic_release.go),
// the conditions, reasons and messages too. The control plane runs it for direct clusters, the
// pull agent for its own.

/** The chart a release is made from: its name and version, and its packaged archive when an action needs it. */
export interface ReleaseChart {
  name: string;
  version: string;
  /** The OCI artifact's digest, for a chart from an OCI source (released as `<version>+<digest>`). */
  ociDigest?: string;
  /** The chart archive (.tgz); throws a ReconcileError when it cannot be had. */
  archive(): Promise<Buffer>;
}

/**
 * `values` over `valuesFrom` (ConfigMaps and Secrets of the HelmRelease's namespace, read where the release
 * runs), as helm-controller composes them; a missing reference is ValuesError, retried.
 */
export async function releaseValues(hr: HelmRelease, secrets: Secrets): Promise<Record<string, unknown>> {
  const namespace = hr.metadata.namespace ?? "default";
  const read = (kind: "ConfigMap" | "Secret", name: string) =>
    kind === "Secret" ? secrets.secret({ namespace, name }) : secrets.configMap({ namespace, name });
  try {
    return await composeValues(hr, read);
  } catch (error) {
    throw new ReconcileError(WHY.valuesError, (error as Error).message);
  }
}

/**
 * One step of a HelmRelease whose chart and values are known: at most one Helm action, or one health
 * check of the rollout under way.
 */
export async function reconcileRelease(
  run: Run,
  chart: ReleaseChart,
  values: Record<string, unknown>,
): Promise<HelmReleaseOutcome> {
  return releasePhase(run, await run.target(), chart, values);
}

async function releasePhase(
  run: Run,
  target: ReleaseTarget,
  chart: ReleaseChart,
  values: Record<string, unknown>,
): Promise<HelmReleaseOutcome> {
  const { status, hr } = run;
  const desired = { chartName: chart.name, chartVersion: chart.version, configDigest: configDigest(values) };
  const moved = await uninstallMovedRelease(run, target, chart.name);
  if (moved) {
    run.status = markProgressing(run.status, run.at, moved);
    return {
      status: run.status,
      requeueAfterMs: 0,
      event: { severity: "info", reason: WHY.uninstallSucceeded, message: moved },
    };
  }
  // A new generation, chart or values, or `flux reconcile --reset`, are a new attempt: the failure counts start
  // again (helm-controller's MustResetFailures).
  const reset = resetRequested(hr);
  if (reset) status.lastHandledResetAt = reset;
  if (
    reset ||
    status.lastAttemptedGeneration !== run.at.generation ||
    status.lastAttemptedRevision !== desired.chartVersion ||
    status.lastAttemptedConfigDigest !== desired.configDigest
  )
    Object.assign(status, { failures: undefined, installFailures: undefined, upgradeFailures: undefined });
  Object.assign(status, {
    storageNamespace: run.storageNamespace,
    lastAttemptedGeneration: run.at.generation,
    lastAttemptedRevision: desired.chartVersion,
    lastAttemptedRevisionDigest: chart.ociDigest,
    lastAttemptedConfigDigest: desired.configDigest,
  });
  const latest = await target.storage.latest(run.releaseName);
  const pending = pendingAction(run);
  if (pending && latest && latest.version === status.history?.[0]?.version && latest.info.status === "deployed")
    return healthPhase(run, target, latest, pending);

  const test = hr.spec.test;
  const remediation = status.lastAttemptedReleaseAction && remediationOf(hr, status.lastAttemptedReleaseAction);
  const failuresCount = !(remediation ? remediation.ignoreTestFailures : test?.ignoreFailures);
  const state = releaseState(hr, latest, desired, configDigest, { enable: !!test?.enable, failuresCount });
  const force = forceRequested(hr);
  const act = (action: "install" | "upgrade") => releaseAction(run, target, chart, values, action, latest);
  switch (state.status) {
    case "InSync":
      return inSync(run, await driftPhase(run, target, latest!));
    case "Untested":
      return testAction(run, target, latest!, failuresCount);
    case "Locked":
      return unlock(run, target, latest!);
    case "Absent":
      if (exhausted(run, "install") && !force) throw retriesExceeded(run, "install");
      return act("install");
    case "Unmanaged":
      run.status.history = undefined; // nothing it says can be trusted any more
      return act("upgrade");
    case "OutOfSync":
      if (exhausted(run, "upgrade") && !force) throw retriesExceeded(run, "upgrade");
      return act("upgrade");
    case "Failed":
      // RetryOnFailure: the failed release is upgraded again, as `--force` would, never remediated. (Its history
      // needs no TruncateIgnoringPreviousSnapshots: Sluice keeps the newest MAX_SNAPSHOTS either way.)
      if (activeRetryMs(run) !== undefined) return act("upgrade");
      return remediate(run, target, latest!, force, () => act("upgrade"));
  }
}

/**
 * helm-controller's ReleaseTargetChanged: a new storage namespace, target namespace, release name or
 * chart name (unless `upgrade.chartNameChangeStrategy` is InPlaceUpdate) makes a new release, so the old one is uninstalled first (else installing would fail
 * on objects that already exist, and the old release would be orphaned). Says what it did, if anything.
 */
async function uninstallMovedRelease(run: Run, target: ReleaseTarget, chartName: string): Promise<string | undefined> {
  const { status } = run;
  const current = status.history?.[0];
  if (!status.storageNamespace || !current) return undefined;
  const changed =
    (status.storageNamespace !== run.storageNamespace && "storage namespace") ||
    (current.namespace !== run.targetNamespace && "release namespace") ||
    (current.name !== run.releaseName && "release name") ||
    // upgrade.chartNameChangeStrategy InPlaceUpdate: a renamed chart upgrades the release like any new version.
    (current.chartName !== chartName &&
      run.hr.spec.upgrade?.chartNameChangeStrategy !== "InPlaceUpdate" &&
      "chart name");
  if (!changed) return undefined;
  const old: ReleaseTarget = {
    ...target,
    storage: new ReleaseStorage(target.cluster.client, status.storageNamespace),
    releaseName: current.name,
    namespace: current.namespace,
  };
  const latest = await old.storage.latest(current.name);
  if (latest && latest.info.status !== "uninstalled") await uninstall(old, latest, uninstallOptions(run));
  Object.assign(status, {
    history: undefined,
    storageNamespace: undefined,
    failures: undefined,
    installFailures: undefined,
    upgradeFailures: undefined,
  });
  return `release target configuration changed (${changed}): uninstalled release ${fullName(current)} with chart ${chartOf(current)}`;
}

/** `reconcile.fluxcd.io/resetAt` set with requestedAt and not handled yet: its value, else undefined. */
function resetRequested(hr: HelmRelease): string | undefined {
  const at = hr.metadata.annotations?.[RESET_AT];
  return at && at === hr.metadata.annotations?.[REQUESTED_AT] && at !== hr.status?.lastHandledResetAt ? at : undefined;
}

function forceRequested(hr: HelmRelease): boolean {
  const at = hr.metadata.annotations?.[FORCE_AT];
  return !!at && at === hr.metadata.annotations?.[REQUESTED_AT] && at !== hr.status?.lastHandledForceAt;
}

/**
 * driftDetection (enabled or warn): Drifted=True with helm-controller's message when the cluster's
 * objects differ from the release's manifest, corrected at once when enabled; False when they do not.
 */
async function driftPhase(
  run: Run,
  target: ReleaseTarget,
  latest: ReleaseRecord,
): Promise<HelmReleaseOutcome["event"]> {
  const mode = run.hr.spec.driftDetection?.mode;
  if (mode !== "enabled" && mode !== "warn") {
    run.status = withoutConditions(run.status, COND.drifted);
    return undefined;
  }
  const drifted = await correctDrift(target, latest, { mode, ignore: run.hr.spec.driftDetection?.ignore });
  if (drifted.length === 0) {
    run.set(COND.drifted, "False", WHY.noDriftDetected, "No drift detected against the cluster state");
    return undefined;
  }
  const changes = formatChangeSet(drifted);
  const detected = `Cluster state of release ${fullName(latest)} has drifted from the desired state:\n${changes}`;
  run.set(COND.drifted, "True", WHY.driftDetected, detected);
  if (mode === "warn") return { severity: "error", reason: WHY.driftDetected, message: detected };
  return {
    severity: "info",
    reason: "DriftCorrected",
    message: `Cluster state of release ${fullName(latest)} has been corrected:\n${changes}`,
  };
}

/** Nothing to run: Ready as the Released condition says, after a remediation that already matches the spec too. */
function inSync(run: Run, event?: HelmReleaseOutcome["event"]): HelmReleaseOutcome {
  const wasReady = isReady({ metadata: run.hr.metadata, status: run.hr.status });
  const remediated = findCondition(run.status.conditions, COND.remediated);
  const current = run.status.history?.[0];
  if (
    current &&
    (remediated?.status === "True" || findCondition(run.status.conditions, COND.released)?.status !== "True")
  ) {
    run.status = withoutConditions(run.status, COND.remediated);
    run.set(
      COND.released,
      "True",
      WHY.upgradeSucceeded,
      `Helm upgrade succeeded for release ${fullName(current)} with chart ${chartOf(current)}`,
    );
  }
  run.status = withoutConditions(run.status, CONDITION.reconciling);
  run.summarize();
  return { status: run.status, requeueAfterMs: parseDuration(run.hr.spec.interval), changed: !wasReady, event };
}

/** Runs install or upgrade: render, apply, record; then checks the rollout's health at once. */
async function releaseAction(
  run: Run,
  target: ReleaseTarget,
  chart: ReleaseChart,
  values: Record<string, unknown>,
  action: "install" | "upgrade",
  previous: ReleaseRecord | undefined,
): Promise<HelmReleaseOutcome> {
  const { ports, hr } = run;
  const work = await mkdtemp(join(ports.workDir, "helmrelease-"));
  const started = ports.clock.now();
  run.status.lastAttemptedReleaseAction = action;
  const forced = hr.metadata.annotations?.[FORCE_AT];
  if (forceRequested(hr)) run.status.lastHandledForceAt = forced;
  try {
    const data = await chart.archive();
    let chartDir: string;
    try {
      chartDir = await openChartArchive(data, join(work, "chart"));
      // An OCI chart is released under its version with the artifact's digest as build metadata.
      if (chart.ociDigest) await setChartVersion(chartDir, chart.version);
    } catch (error) {
      throw new ReconcileError(REASON.artifactFailed, `Could not load chart: ${(error as Error).message}`);
    }
    if (action === "upgrade" && hr.spec.upgrade?.preserveValues)
      values = await preservedValues(target, chartDir, values);
    const options = hr.spec[action];
    // install.skipCRDs (deprecated) is Skip; otherwise Create on install, Skip on upgrade, unless `crds` says.
    const skip = action === "install" && hr.spec.install?.skipCRDs;
    const policy = skip ? "Skip" : (options?.crds ?? (action === "install" ? "Create" : "Skip"));
    let rendered;
    try {
      rendered = await renderRelease({
        helm: ports.tools.helm,
        chart: chartDir,
        releaseName: run.releaseName,
        namespace: run.targetNamespace,
        values,
        kubeVersion: await serverVersion(target),
        apiVersions: await target.cluster.discovery.apiVersions(),
        isUpgrade: action === "upgrade",
        includeCrds: policy !== "Skip",
        skipSchemaValidation: options?.disableSchemaValidation,
        workDir: work,
        maxMemoryBytes: ports.settings.renderLimits.maxMemoryBytes,
      });
    } catch (error) {
      if (!(error instanceof RenderError)) throw error;
      return actionFailed(run, action, chart.name, chart.version, error.message, { stored: false, started });
    }
    try {
      rendered = await postRenderRelease(rendered, {
        // helm-controller's default without its UseHelm3Defaults feature gate.
        strategy: hr.spec.postRenderStrategy ?? "combined",
        renderers: (hr.spec.postRenderers ?? []).map((p) => p.kustomize ?? {}),
        hookMetadata: fluxMetadata(target),
        kubectl: ports.tools.kubectl,
        workDir: work,
        limits: ports.settings.renderLimits,
      });
    } catch (error) {
      if (!(error instanceof PostRenderError) && !(error instanceof RenderError)) throw error;
      return actionFailed(run, action, chart.name, chart.version, error.message, { stored: false, started });
    }
    if (action === "install" && hr.spec.install?.createNamespace) await createNamespace(target);
    const result = await release(target, {
      action,
      chart: await loadChart(chartDir),
      rendered,
      values,
      previous,
      crds: policy,
      force: action === "upgrade" && !!hr.spec.upgrade?.force,
      serverSideApply:
        action === "install"
          ? (hr.spec.install?.serverSideApply ?? true)
          : appliesServerSide(hr.spec.upgrade?.serverSideApply, previous),
      maxHistory: maxHistoryOf(hr),
      hooks: hookLimits(run, action),
      disableTakeOwnership: hr.spec[action]?.disableTakeOwnership,
      cleanupOnFail: action === "upgrade" && !!hr.spec.upgrade?.cleanupOnFail,
      replace: action === "install" && !!hr.spec.install?.replace,
    });
    recordSnapshot(run, result.record, action);
    refreshSnapshots(run, result.stored);
    run.status.inventory = result.inventory;
    run.status.lastAttemptedReleaseActionDuration = formatDuration(ports.clock.now() - started);
    const changes = formatChangeSet(result.changeSet);
    if (hr.spec[action]?.disableWait) return succeeded(run, result.record, action, changes);
    return healthPhase(run, target, result.record, action, changes);
  } catch (error) {
    if (!(error instanceof ReleaseActionError)) throw error;
    if (error.record) recordSnapshot(run, error.record, action);
    const attempt = { stored: !!error.record, started };
    return actionFailed(run, action, chart.name, chart.version, error.message, attempt);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The HelmRelease was deleted: uninstall what it released (when its history says it did) as
 * `spec.uninstall` says; finalized once done (or suspended), else failed and retried at the interval.
 */
export async function uninstallRelease(run: Run): Promise<HelmReleaseOutcome> {
  const { hr } = run;
  if (hr.spec.suspend) return { status: run.status, finalized: true };
  try {
    const target = await run.target();
    const latest = await target.storage.latest(run.releaseName);
    if (!latest || !run.status.history?.length || latest.info.status === "uninstalled")
      return { status: run.status, finalized: true };
    const changes = formatChangeSet(await uninstall(target, latest, uninstallOptions(run)));
    const message = `Helm uninstall succeeded for release ${fullName(latest)} with chart ${latest.chart.metadata.name}@${latest.chart.metadata.version}`;
    const event = {
      severity: "info" as const,
      reason: WHY.uninstallSucceeded,
      message: changes ? `${message}\n${changes}` : message,
    };
    return { status: run.status, finalized: true, event };
  } catch (error) {
    const message = `Helm uninstall failed for release ${run.targetNamespace}/${run.releaseName}: ${(error as Error).message}`;
    run.status = markFailed(run.status, run.at, WHY.uninstallFailed, message);
    return {
      status: run.status,
      requeueAfterMs: parseDuration(hr.spec.interval),
      event: { severity: "error", reason: WHY.uninstallFailed, message },
    };
  }
}

/**
 * `upgrade.preserveValues` (Helm's ReuseValues): the values over the current release's, and the chart's defaults
 * replaced by that release's coalesced values (written as JSON, which Helm reads as YAML without re-typing strings).
 */
async function preservedValues(
  target: ReleaseTarget,
  chartDir: string,
  values: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const current = currentRelease(await target.storage.history(target.releaseName));
  if (!current) return values;
  const reused = reuseValues(values, current);
  await writeFile(join(chartDir, "values.yaml"), JSON.stringify(reused.chartValues), { mode: 0o600 });
  return reused.values;
}

/** `install.createNamespace`: the target namespace, created when missing (and never deleted, as Flux). */
async function createNamespace(target: ReleaseTarget): Promise<void> {
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: target.namespace } };
  await applyAll(target.cluster, [namespace], { fieldManager: FIELD_MANAGER });
}

/** The cluster's version for `.Capabilities.KubeVersion`. */
async function serverVersion(target: ReleaseTarget): Promise<string> {
  const version = await target.cluster.client.send<{ gitVersion?: string }>({ method: "GET", path: "/version" });
  return version.gitVersion ?? "v1.36.0";
}
