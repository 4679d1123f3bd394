import { formatDuration, parseDuration } from "../../api/duration.js";
import { kustomizationRetryMs, type Kustomization } from "../../api/kustomization.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import type { ServiceAccountRef } from "../../cluster/access-review.js";
import type { Cluster } from "../../cluster/cluster.js";
import type { ReconcileError } from "../../pipeline/reconcile-error.js";
import { findCondition, isReady, type ConditionInput } from "../../pipeline/conditions.js";
import { identityOf } from "./fleet-access.js";
import { nextPollMs, type Outcome } from "../../pipeline/outcome.js";
import type { ClusterRequest, ReconcilerPorts } from "../reconciler-ports.js";
import { upsertHistory } from "./history.js";
import { markFailed, markProgressing, markReady, withCondition, type Stamp } from "../../pipeline/status.js";

export type KustomizationStatus = NonNullable<Kustomization["status"]>;
export type KustomizationOutcome = Outcome<KustomizationStatus>;

/** The longest pause between health checks of a rollout (Flux polls every 5 s, blocking a worker). */

/** One reconcile's view of a Kustomization: its identity, the status being built, and how to finish. */
export class Attempt {
  readonly generation: number;
  readonly namespace: string;
  readonly owner: { name: string; namespace: string };
  /** The service account it acts as (its own or the default one); undefined: the control plane's identity. */
  readonly identity: ServiceAccountRef | undefined;
  readonly now: Date;
  /**
   * The registered cluster it targets when its registration says how to reach it; undefined: kubeConfig.secretRef
   * or the control plane's.
   */
  target?: NonNullable<ClusterRequest["cluster"]>;
  /** The source revision being reconciled, once the source phase found it: failures from then on name it. */
  revision?: string;
  /**
   * The source's origin revision (an OCI artifact's `org.opencontainers.image.revision`), Flux's
   * lastAppliedOriginRevision.
   */
  originRevision?: string;
  /** Things the success event of a new revision should mention (objects left out of the apply). */
  readonly notices: string[] = [];
  /** The digest of the rendered set once it is ready to apply: outcomes from then on go into `status.history`. */
  digest?: string;
  status: KustomizationStatus;
  constructor(
    readonly ports: ReconcilerPorts,
    readonly ks: Kustomization,
  ) {
    this.generation = ks.metadata.generation ?? 1;
    this.namespace = ks.metadata.namespace ?? "default";
    this.owner = { name: ks.metadata.name, namespace: this.namespace };
    this.identity = identityOf(ks, ports.settings);
    this.now = new Date(ports.clock.now());
    this.status = structuredClone(ks.status ?? {});
  }

  private get stamp(): Stamp {
    return { generation: this.generation, now: this.now };
  }

  /**
   * The cluster to apply to, as the identity to apply as (`kubeConfig.secretRef`, `serviceAccountName` or the
   * default one).
   */
  cluster(): Promise<Cluster> {
    return this.connect(this.identity?.name);
  }

  /** The same cluster as the control plane's own identity there (the kubeconfig's user), which may review access. */
  controlCluster(): Promise<Cluster> {
    return this.connect(undefined);
  }

  private connect(serviceAccountName: string | undefined): Promise<Cluster> {
    const secretRef = this.ks.spec.kubeConfig?.secretRef;
    const kubeConfig = secretRef && { secretName: secretRef.name, key: secretRef.key };
    const { insecureKubeConfigTLS } = this.ports.settings;
    return this.ports.cluster({
      namespace: this.namespace,
      serviceAccountName,
      kubeConfig,
      insecureKubeConfigTLS,
      cluster: this.target,
    });
  }

  set(input: ConditionInput): void {
    this.status = withCondition(this.status, input, this.stamp);
  }

  /** The status as it stands, with nothing else to do until the next request. */
  unchanged(): KustomizationOutcome {
    return { status: this.status };
  }

  /** A phase's typed failure, with its reason, retry and event as the error says. */
  failedWith(error: ReconcileError): KustomizationOutcome {
    const outcome = this.failed(error.reason, error.message, this.revision, error.stalled);
    return {
      ...outcome,
      ...(error.retryAfterMs !== undefined && { requeueAfterMs: error.retryAfterMs }),
      ...(error.quiet && { event: undefined }),
    };
  }

  /**
   * Ready=False with Flux's reason; nothing else changes, so nothing is lost. Retried after
   * retryInterval, unless `stalled`: then only a change of the spec (which enqueues it) can help.
   */
  failed(reason: string, message: string, revision?: string, stalled = false): KustomizationOutcome {
    this.record(reason); // before the mark: it measures the rollout from the Reconciling condition
    this.status = markFailed(this.status, this.stamp, reason, message, { stalled });
    if (revision) this.status.lastAttemptedRevision = revision;
    const requeueAfterMs = stalled ? undefined : kustomizationRetryMs(this.ks.spec);
    return {
      status: this.status,
      requeueAfterMs,
      changed: true,
      revision,
      event: { severity: "error", reason, message },
    };
  }

  /** Ready=True at this revision; an event when it just became Ready or something changed. */
  succeeded(revision: string, changes: string): KustomizationOutcome {
    const { ks } = this;
    this.record(REASON.reconciliationSucceeded);
    this.status = markReady(this.status, this.stamp, REASON.reconciliationSucceeded, `Applied revision: ${revision}`);
    this.status.lastAppliedRevision = revision;
    this.status.lastAppliedOriginRevision = this.originRevision;
    this.status.lastAttemptedRevision = revision;
    const isNewRevision = ks.status?.lastAppliedRevision !== revision;
    const wasReady = isReady(ks as never) && !isNewRevision;
    const interval = parseDuration(ks.spec.interval);
    const told = [changes, ...(isNewRevision ? this.notices : [])].filter(Boolean).join("\n");
    const message = told || `Reconciliation finished, next run in ${formatDuration(interval)}`;
    const event =
      !wasReady || told ? { severity: "info" as const, reason: REASON.reconciliationSucceeded, message } : undefined;
    return { status: this.status, requeueAfterMs: interval, changed: !wasReady, revision, event };
  }

  /**
   * Ready=Unknown while a revision rolls out (health checks, or an agent applying it); polled with `health`
   * requests.
   */
  progressing(revision: string, message: string, elapsedMs: number): KustomizationOutcome {
    this.status = markProgressing(this.status, this.stamp, message);
    this.status.lastAttemptedRevision = revision;
    const nextCheck = nextPollMs(this.ports.settings.healthPollMs, elapsedMs);
    return { status: this.status, requeueAfterMs: nextCheck, requeueReason: "health", revision };
  }

  /**
   * Notes the outcome in `status.history` as Flux does: once the rendered set is known, whatever
   * happens to it (applied, refused, pruned, healthy or not) is a snapshot of that digest.
   */
  private record(status: string): void {
    if (!this.digest || !this.revision) return;
    const clockNow = this.ports.clock.now();
    const durationMs = clockNow - this.now.getTime() + this.elapsed(this.revision);
    const metadata = { revision: this.revision, ...(this.originRevision && { originRevision: this.originRevision }) };
    const entry = { digest: this.digest, at: new Date(clockNow), durationMs, status, metadata };
    this.status.history = upsertHistory(this.status.history, entry);
  }

  /** A rollout of this revision is under way (set by a previous attempt). */
  pending(revision: string): boolean {
    const reconciling = findCondition(this.status.conditions, CONDITION.reconciling);
    return (
      reconciling?.status === "True" &&
      reconciling.reason === REASON.progressing &&
      this.status.lastAttemptedRevision === revision &&
      this.status.observedGeneration === this.generation
    );
  }

  /** How long the rollout of this revision has been under way: since the Reconciling transition, else 0. */
  elapsed(revision: string): number {
    const reconciling = findCondition(this.status.conditions, CONDITION.reconciling);
    return this.pending(revision) && reconciling
      ? Math.max(0, this.now.getTime() - Date.parse(reconciling.lastTransitionTime))
      : 0;
  }
}
