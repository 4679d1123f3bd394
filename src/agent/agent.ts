import { parseDuration } from "../api/duration.js";
import type { HelmRelease } from "../api/helmrelease.js";
import { CONDITION, REASON } from "../api/reasons.js";
import { formatChangeSet } from "../apply/changeset.js";
import { waitForHealth } from "../apply/wait.js";
import { asServiceAccount, type Cluster } from "../cluster/cluster.js";
import { findCondition } from "../pipeline/conditions.js";
import { decryptPhase } from "../pipeline/decrypt.js";
import {
  reconcileRelease,
  releaseValues,
  uninstallRelease,
  type ReleaseChart,
} from "../pipeline/helm-release/release.js";
import { releaseTarget, Run, type ReleasePorts } from "../pipeline/helm-release/release-run.js";
import { ReconcileError } from "../pipeline/reconcile-error.js";
import {
  healthProgressMessage,
  healthRules,
  healthTargets,
  removeApplied,
  syncObjects,
  unhealthyMessage,
  type SyncResult,
} from "../pipeline/sync.js";
import type { Clock } from "../ports/clock.js";
import type { Log } from "../ports/log.js";
import type { DataKeyDecrypter } from "../ports/data-keys.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import {
  BundleRejectedError,
  bundleDigest,
  openBundle,
  type BundleContent,
  type BundleVerifier,
  type HelmReleaseBundle,
  type KustomizationBundle,
} from "../bundle/bundle.js";
import { type AgentReport, type BundleInbox, type IndexEntry, type UncheckedIndex } from "../bundle/channel.js";
import { refKey, type BundleOwner } from "../bundle/bundle.js";
import { checkIndexEntry, type CheckedEntry } from "../bundle/index-entry.js";
import type { MeasuredObject, ReconcileMetrics } from "../ports/metrics.js";

export interface AgentOptions {
  /** The registered cluster name this agent serves; bundles for any other cluster are refused. */
  cluster: string;
  inbox: BundleInbox;
  verifier: BundleVerifier;
  kube: Cluster;
  clock: Clock;
  log: Log;
  version: string;
  /** How often the index is checked for new bundles. @default 10_000 */
  pollMs?: number;
  /** How often the heartbeat is written. @default 60_000 */
  heartbeatMs?: number;
  /** For SOPS files encrypted to an AWS KMS key (the agent's own role). */
  kms?: DataKeyDecrypter;
  /** Kustomizations applied at once. @default 4 */
  concurrency?: number;
  /** Where each task's duration and result go (the agent's /metrics); absent: not measured. */
  metrics?: ReconcileMetrics;
  /** How HelmReleases are released here (helm and kubectl, scratch space); absent: their bundles are refused. */
  releases?: AgentReleases;
}

/** What releasing HelmReleases takes besides the agent's clock and log. */
export type AgentReleases = Omit<ReleasePorts, "clock" | "log">;

/** The longest pause after repeated failures to reach S3. */
const MAX_BACKOFF_MS = 5 * 60_000;
const DEFAULT_POLL_MS = 10_000;
/** Kustomizations synced at once, as kustomize-controller's `--concurrent` default. */
const DEFAULT_CONCURRENCY = 4;

/** One Kustomization as the agent tracks it. */
interface Tracked {
  /** The verified bundle of the digest last seen (absent after a restart until fetched again, or when refused). */
  content?: BundleContent;
  /** The digest last seen in the index and acted on (applied, failed or refused). */
  seen?: string;
  /** The newest bundle accepted (persisted in every report): anything older is a replay. */
  accepted?: AgentReport["accepted"];
  report?: AgentReport;
  /** A report that could not be written yet (S3 unreachable); written on the next tick. */
  unsent?: AgentReport;
  /** When the next drift check (or retry after a failure) is due. */
  dueAt: number;
}

/**
 * The pull agent: polls its cluster's bundle index (a conditional GET, so an unchanged index costs
 * one cheap request), verifies each new bundle's digest and signature, syncs it with the same apply
 * engine as the worker (staged apply, prune after success, health), re-checks drift every
 * interval, and reports each outcome back. A bundle that does not verify or fails to apply leaves
 * the last good one in place.
 */
export class Agent {
  private readonly tracked = new Map<string, Tracked>();
  private readonly busy = new Set<string>();
  private readonly identities = new Map<string, Cluster>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private etag?: string;
  /** The index's entries with a well-formed key, checked (the index is not signed). */
  private entries = new Map<string, CheckedEntry>();
  private lastHeartbeat = 0;
  /** A report was written since the last heartbeat (so the heartbeat's revision may be stale). */
  private reported = false;
  private stopped = false;
  private wake?: () => void;
  /** When the poll loop last went round, for the liveness probe. */
  private lastLoopAt = Date.now();

  private readonly secrets: KubeSecrets;

  constructor(private readonly options: AgentOptions) {
    this.secrets = new KubeSecrets(options.kube.client);
  }

  /** Picks up where a previous run of the agent left off: what each Kustomization last applied. */
  async resume(): Promise<void> {
    for (const report of await this.options.inbox.reports()) {
      // Reports written before `accepted` existed: the applied bundle is the newest accepted one.
      const accepted =
        report.accepted ?? (report.applied && { sequence: report.applied.sequence, digest: report.applied.digest });
      this.tracked.set(refKey(report.kustomization), { report, seen: report.digest, accepted, dueAt: 0 });
    }
  }

  /** Runs until stopped: ticks every poll interval, backing off (to 5 min) while S3 cannot be reached. */
  async run(): Promise<void> {
    const pollMs = this.options.pollMs ?? DEFAULT_POLL_MS;
    let failures = 0;
    let resumed = false;
    while (!this.stopped) {
      this.lastLoopAt = this.options.clock.now();
      try {
        if (resumed) await this.tick();
        else {
          // The first pass after a start re-syncs every bundle: drift while the agent was away is
          // corrected, and objects already in place are not written again.
          await this.resume();
          await (
            await this.tick()
          ).settled;
          resumed = true;
          this.options.log.info({ bundles: this.entries.size }, "resumed: every bundle checked against the cluster");
        }
        failures = 0;
      } catch (error) {
        failures++;
        this.options.log.warn(
          { err: error, failures, retryInMs: this.backoff(pollMs, failures) },
          "cannot reach the bundle channel; retrying",
        );
      }
      if (!this.stopped)
        await Promise.race([
          this.options.clock.sleep(this.backoff(pollMs, failures)),
          new Promise<void>((resolve) => (this.wake = resolve)),
        ]);
    }
  }

  /** Alive while the poll loop goes round: at most the longest backoff plus a slow tick between rounds. */
  alive(): boolean {
    return this.options.clock.now() - this.lastLoopAt < 2 * MAX_BACKOFF_MS;
  }

  /** Ends `run` after the current tick (a pending pause is cut short). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /**
   * One poll: flush unsent reports, read the index if it changed, start work for every
   * Kustomization that has a new bundle, a retry or a drift check due. Returns once the index is
   * read; `settled` resolves when the work started here is done. An entry missing from the index
   * (unsigned) changes nothing in the cluster: only a signed withdrawal deletes. A bundle refused
   * once is not fetched again until the index names another (the control plane publishes it).
   */
  async tick(): Promise<{ settled: Promise<void> }> {
    const { inbox, clock } = this.options;
    for (const tracked of this.tracked.values()) {
      if (tracked.unsent) {
        await inbox.writeReport(tracked.unsent);
        tracked.report = tracked.unsent;
        tracked.unsent = undefined;
        this.reported = true;
      }
    }
    const answer = await inbox.index(this.etag);
    if (answer !== "unchanged") {
      this.entries = this.checkIndex(answer.index);
      this.etag = answer.etag;
    }
    const now = clock.now();
    const work: Promise<void>[] = [];
    for (const [key, checked] of this.entries) {
      const tracked = this.tracked.get(key) ?? { dueAt: 0 };
      this.tracked.set(key, tracked);
      // What the agent acts on: a bundle's digest, or what is wrong with a malformed entry.
      const seen = "entry" in checked ? checked.entry.digest : checked.problem;
      if (this.busy.has(key) || (tracked.seen === seen && tracked.report?.reason === REASON.bundleRejected)) continue;
      if ("problem" in checked) {
        work.push(
          this.exclusively(key, () =>
            this.refuse(tracked, { ks: checked.ref, digest: checked.digest, revision: "", why: checked.problem, seen }),
          ),
        );
        continue;
      }
      const fresh = tracked.seen !== seen || !tracked.content;
      if (!fresh && (finished(tracked) || now < tracked.dueAt)) continue;
      work.push(
        this.exclusively(key, () => (fresh ? this.receive(key, checked.entry, tracked) : this.act(key, tracked))),
      );
    }
    if (this.reported || now - this.lastHeartbeat >= (this.options.heartbeatMs ?? 60_000)) await this.heartbeat(now);
    return { settled: Promise.all(work).then(() => undefined) };
  }

  /** Checks every entry of a newly read index; one whose key names no Kustomization can only be logged. */
  private checkIndex(index: UncheckedIndex): Map<string, CheckedEntry> {
    const entries = new Map<string, CheckedEntry>();
    for (const [key, value] of Object.entries(index.bundles)) {
      const checked = checkIndexEntry(key, value);
      if (checked) entries.set(key, checked);
      else this.options.log.error({ key: key.slice(0, 300) }, "index entry ignored: its key is not <namespace>/<name>");
    }
    return entries;
  }

  /** Runs one Kustomization's task: never two for the same one, at most `concurrency` at once. */
  private async exclusively(key: string, task: () => Promise<void>): Promise<void> {
    this.busy.add(key);
    while (this.running >= (this.options.concurrency ?? DEFAULT_CONCURRENCY))
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    const started = this.options.clock.now();
    let failed = false;
    try {
      await task();
    } catch (error) {
      failed = true;
      this.options.log.error({ err: error, kustomization: key }, "agent task failed; retried on a later tick");
    } finally {
      this.measure(key, started, failed);
      this.running--;
      this.waiting.shift()?.();
      this.busy.delete(key);
    }
  }

  /**
   * A bundle not synced in this run yet: fetch, verify that it is the index entry's (cluster,
   * Kustomization, digest), refuse a replay, then sync, withdraw or suspend; a refused one is
   * reported and skipped.
   */
  private async receive(key: string, entry: IndexEntry, tracked: Tracked): Promise<void> {
    const { inbox, verifier, cluster, log } = this.options;
    let content: BundleContent;
    try {
      content = await openBundle(await inbox.bundle(entry), verifier, {
        cluster,
        kustomization: entry.kustomization,
        digest: entry.digest,
      });
    } catch (error) {
      if (!(error instanceof BundleRejectedError)) throw error;
      return this.refuse(tracked, {
        ks: entry.kustomization,
        digest: entry.digest,
        revision: entry.revision,
        why: error.message,
      });
    }
    const replay = replayOf(content.sequence, entry.digest, tracked.accepted);
    if (replay)
      return this.refuse(tracked, {
        ks: entry.kustomization,
        digest: entry.digest,
        revision: entry.revision,
        why: replay,
      });
    tracked.seen = entry.digest;
    tracked.content = content;
    tracked.accepted = { sequence: content.sequence, digest: entry.digest };
    if (content.suspended) {
      log.info({ kustomization: key }, "suspended: the cluster is left as it is until a new bundle");
      // Reported so that the suspension's sequence is kept: the bundle before it is a replay from now on.
      const base = this.base(content.kustomization, entry.digest, content.revision, tracked);
      await this.report(tracked, {
        ...base,
        ready: "Unknown",
        reason: REASON.suspended,
        message: "suspended: the cluster is left as it is until a new bundle",
      });
      return;
    }
    await this.act(key, tracked);
  }

  /** Works on the tracked bundle: releases a HelmRelease, syncs a Kustomization's objects or withdraws them. */
  private async act(key: string, tracked: Tracked): Promise<void> {
    const content = tracked.content!;
    if (content.helmRelease) return this.release(key, content, tracked);
    return content.withdrawn ? this.withdraw(key, content, tracked) : this.sync(key, content, tracked);
  }

  /**
   * A bundle that must not be applied (altered, replayed, another cluster's or Kustomization's, or a
   * malformed index entry): reported once, and the last good state kept.
   */
  private async refuse(
    tracked: Tracked,
    refusal: { ks: BundleOwner; digest: string; revision: string; why: string; seen?: string },
  ): Promise<void> {
    const { ks, digest, revision, why } = refusal;
    this.options.log.error(
      { kustomization: refKey(ks), digest, reason: why },
      "bundle refused; keeping the last good state",
    );
    tracked.seen = refusal.seen ?? digest;
    const message = `bundle ${digest || "(none)"} refused: ${why}; the last good state is kept`;
    await this.report(tracked, {
      ...this.base(ks, digest, revision, tracked),
      ready: "False",
      reason: REASON.bundleRejected,
      message,
    });
  }

  /** Applies a bundle (or re-applies it to correct drift), prunes, checks health, reports. */
  private async sync(key: string, content: KustomizationBundle, tracked: Tracked): Promise<void> {
    const { clock, log } = this.options;
    const { options, kustomization, revision } = content;
    const digest = bundleDigest(content);
    const isNew = tracked.report?.applied?.digest !== digest;
    const base = this.base(kustomization, digest, revision, tracked);
    const previous = { entries: tracked.report?.applied?.inventory ?? [] };
    let synced: SyncResult;
    try {
      // SOPS Secrets are decrypted here, with keys that live in this cluster (or the agent's KMS access).
      const readSecret = (name: string) => this.secrets.secret({ namespace: kustomization.namespace, name });
      const objects = await decryptPhase(content.objects, options.decryption, readSecret, this.options.kms);
      synced = await syncObjects(
        this.identity(content.kustomization, options.serviceAccountName),
        objects,
        previous,
        kustomization,
        options,
      );
    } catch (error) {
      if (!(error instanceof ReconcileError)) throw error;
      tracked.dueAt = clock.now() + options.retryMs;
      log.error(
        { kustomization: key, revision, reason: error.reason, err: error },
        "bundle not applied; the previous one stays in place",
      );
      await this.report(tracked, { ...base, ready: "False", reason: error.reason, message: error.message });
      return;
    }
    const applied = {
      digest,
      revision,
      sequence: content.sequence,
      inventory: synced.inventory.entries,
      prune: options.prune,
      deletionPolicy: options.deletionPolicy,
    };
    const changes = formatChangeSet(synced.changeSet);
    const outcome = { ...base, applied, changes: changes || undefined, driftCorrected: !isNew && changes !== "" };
    if (synced.pruneFailure) {
      tracked.dueAt = clock.now() + options.retryMs;
      const { reason, message } = synced.pruneFailure;
      await this.report(tracked, { ...outcome, ready: "False", reason, message });
      return;
    }
    tracked.dueAt = clock.now() + options.intervalMs;
    const targets = healthTargets(options, synced.inventory);
    if (targets.length > 0) {
      if (changes || isNew)
        await this.report(tracked, {
          ...outcome,
          ready: "Unknown",
          reason: REASON.progressing,
          message: healthProgressMessage(revision, options.timeoutMs),
        });
      const health = await waitForHealth(this.identity(kustomization, options.serviceAccountName), targets, {
        timeoutMs: options.timeoutMs,
        custom: healthRules(options),
      });
      if (!health.healthy) {
        tracked.dueAt = clock.now() + options.retryMs;
        await this.report(tracked, {
          ...outcome,
          health: health.objects,
          ready: "False",
          reason: REASON.healthCheckFailed,
          message: unhealthyMessage(health.objects),
        });
        return;
      }
      outcome.health = health.objects;
    }
    if (changes)
      log.info({ kustomization: key, revision, changes }, outcome.driftCorrected ? "drift corrected" : "applied");
    await this.report(tracked, {
      ...outcome,
      ready: "True",
      reason: REASON.reconciliationSucceeded,
      message: `Applied revision: ${revision}`,
    });
  }

  /**
   * A signed withdrawal (the Kustomization was deleted): delete what was applied, per its deletion
   * policy; retried until done. The report stays as a tombstone, so its sequence outlives the
   * Kustomization: a bundle from before the deletion is still a replay after a re-creation.
   */
  private async withdraw(key: string, withdrawal: KustomizationBundle, tracked: Tracked): Promise<void> {
    const applied = tracked.report?.applied;
    if (applied) {
      const { options, kustomization } = withdrawal;
      const removal = await removeApplied(
        this.identity(kustomization, options.serviceAccountName),
        { entries: applied.inventory },
        kustomization,
        options,
      );
      if (removal.failure || removal.remaining.length > 0) {
        tracked.dueAt = this.options.clock.now() + Math.min(options.retryMs, this.options.pollMs ?? DEFAULT_POLL_MS);
        this.options.log.warn(
          { kustomization: key, error: removal.failure?.error.message, remaining: removal.remaining },
          "withdrawn bundle not fully deleted yet",
        );
        return;
      }
      this.options.log.info(
        { kustomization: key, changes: formatChangeSet(removal.changeSet) },
        "withdrawn bundle deleted",
      );
    }
    const base = this.base(withdrawal.kustomization, bundleDigest(withdrawal), withdrawal.revision, tracked);
    const message = `withdrawn: what it applied was handled per deletionPolicy ${withdrawal.options.deletionPolicy}`;
    await this.report(tracked, { ...base, applied: undefined, ready: "True", reason: REASON.withdrawn, message });
  }

  /**
   * A HelmRelease bundle: one step of the release, as the control plane takes it for a direct cluster (at most one
   * Helm action, or a health check of the rollout under way; then drift checks every interval), or the uninstall of a
   * withdrawn one. Its status lives here — the control plane sees none of the release — and goes back in the report.
   */
  private async release(key: string, content: HelmReleaseBundle, tracked: Tracked): Promise<void> {
    const { clock, log, releases } = this.options;
    const base = this.base(content.kustomization, bundleDigest(content), content.revision, tracked);
    if (!releases)
      return this.report(tracked, {
        ...base,
        ready: "False",
        reason: REASON.reconciliationFailed,
        message: "this agent cannot release HelmReleases: it has no helm (use the agent image, which ships it)",
      });
    const { object, serviceAccountName } = content.helmRelease;
    const hr: HelmRelease = { ...object, status: structuredClone(tracked.report?.helmRelease?.status ?? {}) };
    const cluster = this.identity(content.kustomization, serviceAccountName);
    const run = new Run({ clock, log, ...releases }, hr, async () => releaseTarget(cluster, hr, clock));
    let outcome;
    try {
      outcome = content.withdrawn
        ? await uninstallRelease(run)
        : await reconcileRelease(run, bundledChart(content), await releaseValues(hr, this.secrets));
    } catch (error) {
      outcome = run.settle(error);
    }
    tracked.dueAt = clock.now() + (outcome.requeueAfterMs ?? parseDuration(object.spec.interval));
    const ready = findCondition(outcome.status.conditions, CONDITION.ready);
    const helmRelease = { status: outcome.status, event: outcome.event };
    if (outcome.event) log.info({ helmRelease: key, reason: outcome.event.reason }, outcome.event.message);
    if (outcome.finalized)
      return this.report(tracked, {
        ...base,
        helmRelease,
        ready: "True",
        reason: REASON.withdrawn,
        message: "withdrawn: the release is uninstalled",
      });
    await this.report(tracked, {
      ...base,
      helmRelease,
      ready: ready?.status ?? "Unknown",
      reason: ready?.reason ?? REASON.progressing,
      message: ready?.message ?? "release under way",
    });
  }

  /** Who applies a bundle: the agent itself, or the owner's service account (impersonated). */
  private identity(owner: BundleOwner, serviceAccountName: string | undefined): Cluster {
    if (!serviceAccountName) return this.options.kube;
    const key = `${owner.namespace}/${serviceAccountName}`;
    if (!this.identities.has(key))
      this.identities.set(key, asServiceAccount(this.options.kube, owner.namespace, serviceAccountName));
    return this.identities.get(key)!;
  }

  private base(
    kustomization: AgentReport["kustomization"],
    digest: string,
    revision: string,
    tracked: Tracked,
  ): Omit<AgentReport, "ready" | "reason" | "message"> {
    return {
      kustomization,
      digest,
      revision,
      accepted: tracked.accepted,
      applied: tracked.report?.applied,
      reportedAt: new Date(this.options.clock.now()).toISOString(),
    };
  }

  /**
   * Writes a report unless it says nothing new (a drift check that found no drift writes nothing).
   * Its duration runs from when the task made its base (`reportedAt`) until now.
   */
  private async report(tracked: Tracked, outcome: AgentReport): Promise<void> {
    const report = { ...outcome, durationMs: this.options.clock.now() - Date.parse(outcome.reportedAt) };
    const previous = tracked.report;
    const same =
      previous &&
      previous.digest === report.digest &&
      previous.ready === report.ready &&
      previous.reason === report.reason &&
      previous.message === report.message &&
      !report.changes &&
      previous.applied?.digest === report.applied?.digest &&
      JSON.stringify(previous.helmRelease?.status) === JSON.stringify(report.helmRelease?.status);
    if (same) return;
    try {
      await this.options.inbox.writeReport(report);
      tracked.report = report;
      this.reported = true;
    } catch (error) {
      tracked.unsent = report;
      throw error;
    }
  }

  /**
   * A task as a reconcile, for the metrics: failed when it threw or its report is not Ready; a suspension is left as
   * it is; a withdrawal removes the object's series.
   */
  private measure(key: string, started: number, failed: boolean): void {
    if (!this.options.metrics) return;
    const tracked = this.tracked.get(key);
    const report = tracked?.unsent ?? tracked?.report;
    this.options.metrics.reconciled({
      object: taskObject(key),
      durationMs: this.options.clock.now() - started,
      result:
        failed || report?.ready === "False"
          ? "error"
          : report?.reason === REASON.suspended
            ? "success"
            : "requeue_after",
      removed: report?.reason === REASON.withdrawn,
    });
  }

  private async heartbeat(now: number): Promise<void> {
    const reports = [...this.tracked.values()]
      .map((t) => t.report)
      .filter((r): r is AgentReport => r?.applied !== undefined);
    const newest = reports.sort((a, b) => b.reportedAt.localeCompare(a.reportedAt))[0];
    await this.options.inbox.writeHeartbeat({
      cluster: this.options.cluster,
      version: this.options.version,
      lastContact: new Date(now).toISOString(),
      revision: newest?.applied?.revision,
      bundles: [...this.entries.values()].filter((c) => "entry" in c && !c.entry.withdrawn).length,
    });
    this.lastHeartbeat = now;
    this.reported = false;
  }

  private backoff(pollMs: number, failures: number): number {
    return failures === 0 ? pollMs : Math.min(pollMs * 2 ** failures, MAX_BACKOFF_MS);
  }
}

/**
 * Nothing more to do for the bundle until a new one: a suspension, or a withdrawal carried out (a Kustomization's
 * applied objects deleted, a HelmRelease uninstalled).
 */
function finished({ content, report }: Tracked): boolean {
  if (content!.suspended) return true;
  if (!content!.withdrawn) return false;
  return content!.helmRelease ? report?.reason === REASON.withdrawn : !report?.applied;
}

/** The chart a HelmRelease bundle carries, as the release takes it. */
function bundledChart(content: HelmReleaseBundle): ReleaseChart {
  const chart = content.helmRelease.chart;
  if (!chart)
    throw new ReconcileError(REASON.artifactFailed, `bundle for revision ${content.revision} carries no chart`);
  return { ...chart, archive: async () => Buffer.from(chart.archive, "base64") };
}

/** Why a verified bundle is a replay: older than the newest accepted one, or another bundle with its sequence. */
function replayOf(sequence: number, digest: string, accepted: Tracked["accepted"]): string | undefined {
  if (!accepted) return undefined;
  if (sequence < accepted.sequence)
    return `it is older than the accepted bundle (sequence ${sequence} < ${accepted.sequence}), a replay`;
  if (sequence === accepted.sequence && digest !== accepted.digest)
    return `sequence ${sequence} was accepted for bundle ${accepted.digest}, a replay`;
  return undefined;
}

/** The object a task works for, from its index key: `<namespace>/<name>` for a Kustomization, else `<Kind>/…`. */
function taskObject(key: string): MeasuredObject {
  const parts = key.split("/");
  const [kind, namespace, name] = parts.length === 3 ? parts : ["Kustomization", ...parts];
  const apiVersion = kind === "HelmRelease" ? "helm.toolkit.fluxcd.io/v2" : "kustomize.toolkit.fluxcd.io/v1";
  return { apiVersion, kind: kind!, metadata: { name: name!, namespace } };
}
