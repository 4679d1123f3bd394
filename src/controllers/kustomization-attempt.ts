import { formatDuration, parseDuration } from "../api/duration.js";
import { kustomizationRetryMs, type Kustomization } from "../api/kustomization.js";
import type { Inventory } from "../apply/inventory.js";
import { refOfEntry, type ObjectRef } from "../apply/wait.js";
import type { ServiceAccountRef } from "../cluster/access-review.js";
import type { Cluster } from "../cluster/cluster.js";
import { findCondition, isReady, removeCondition, setCondition, type ConditionInput } from "./conditions.js";
import { identityOf } from "./fleet-access.js";
import type { Outcome } from "./outcome.js";
import type { ClusterRequest, ReconcilerPorts } from "./reconciler-ports.js";

export type KustomizationStatus = NonNullable<Kustomization["status"]>;

/** The longest pause between health checks of a rollout (Flux polls every 5 s, blocking a worker). */
const MAX_HEALTH_POLL_MS = 10_000;

/** One reconcile's view of a Kustomization: its identity, status being built, and how to finish. */
export class Attempt {
  readonly generation: number;
  readonly namespace: string;
  readonly owner: { name: string; namespace: string };
  /** The service account it acts as (its own or the default one); undefined: the control plane's identity. */
  readonly identity: ServiceAccountRef | undefined;
  readonly now: Date;
  /** The registered cluster it targets when its registration says how to reach it; undefined: kubeConfig.secretRef or the control plane's. */
  target?: NonNullable<ClusterRequest["cluster"]>;
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

  /** The cluster to apply to, as the identity to apply as (`kubeConfig.secretRef`, `serviceAccountName` or the default one). */
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
    this.status.conditions = setCondition(this.status.conditions, input, this.generation, this.now);
  }

  /**
   * Ready=False with Flux's reason; nothing else changes, so nothing is lost. Retried after retryInterval,
   * unless `stalled`: then only a change of the spec (which enqueues it) can help. A Stalled condition
   * from an earlier attempt goes when this failure is not one.
   */
  failed(reason: string, message: string, revision?: string, stalled = false): Outcome {
    this.set({ type: "Ready", status: "False", reason, message });
    if (stalled) this.set({ type: "Stalled", status: "True", reason, message });
    else this.status.conditions = removeCondition(this.status.conditions, "Stalled");
    this.status.conditions = removeCondition(this.status.conditions, "Reconciling");
    if (revision) this.status.lastAttemptedRevision = revision;
    this.status.observedGeneration = this.generation;
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
  succeeded(revision: string, changes: string): Outcome {
    const { ks } = this;
    this.set({
      type: "Ready",
      status: "True",
      reason: "ReconciliationSucceeded",
      message: `Applied revision: ${revision}`,
    });
    this.status.conditions = removeCondition(removeCondition(this.status.conditions, "Reconciling"), "Stalled");
    this.status.lastAppliedRevision = revision;
    this.status.lastAttemptedRevision = revision;
    this.status.observedGeneration = this.generation;
    const wasReady = isReady(ks as never) && ks.status?.lastAppliedRevision === revision;
    const interval = parseDuration(ks.spec.interval);
    const message = changes || `Reconciliation finished, next run in ${formatDuration(interval)}`;
    const event =
      !wasReady || changes ? { severity: "info" as const, reason: "ReconciliationSucceeded", message } : undefined;
    return { status: this.status, requeueAfterMs: interval, changed: !wasReady, revision, event };
  }

  /** Ready=Unknown while a revision rolls out (health checks, or an agent applying it); polled with `health` requests. */
  progressing(revision: string, message: string, elapsedMs: number): Outcome {
    if (!this.pending(revision)) this.set({ type: "Reconciling", status: "True", reason: "Progressing", message });
    this.set({ type: "Ready", status: "Unknown", reason: "Progressing", message });
    this.status.conditions = removeCondition(this.status.conditions, "Stalled");
    this.status.lastAttemptedRevision = revision;
    this.status.observedGeneration = this.generation;
    // Frequent checks at first (most rollouts finish fast), sparser later, so a large fleet
    // waiting on rollouts does not flood the API server.
    const nextCheck = Math.min(Math.max(this.ports.settings.healthPollMs, elapsedMs / 2), MAX_HEALTH_POLL_MS);
    return { status: this.status, requeueAfterMs: nextCheck, requeueReason: "health", revision };
  }

  /** A rollout of this revision is under way (set by a previous attempt). */
  pending(revision: string): boolean {
    const reconciling = findCondition(this.status.conditions, "Reconciling");
    return (
      reconciling?.status === "True" &&
      reconciling.reason === "Progressing" &&
      this.status.lastAttemptedRevision === revision &&
      this.status.observedGeneration === this.generation
    );
  }

  /** How long the rollout of this revision has been under way: since the Reconciling transition, else 0. */
  elapsed(revision: string): number {
    const reconciling = findCondition(this.status.conditions, "Reconciling");
    return this.pending(revision) && reconciling
      ? Math.max(0, this.now.getTime() - Date.parse(reconciling.lastTransitionTime))
      : 0;
  }
}

/** What to check: everything applied with `wait`, else the listed `healthChecks`. */
export function healthTargets(ks: Kustomization, inventory: Inventory): ObjectRef[] {
  if (ks.spec.wait) return inventory.entries.map(refOfEntry);
  return (ks.spec.healthChecks ?? []).map((h) => ({
    apiVersion: h.apiVersion ?? "v1",
    kind: h.kind,
    metadata: { name: h.name, namespace: h.namespace ?? ks.metadata.namespace },
  }));
}
