import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { CLUSTER_ANNOTATION } from "../../api/cluster.js";
import { formatDuration, parseDuration } from "../../api/duration.js";
import { composeValues } from "../../api/helm-values.js";
import { configDigest } from "../../api/values-digest.js";
import {
  actionTimeoutMsOf,
  maxHistoryOf,
  releaseNameOf,
  releaseNamespaceOf,
  remediationOf,
  storageNamespaceOf,
  type HelmRelease,
  type ReleaseSnapshot,
} from "../../api/helmrelease.js";
import { FORCE_AT, REQUESTED_AT, RESET_AT } from "../../api/meta.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { applyAll } from "../../apply/apply.js";
import { formatChangeSet } from "../../apply/changeset.js";
import { checkHealth, refOfEntry } from "../../apply/wait.js";
import { isUnreachable } from "../../cluster/reachability.js";
import { openChartArchive } from "../../sources/helm-chart-build.js";
import { loadChart } from "../../helm/chart.js";
import { releaseDigest } from "../../helm/observation.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { postRender, PostRenderError } from "../../helm/post-render.js";
import { renderRelease, RenderError, splitOutput } from "../../helm/render.js";
import { ReleaseStorage } from "../../helm/storage.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { healthRules, healthVerdict } from "../../pipeline/sync.js";
import { findCondition, isReady } from "../conditions.js";
import { identityOf } from "../kustomize/fleet-access.js";
import type { Outcome } from "../outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { markFailed, markProgressing, withCondition, withoutConditions, type Stamp } from "../status.js";
import { chartPhase, deleteGeneratedChart, type ChartSource } from "./chart-source.js";
import {
  correctDrift,
  failedDescription,
  FIELD_MANAGER,
  release,
  ReleaseActionError,
  rollback,
  setStatus,
  uninstall,
  type HookLimits,
  type ReleaseTarget,
} from "./release-actions.js";
import { runHooks } from "./hooks.js";
import { releaseState } from "./release-state.js";

// helm-controller's reconcile, serverless-shaped: each request runs at most one Helm action
// (install, upgrade, rollback, uninstall, unlock) and returns; the rollout it started is health-
// checked by later requests (requeued, never waited on), and its verdict decides success or the
// spec's remediation. The decisions are helm-controller's (internal/reconcile/atomic_release.go),
// the conditions, reasons and messages too.

type HelmReleaseStatus = NonNullable<HelmRelease["status"]>;
export type HelmReleaseOutcome = Outcome<HelmReleaseStatus>;

const COND = {
  released: "Released",
  remediated: "Remediated",
  testSuccess: "TestSuccess",
  drifted: "Drifted",
} as const;
const WHY = {
  installSucceeded: "InstallSucceeded",
  installFailed: "InstallFailed",
  upgradeSucceeded: "UpgradeSucceeded",
  upgradeFailed: "UpgradeFailed",
  rollbackSucceeded: "RollbackSucceeded",
  rollbackFailed: "RollbackFailed",
  uninstallSucceeded: "UninstallSucceeded",
  uninstallFailed: "UninstallFailed",
  retriesExceeded: "RetriesExceeded",
  missingRollbackTarget: "MissingRollbackTarget",
  valuesError: "ValuesError",
  driftDetected: "DriftDetected",
  noDriftDetected: "NoDriftDetected",
} as const;
/** Snapshots kept in status.history (helm-controller keeps those since the last success; Sluice caps them too). */
const MAX_SNAPSHOTS = 5;

type ReleaseAction = "install" | "upgrade" | "rollback";

/** One reconcile's view of a HelmRelease: who it is, where its release lives, the status being built. */
class Run {
  readonly at: Stamp;
  readonly namespace: string;
  readonly releaseName: string;
  readonly targetNamespace: string;
  readonly storageNamespace: string;
  status: HelmReleaseStatus;
  constructor(
    readonly ports: ReconcilerPorts,
    readonly hr: HelmRelease,
  ) {
    this.at = { generation: hr.metadata.generation ?? 1, now: new Date(ports.clock.now()) };
    this.namespace = hr.metadata.namespace ?? "default";
    this.releaseName = releaseNameOf(hr);
    this.targetNamespace = releaseNamespaceOf(hr);
    this.storageNamespace = storageNamespaceOf(hr);
    this.status = structuredClone(hr.status ?? {});
  }

  set(type: string, status: "True" | "False" | "Unknown", reason: string, message: string): void {
    this.status = withCondition(this.status, { type, status, reason, message }, this.at);
  }

  /** The cluster and the release storage, as the HelmRelease's identity. */
  async target(): Promise<ReleaseTarget> {
    const identity = identityOf(this.hr, this.ports.settings);
    const secretRef = this.hr.spec.kubeConfig?.secretRef;
    const cluster = await this.ports.cluster({
      namespace: this.namespace,
      serviceAccountName: identity?.name,
      kubeConfig: secretRef && { secretName: secretRef.name, key: secretRef.key },
      insecureKubeConfigTLS: this.ports.settings.insecureKubeConfigTLS,
    });
    return {
      cluster,
      storage: new ReleaseStorage(cluster.client, this.storageNamespace),
      releaseName: this.releaseName,
      namespace: this.targetNamespace,
      owner: { group: "helm.toolkit.fluxcd.io", name: this.hr.metadata.name, namespace: this.namespace },
      commonMetadata: this.hr.spec.commonMetadata,
      now: () => new Date(this.ports.clock.now()),
    };
  }

  /**
   * helm-controller's summarize: Ready mirrors Remediated (always a failure), then TestSuccess (when
   * tests count), then Released.
   */
  summarize(): void {
    const test = this.hr.spec.test;
    if (!test?.enable) this.status = withoutConditions(this.status, COND.testSuccess);
    const order: string[] = [
      COND.remediated,
      ...(test?.enable && !test.ignoreFailures ? [COND.testSuccess] : []),
      COND.released,
    ];
    const lead = order.map((t) => findCondition(this.status.conditions, t)).find((c) => c !== undefined);
    if (!lead) return;
    const ready = lead.type === COND.remediated ? "False" : lead.status;
    this.set(CONDITION.ready, ready, lead.reason, lead.message);
    if (ready === "True") this.status = withoutConditions(this.status, CONDITION.stalled, CONDITION.reconciling);
    this.status.observedGeneration = this.at.generation;
  }

  failedWith(error: ReconcileError): HelmReleaseOutcome {
    this.status = markFailed(this.status, this.at, error.reason, error.message, { stalled: error.stalled });
    return {
      status: this.status,
      requeueAfterMs: error.stalled ? undefined : (error.retryAfterMs ?? parseDuration(this.hr.spec.interval)),
      event: error.quiet ? undefined : { severity: "error", reason: error.reason, message: error.message },
      changed: true,
    };
  }
}

/** Reconciles one HelmRelease: at most one Helm action, or one health check of the rollout under way. */
export async function reconcileHelmRelease(ports: ReconcilerPorts, hr: HelmRelease): Promise<HelmReleaseOutcome> {
  const run = new Run(ports, hr);
  try {
    if (hr.metadata.deletionTimestamp) return await finalize(run);
    if (hr.spec.suspend) return { status: run.status };
    refuseAgentPlacement(hr);
    await dependenciesPhase(run);
    const chart = await chartPhase(ports, hr);
    run.status.helmChart = hr.spec.chart ? `${chart.key.namespace}/${chart.key.name}` : undefined;
    const values = await valuesPhase(run);
    return await releasePhase(run, await run.target(), chart, values);
  } catch (error) {
    if (error instanceof ReconcileError) return run.failedWith(error);
    if (isUnreachable(error)) return run.failedWith(new ReconcileError("RESTClientError", (error as Error).message));
    throw error;
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

/** Flux's dependsOn between HelmReleases: each Ready at its generation; until then a quiet DependencyNotReady. */
async function dependenciesPhase(run: Run): Promise<void> {
  for (const dep of run.hr.spec.dependsOn ?? []) {
    const key = { kind: "HelmRelease", namespace: dep.namespace ?? run.namespace, name: dep.name };
    const stored = await run.ports.store.get(key);
    const message = stored
      ? `dependency '${key.namespace}/${key.name}' is not ready`
      : `unable to get '${key.namespace}/${key.name}' dependency: not found`;
    if (!stored || !isReady(stored.object as never))
      throw new ReconcileError(REASON.dependencyNotReady, message, {
        quiet: true,
        retryAfterMs: run.ports.settings.dependencyRequeueMs,
      });
  }
}

/** `values` over `valuesFrom`, as helm-controller composes them; a missing reference is ValuesError, retried. */
async function valuesPhase(run: Run): Promise<Record<string, unknown>> {
  const { secrets } = run.ports;
  const read = (kind: "ConfigMap" | "Secret", name: string) =>
    kind === "Secret"
      ? secrets.secret({ namespace: run.namespace, name })
      : secrets.configMap({ namespace: run.namespace, name });
  try {
    return await composeValues(run.hr, read);
  } catch (error) {
    throw new ReconcileError(WHY.valuesError, (error as Error).message);
  }
}

async function releasePhase(
  run: Run,
  target: ReleaseTarget,
  chart: ChartSource,
  values: Record<string, unknown>,
): Promise<HelmReleaseOutcome> {
  const { status, hr } = run;
  const desired = { chartName: chart.name, chartVersion: chart.artifact.revision, configDigest: configDigest(values) };
  const moved = await uninstallMovedRelease(run, target, chart.name);
  if (moved) {
    run.status = markProgressing(run.status, run.at, moved);
    return {
      status: run.status,
      requeueAfterMs: 0,
      event: { severity: "info", reason: WHY.uninstallSucceeded, message: moved },
    };
  }
  // A new chart, new values or `flux reconcile --reset` are a new attempt: the failure counts start again.
  const reset = resetRequested(hr);
  if (reset) status.lastHandledResetAt = reset;
  if (
    reset ||
    status.lastAttemptedRevision !== desired.chartVersion ||
    status.lastAttemptedConfigDigest !== desired.configDigest
  )
    Object.assign(status, { failures: undefined, installFailures: undefined, upgradeFailures: undefined });
  Object.assign(status, {
    storageNamespace: run.storageNamespace,
    lastAttemptedGeneration: run.at.generation,
    lastAttemptedRevision: desired.chartVersion,
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
      return remediate(run, target, chart, values, latest!, force);
  }
}

/**
 * helm-controller's ReleaseTargetChanged: a new storage namespace, target namespace, release name or
 * chart name makes a new release, so the old one is uninstalled first (else installing would fail
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
    (current.chartName !== chartName && "chart name");
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

/** The release action whose rollout a previous request left to health-check (Reconciling says which). */
function pendingAction(run: Run): ReleaseAction | undefined {
  const reconciling = findCondition(run.status.conditions, CONDITION.reconciling);
  const match = /^Running '(install|upgrade|rollback)' action/.exec(reconciling?.message ?? "");
  return reconciling?.status === "True" && run.status.observedGeneration === run.at.generation
    ? (match?.[1] as ReleaseAction | undefined)
    : undefined;
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

function failureCount(run: Run, action: "install" | "upgrade"): number {
  return (action === "install" ? run.status.installFailures : run.status.upgradeFailures) ?? 0;
}

function exhausted(run: Run, action: "install" | "upgrade"): boolean {
  const { retries } = remediationOf(run.hr, action);
  return retries >= 0 && failureCount(run, action) > retries;
}

function retriesExceeded(run: Run, action: "install" | "upgrade"): ReconcileError {
  return new ReconcileError(WHY.retriesExceeded, `Failed to ${action} after ${failureCount(run, action)} attempt(s)`, {
    stalled: true,
  });
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
  chart: ChartSource,
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
    const data = await ports.artifacts.get(chart.artifact.path, chart.artifact.digest);
    if (!data)
      throw new ReconcileError(
        REASON.artifactFailed,
        `Source not ready: artifact not found for ${chart.key.kind} '${chart.key.namespace}/${chart.key.name}'`,
        {
          quiet: true,
          retryAfterMs: ports.settings.dependencyRequeueMs,
        },
      );
    let chartDir: string;
    try {
      chartDir = await openChartArchive(data, join(work, "chart"));
    } catch (error) {
      throw new ReconcileError(REASON.artifactFailed, `Could not load chart: ${(error as Error).message}`);
    }
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
      });
    } catch (error) {
      if (!(error instanceof RenderError)) throw error;
      return actionFailed(run, action, chart.name, chart.artifact.revision, error.message, started);
    }
    if (hr.spec.postRenderers?.length) {
      const renderers = hr.spec.postRenderers.map((p) => p.kustomize ?? {});
      let post: string;
      try {
        post = await postRender(ports.tools.kubectl, work, rendered.manifest, renderers);
      } catch (error) {
        if (!(error instanceof PostRenderError)) throw error;
        return actionFailed(run, action, chart.name, chart.artifact.revision, error.message, started);
      }
      const { manifest, objects } = splitOutput(post);
      rendered = { ...rendered, manifest, objects };
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
      maxHistory: maxHistoryOf(hr),
      hooks: hookLimits(run, action),
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
    return actionFailed(run, action, chart.name, chart.artifact.revision, error.message, started);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The health of the rollout an action started, by kstatus (or `healthCheckExprs`) over what the
 * release applied: success, a failure (the stored version marked failed, as Helm's wait marks it),
 * or another look soon while the action's timeout lasts.
 */
async function healthPhase(
  run: Run,
  target: ReleaseTarget,
  record: ReleaseRecord,
  action: ReleaseAction,
  changes = "",
): Promise<HelmReleaseOutcome> {
  const timeoutMs = actionTimeoutMsOf(run.hr, action);
  // disableWaitForJobs: Jobs are not waited for (they count as healthy however they stand).
  const skipJobs = run.hr.spec[action]?.disableWaitForJobs;
  const refs = (run.status.inventory?.entries ?? []).map(refOfEntry).filter((r) => !(skipJobs && r.kind === "Job"));
  const report = await checkHealth(
    target.cluster,
    refs,
    healthRules({ healthCheckExprs: run.hr.spec.healthCheckExprs }),
  );
  const reconciling = findCondition(run.status.conditions, CONDITION.reconciling);
  const elapsed =
    pendingAction(run) === action && reconciling
      ? run.at.now.getTime() - Date.parse(reconciling.lastTransitionTime)
      : 0;
  const verdict = healthVerdict(report.objects, elapsed, timeoutMs);
  if (verdict.state === "healthy") return succeeded(run, record, action, changes);
  if (verdict.state !== "failed") {
    const message = `Running '${action}' action with timeout of ${formatDuration(timeoutMs)}`;
    run.status = markProgressing(run.status, run.at, message);
    const poll = Math.min(Math.max(run.ports.settings.healthPollMs, elapsed / 2), 10_000);
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
  const chart = record.chart.metadata;
  if (action === "rollback")
    return remediationFailed(
      run,
      WHY.rollbackFailed,
      `Helm rollback to previous release ${fullName(record, rolledBackTo(record))} with chart ${chart.name}@${chart.version} failed: ${verdict.message}`,
    );
  return actionFailed(run, action, chart.name, chart.version, verdict.message);
}

/**
 * Helm's test action: the chart's test hooks (spec.test.filters applied) run and recorded in the
 * release, TestSuccess as helm-controller words it; a failure counts against the active remediation
 * unless test failures are ignored, so the next request remediates.
 */
async function testAction(
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

/** Released=True (or, for a rollback, Remediated=True) and Ready as summarize says. */
function succeeded(run: Run, record: ReleaseRecord, action: ReleaseAction, changes: string): HelmReleaseOutcome {
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

/** An install or upgrade failed: Released=False, the failure counted, remediation on the next request. */
function actionFailed(
  run: Run,
  action: "install" | "upgrade",
  chartName: string,
  chartVersion: string,
  why: string,
  started?: number,
): HelmReleaseOutcome {
  const reason = action === "install" ? WHY.installFailed : WHY.upgradeFailed;
  const message = `Helm ${action} failed for release ${run.targetNamespace}/${run.releaseName} with chart ${chartName}@${chartVersion}: ${why}`;
  const { status } = run;
  status.failures = (status.failures ?? 0) + 1;
  if (action === "install") status.installFailures = (status.installFailures ?? 0) + 1;
  else status.upgradeFailures = (status.upgradeFailures ?? 0) + 1;
  if (started !== undefined)
    status.lastAttemptedReleaseActionDuration = formatDuration(run.ports.clock.now() - started);
  run.set(COND.released, "False", reason, message);
  run.status = markFailed(run.status, run.at, reason, message);
  // The next request remediates (or stalls when retries are spent), at once.
  return {
    status: run.status,
    requeueAfterMs: 0,
    changed: true,
    revision: chartVersion,
    event: { severity: "error", reason, message },
  };
}

/** A failed release: remediation per the spec of the action that failed (atomic_release.go's Failed case). */
async function remediate(
  run: Run,
  target: ReleaseTarget,
  chart: ChartSource,
  values: Record<string, unknown>,
  latest: ReleaseRecord,
  force: boolean,
): Promise<HelmReleaseOutcome> {
  const action = run.status.lastAttemptedReleaseAction;
  const upgrade = () => releaseAction(run, target, chart, values, "upgrade", latest);
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

async function uninstallRemediation(
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

function remediationFailed(run: Run, reason: string, message: string): HelmReleaseOutcome {
  run.set(COND.remediated, "False", reason, message);
  run.status = markFailed(run.status, run.at, reason, message);
  return {
    status: run.status,
    requeueAfterMs: parseDuration(run.hr.spec.interval),
    changed: true,
    event: { severity: "error", reason, message },
  };
}

/** A version left pending by an interrupted action is marked failed, as helm-controller's unlock does. */
async function unlock(run: Run, target: ReleaseTarget, latest: ReleaseRecord): Promise<HelmReleaseOutcome> {
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

/** The HelmRelease was deleted: uninstall what it released (when it has a history of it), then let it go. */
async function finalize(run: Run): Promise<HelmReleaseOutcome> {
  const { hr, ports } = run;
  if (hr.spec.suspend) return { status: run.status, finalized: true };
  try {
    const target = await run.target();
    const latest = await target.storage.latest(run.releaseName);
    if (latest && run.status.history?.length && latest.info.status !== "uninstalled") {
      const changeSet = await uninstall(target, latest, uninstallOptions(run));
      await deleteGeneratedChart(ports, run.status.helmChart);
      const message = `Helm uninstall succeeded for release ${fullName(latest)} with chart ${latest.chart.metadata.name}@${latest.chart.metadata.version}`;
      const changes = formatChangeSet(changeSet);
      return {
        status: run.status,
        finalized: true,
        event: {
          severity: "info",
          reason: WHY.uninstallSucceeded,
          message: changes ? `${message}\n${changes}` : message,
        },
      };
    }
  } catch (error) {
    const message = `Helm uninstall failed for release ${run.targetNamespace}/${run.releaseName}: ${(error as Error).message}`;
    run.status = markFailed(run.status, run.at, WHY.uninstallFailed, message);
    return {
      status: run.status,
      requeueAfterMs: parseDuration(hr.spec.interval),
      event: { severity: "error", reason: WHY.uninstallFailed, message },
    };
  }
  await deleteGeneratedChart(ports, run.status.helmChart);
  return { status: run.status, finalized: true };
}

/** The bounds of an action's hooks (its timeout, the worker's budget), or undefined when `disableHooks`. */
function hookLimits(
  run: Run,
  action: "install" | "upgrade" | "rollback" | "uninstall" | "test",
): HookLimits | undefined {
  if (action !== "test" && run.hr.spec[action]?.disableHooks) return undefined;
  return { timeoutMs: actionTimeoutMsOf(run.hr, action), budgetMs: run.ports.settings.hookBudgetMs };
}

/** `spec.uninstall` as the uninstall action takes it. */
function uninstallOptions(run: Run) {
  const { keepHistory, deletionPropagation } = run.hr.spec.uninstall ?? {};
  return {
    keepHistory: !!keepHistory,
    propagation: deletionPropagation ?? ("background" as const),
    hooks: hookLimits(run, "uninstall"),
  };
}

/** `install.createNamespace`: the target namespace, created when missing (and never deleted, as Flux). */
async function createNamespace(target: ReleaseTarget): Promise<void> {
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: target.namespace } };
  await applyAll(target.cluster, [namespace], { fieldManager: FIELD_MANAGER });
}

/** Puts (or replaces) the snapshot of a stored version at the head of status.history, newest first. */
function recordSnapshot(run: Run, record: ReleaseRecord, action: ReleaseAction): void {
  const snapshot: ReleaseSnapshot = {
    apiVersion: "v2",
    digest: releaseDigest(record),
    name: record.name,
    namespace: record.namespace,
    version: record.version,
    status: record.info.status,
    chartName: record.chart.metadata.name,
    chartVersion: record.chart.metadata.version,
    ...(record.chart.metadata.appVersion && { appVersion: String(record.chart.metadata.appVersion) }),
    configDigest: configDigest(record.config ?? {}),
    firstDeployed: record.info.first_deployed ?? run.at.now.toISOString(),
    lastDeployed: record.info.last_deployed ?? run.at.now.toISOString(),
    ...(record.info.deleted && { deleted: record.info.deleted }),
    action,
  };
  const rest = (run.status.history ?? []).filter((s) => s.version !== record.version);
  run.status.history = [snapshot, ...rest].slice(0, MAX_SNAPSHOTS);
}

/**
 * Snapshots follow what became of their versions in storage (superseded by the action, or trimmed
 * away), as helm-controller's storage observer keeps them: a rollback target must still verify.
 */
function refreshSnapshots(run: Run, stored: ReleaseRecord[]): void {
  const byVersion = new Map(stored.map((r) => [r.version, r]));
  run.status.history = run.status.history
    ?.filter((s) => byVersion.has(s.version))
    .map((s) => {
      const record = byVersion.get(s.version)!;
      return record.info.status === s.status ? s : { ...s, status: record.info.status, digest: releaseDigest(record) };
    });
}

/** The version a rollback's record went back to, from its description (`Rollback to <version>`), as Helm writes it. */
function rolledBackTo(record: ReleaseRecord): number | undefined {
  const match = /^Rollback to (\d+)/.exec(record.info.description ?? "");
  return match ? Number(match[1]) : undefined;
}

/** `<namespace>/<name>.v<version>`, as helm-controller names a release version in messages. */
function fullName(
  release: Pick<ReleaseRecord, "namespace" | "name" | "version"> | undefined,
  version?: number,
): string {
  return release ? `${release.namespace}/${release.name}.v${version ?? release.version}` : "<unknown>";
}

function chartOf(snapshot: ReleaseSnapshot): string {
  return `${snapshot.chartName}@${snapshot.chartVersion}`;
}

/** The cluster's version for `.Capabilities.KubeVersion`. */
async function serverVersion(target: ReleaseTarget): Promise<string> {
  const version = await target.cluster.client.send<{ gitVersion?: string }>({ method: "GET", path: "/version" });
  return version.gitVersion ?? "v1.36.0";
}
