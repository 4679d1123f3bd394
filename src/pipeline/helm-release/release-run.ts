import { parseDuration } from "../../api/duration.js";
import { configDigest } from "../../api/values-digest.js";
import {
  actionTimeoutMsOf,
  releaseNameOf,
  releaseNamespaceOf,
  remediationOf,
  retryIntervalMsOf,
  storageNamespaceOf,
  type HelmRelease,
  type ReleaseSnapshot,
} from "../../api/helmrelease.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { releaseDigest } from "../../helm/observation.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { ReleaseStorage } from "../../helm/storage.js";
import { ReconcileError } from "../reconcile-error.js";
import { findCondition } from "../conditions.js";
import type { Outcome } from "../outcome.js";
import { markFailed, withCondition, withoutConditions, type Stamp } from "../status.js";
import type { Cluster } from "../../cluster/cluster.js";
import { isUnreachable } from "../../cluster/reachability.js";
import type { Clock } from "../../ports/clock.js";
import type { Log } from "../../ports/log.js";
import type { RenderLimits } from "../../render/limits.js";
import type { RenderTools } from "../../render/tools.js";
import { HELM_GROUP, type HookLimits, type ReleaseTarget } from "./release-actions.js";

// One reconcile of a HelmRelease: who it is, where its release lives, the status being built, and
// the bookkeeping every Helm action shares (failure counts, hook bounds, status.history snapshots).
// The control plane (a direct cluster) and the pull agent (its own cluster) run it alike.

/** What a release needs from the process running it: the control plane's ReconcilerPorts, or the agent's. */
export interface ReleasePorts {
  clock: Clock;
  log: Log;
  tools: RenderTools;
  /** Scratch space; each action uses its own sub-folder. */
  workDir: string;
  settings: {
    /** Shortest pause between health checks of a rollout. */
    healthPollMs: number;
    /** How long hooks may run within one action (a Lambda's time limit bounds it on AWS). */
    hookBudgetMs: number;
    /** Bounds of the post-renderers' kustomize. */
    renderLimits: RenderLimits;
  };
}

export type HelmReleaseStatus = NonNullable<HelmRelease["status"]>;
export type HelmReleaseOutcome = Outcome<HelmReleaseStatus>;

export const COND = {
  released: "Released",
  remediated: "Remediated",
  testSuccess: "TestSuccess",
  drifted: "Drifted",
} as const;
export const WHY = {
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
/** helm-controller's reason while the chart's source has no (current) artifact. */
export const SOURCE_NOT_READY = "SourceNotReady";
/** Snapshots kept in status.history (helm-controller keeps those since the last success; Sluice caps them too). */
const MAX_SNAPSHOTS = 5;
/**
 * The shortest pause before a RetryOnFailure retry. Flux takes any retryInterval its pattern allows (`1ms` re-runs
 * a failing Helm action back to back, `0s` never retries); each retry here renders and applies the whole chart.
 */
export const MIN_RETRY_INTERVAL_MS = 5_000;

export type ReleaseAction = "install" | "upgrade" | "rollback";

/** One reconcile's view of a HelmRelease: who it is, where its release lives, the status being built. */
export class Run {
  readonly at: Stamp;
  readonly namespace: string;
  readonly releaseName: string;
  readonly targetNamespace: string;
  readonly storageNamespace: string;
  status: HelmReleaseStatus;
  constructor(
    readonly ports: ReleasePorts,
    readonly hr: HelmRelease,
    /** The cluster and release storage, as the HelmRelease's identity (connected on first use). */
    readonly target: () => Promise<ReleaseTarget>,
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

  /** The outcome of a step that threw: a ReconcileError or an unreachable cluster fails it; anything else is a bug. */
  settle(error: unknown): HelmReleaseOutcome {
    if (error instanceof ReconcileError) return this.failedWith(error);
    if (isUnreachable(error)) return this.failedWith(new ReconcileError("RESTClientError", (error as Error).message));
    throw error;
  }

  failedWith(error: ReconcileError): HelmReleaseOutcome {
    this.status = markFailed(this.status, this.at, error.reason, error.message, { stalled: error.stalled });
    // helm-controller keeps the Reconciling=True it sets before its prerequisites while it waits for its chart.
    if (error.reason === SOURCE_NOT_READY)
      this.set(CONDITION.reconciling, "True", REASON.progressing, "Fulfilling prerequisites");
    return {
      status: this.status,
      requeueAfterMs: error.stalled ? undefined : (error.retryAfterMs ?? parseDuration(this.hr.spec.interval)),
      event: error.quiet
        ? undefined
        : { severity: "error", reason: error.reason, message: error.eventMessage ?? error.message },
      changed: true,
    };
  }
}

/** Where a HelmRelease's release lives in `cluster`, connected as the HelmRelease's identity. */
export function releaseTarget(cluster: Cluster, hr: HelmRelease, clock: Clock): ReleaseTarget {
  return {
    cluster,
    storage: new ReleaseStorage(cluster.client, storageNamespaceOf(hr)),
    releaseName: releaseNameOf(hr),
    namespace: releaseNamespaceOf(hr),
    owner: { group: HELM_GROUP, name: hr.metadata.name, namespace: hr.metadata.namespace ?? "default" },
    commonMetadata: hr.spec.commonMetadata,
    now: () => new Date(clock.now()),
  };
}

export function failureCount(run: Run, action: "install" | "upgrade"): number {
  return (action === "install" ? run.status.installFailures : run.status.upgradeFailures) ?? 0;
}

export function exhausted(run: Run, action: "install" | "upgrade"): boolean {
  const { retries } = remediationOf(run.hr, action);
  return retries >= 0 && failureCount(run, action) > retries;
}

export function retriesExceeded(run: Run, action: "install" | "upgrade"): ReconcileError {
  return new ReconcileError(WHY.retriesExceeded, `Failed to ${action} after ${failureCount(run, action)} attempt(s)`, {
    stalled: true,
  });
}

/**
 * helm-controller's GetActiveRetry: when the last attempted action (install or upgrade) has the RetryOnFailure
 * strategy, how long to wait before retrying it (at least MIN_RETRY_INTERVAL_MS); undefined when failures are
 * remediated instead.
 */
export function activeRetryMs(run: Run, action = run.status.lastAttemptedReleaseAction): number | undefined {
  if (action !== "install" && action !== "upgrade") return undefined;
  const interval = retryIntervalMsOf(run.hr, action);
  return interval === undefined ? undefined : Math.max(interval, MIN_RETRY_INTERVAL_MS);
}

/** The bounds of an action's hooks (its timeout, the worker's budget), or undefined when `disableHooks`. */
export function hookLimits(
  run: Run,
  action: "install" | "upgrade" | "rollback" | "uninstall" | "test",
): HookLimits | undefined {
  if (action !== "test" && run.hr.spec[action]?.disableHooks) return undefined;
  return { timeoutMs: actionTimeoutMsOf(run.hr, action), budgetMs: run.ports.settings.hookBudgetMs };
}

/** `spec.uninstall` as the uninstall action takes it. */
export function uninstallOptions(run: Run) {
  const { keepHistory, deletionPropagation } = run.hr.spec.uninstall ?? {};
  return {
    keepHistory: !!keepHistory,
    propagation: deletionPropagation ?? ("background" as const),
    hooks: hookLimits(run, "uninstall"),
  };
}

/** Puts (or replaces) the snapshot of a stored version at the head of status.history, newest first. */
export function recordSnapshot(run: Run, record: ReleaseRecord, action: ReleaseAction): void {
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
export function refreshSnapshots(run: Run, stored: ReleaseRecord[]): void {
  const byVersion = new Map(stored.map((r) => [r.version, r]));
  run.status.history = run.status.history
    ?.filter((s) => byVersion.has(s.version))
    .map((s) => {
      const record = byVersion.get(s.version)!;
      return record.info.status === s.status ? s : { ...s, status: record.info.status, digest: releaseDigest(record) };
    });
}

/** The version a rollback's record went back to, from its description (`Rollback to <version>`), as Helm writes it. */
export function rolledBackTo(record: ReleaseRecord): number | undefined {
  const match = /^Rollback to (\d+)/.exec(record.info.description ?? "");
  return match ? Number(match[1]) : undefined;
}

/** `<namespace>/<name>.v<version>`, as helm-controller names a release version in messages. */
export function fullName(
  release: Pick<ReleaseRecord, "namespace" | "name" | "version"> | undefined,
  version?: number,
): string {
  return release ? `${release.namespace}/${release.name}.v${version ?? release.version}` : "<unknown>";
}

export function chartOf(snapshot: ReleaseSnapshot): string {
  return `${snapshot.chartName}@${snapshot.chartVersion}`;
}
