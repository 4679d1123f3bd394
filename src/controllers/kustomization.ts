import { parseDuration, formatDuration } from "../api/duration.js";
import { kustomizationRetryMs, kustomizationTimeoutMs, type Kustomization } from "../api/kustomization.js";
import type { Artifact } from "../api/meta.js";
import { applyAll } from "../apply/apply.js";
import { formatChangeSet, type ChangeSetEntry } from "../apply/changeset.js";
import { ApplyFailedError, EmptySetPruneError } from "../apply/errors.js";
import { diff, fromChangeSet, merge, parseEntryId, type Inventory } from "../apply/inventory.js";
import type { KubeObject } from "../apply/object.js";
import { deleteInventory, prune } from "../apply/prune.js";
import { checkHealth, refOf, type ObjectHealth, type ObjectRef } from "../apply/wait.js";
import type { Cluster } from "../cluster/cluster.js";
import type { ReconcileRequest } from "../queue/queue.js";
import { BuildError } from "../render/kustomize.js";
import { SubstitutionError } from "../render/substitute.js";
import { SecretError } from "../secrets/secrets.js";
import { formatKey } from "../store/store.js";
import { findCondition, isReady, removeCondition, setCondition, type ConditionInput } from "./conditions.js";
import { applyFleetObjects, fleetHealth, isFluxEntry, isFluxObject, pruneFleetObjects } from "./fleet.js";
import type { Outcome } from "./outcome.js";
import { renderKustomization } from "./render.js";
import type { Runtime } from "./runtime.js";

type Status = NonNullable<Kustomization["status"]>;

/** The longest pause between health checks of a rollout (Flux polls every 5 s, blocking a worker). */
const MAX_HEALTH_POLL_MS = 10_000;

/** One reconcile's view of a Kustomization: its identity, status being built, and how to finish. */
class Attempt {
  readonly generation: number;
  readonly namespace: string;
  readonly owner: { name: string; namespace: string };
  readonly now: Date;
  status: Status;
  constructor(
    readonly rt: Runtime,
    readonly ks: Kustomization,
  ) {
    this.generation = ks.metadata.generation ?? 1;
    this.namespace = ks.metadata.namespace ?? "default";
    this.owner = { name: ks.metadata.name, namespace: this.namespace };
    this.now = new Date(rt.clock.now());
    this.status = structuredClone(ks.status ?? {});
  }

  /** The cluster to apply to, as the identity to apply as (`kubeConfig.secretRef`, `serviceAccountName`). */
  cluster(): Promise<Cluster> {
    const { kubeConfig, serviceAccountName } = this.ks.spec;
    return this.rt.cluster({ namespace: this.namespace, serviceAccountName, kubeConfig: kubeConfig?.secretRef && { secretName: kubeConfig.secretRef.name, key: kubeConfig.secretRef.key } });
  }

  set(input: ConditionInput): void {
    this.status.conditions = setCondition(this.status.conditions, input, this.generation, this.now);
  }

  /** Ready=False with Flux's reason; nothing else changes, so nothing is lost. Retried after retryInterval. */
  failed(reason: string, message: string, revision?: string, stalled = false): Outcome {
    this.set({ type: "Ready", status: "False", reason, message });
    if (stalled) this.set({ type: "Stalled", status: "True", reason, message });
    this.status.conditions = removeCondition(this.status.conditions, "Reconciling");
    if (revision) this.status.lastAttemptedRevision = revision;
    this.status.observedGeneration = this.generation;
    return { status: this.status, requeueAfterMs: kustomizationRetryMs(this.ks.spec), changed: true, revision, event: { severity: "error", reason, message } };
  }
}

/**
 * kustomize-controller's reconcile, serverless-shaped: dependencies → source artifact → render
 * (cached) → staged apply (cluster) and registration (Flux kinds, Store) → prune → health, with
 * health checked without blocking (requeue until healthy or timed out).
 */
export async function reconcileKustomization(rt: Runtime, ks: Kustomization, request: ReconcileRequest): Promise<Outcome> {
  const attempt = new Attempt(rt, ks);
  if (ks.metadata.deletionTimestamp) return finalize(attempt);
  if (ks.spec.suspend) return { status: attempt.status };

  const waiting = await unreadyDependency(attempt);
  if (waiting) {
    const outcome = attempt.failed("DependencyNotReady", waiting);
    return { ...outcome, requeueAfterMs: rt.settings.dependencyRequeueMs, event: undefined };
  }
  const artifact = await sourceArtifact(attempt);
  if (typeof artifact === "string") return { ...attempt.failed("ArtifactFailed", artifact), event: undefined };
  const revision = artifact.revision;

  if (request.reason === "health" && healthPending(attempt, revision)) return checkReadiness(attempt, revision, attempt.status.inventory ?? { entries: [] }, [], false);

  let objects: KubeObject[];
  try {
    objects = (await renderKustomization(rt, ks, artifact)).objects;
  } catch (error) {
    if (error instanceof BuildError || error instanceof SubstitutionError || error instanceof SecretError) return attempt.failed("BuildFailed", error.message, revision);
    throw error;
  }

  let cluster: Cluster;
  try {
    cluster = await attempt.cluster();
  } catch (error) {
    return attempt.failed("ReconciliationFailed", (error as Error).message, revision);
  }

  const fleet = objects.filter(isFluxObject);
  const workloads = objects.filter((o) => !isFluxObject(o));
  let changeSet: ChangeSetEntry[];
  try {
    changeSet = await applyAll(cluster, workloads, { owner: attempt.owner, force: ks.spec.force });
    changeSet.push(...(await applyFleetObjects(rt.store, rt.queue, fleet, attempt.owner)));
  } catch (error) {
    if (error instanceof ApplyFailedError) return attempt.failed("ReconciliationFailed", error.message, revision);
    throw error;
  }

  let inventory = fromChangeSet(changeSet);
  if (ks.spec.prune) {
    const previous = attempt.status.inventory;
    try {
      const pruned = await prune(cluster, { entries: (previous?.entries ?? []).filter((e) => !isFluxEntry(e)) }, { entries: inventory.entries.filter((e) => !isFluxEntry(e)) }, { owner: attempt.owner });
      changeSet.push(...pruned.changeSet, ...(await pruneFleetObjects(rt.store, rt.queue, diff(previous, inventory).filter(isFluxEntry), attempt.owner, attempt.now)));
      inventory = merge(inventory, pruned.retained);
      if (pruned.errors.length > 0) {
        attempt.status.inventory = inventory;
        return attempt.failed("PruneFailed", pruned.errors.map((e) => e.message).join("\n"), revision);
      }
    } catch (error) {
      if (error instanceof EmptySetPruneError) return attempt.failed("PruneFailed", error.message, revision);
      throw error;
    }
  } else {
    inventory = merge(inventory, []);
  }
  attempt.status.inventory = inventory;
  const outcome = await checkReadiness(attempt, revision, inventory, changeSet, true, cluster);
  return { ...outcome, applied: changeSet.filter((e) => e.action === "created" || e.action === "configured" || e.action === "deleted").length };
}

/** Flux's dependsOn: each dependency Ready at its current generation. */
async function unreadyDependency(attempt: Attempt): Promise<string | undefined> {
  for (const dep of attempt.ks.spec.dependsOn ?? []) {
    const key = { kind: "Kustomization", namespace: dep.namespace ?? attempt.namespace, name: dep.name };
    const stored = await attempt.rt.store.get(key);
    if (!stored) return `dependency '${key.namespace}/${key.name}' not found`;
    if (!isReady(stored.object as never)) return `dependency '${key.namespace}/${key.name}' is not ready`;
  }
  return undefined;
}

/** The source's artifact, or Flux's message for why there is none. */
async function sourceArtifact(attempt: Attempt): Promise<Artifact | string> {
  const ref = attempt.ks.spec.sourceRef;
  const key = { kind: ref.kind, namespace: ref.namespace ?? attempt.namespace, name: ref.name };
  if (ref.kind !== "GitRepository") return `spec.sourceRef.kind: ${ref.kind} sources are not supported by Sluice yet (GitRepository is)`;
  const stored = await attempt.rt.store.get(key);
  if (!stored) return `Source '${formatKey(key)}' not found`;
  const artifact = (stored.object.status as { artifact?: Artifact } | undefined)?.artifact;
  return artifact ?? `Source artifact not found for '${formatKey(key)}', retrying when it is ready`;
}

/** A health check for this revision is under way (set by a previous attempt). */
function healthPending(attempt: Attempt, revision: string): boolean {
  const reconciling = findCondition(attempt.status.conditions, "Reconciling");
  return reconciling?.status === "True" && reconciling.reason === "Progressing" && attempt.status.lastAttemptedRevision === revision && attempt.status.observedGeneration === attempt.generation;
}

/** What to check: everything applied with `wait`, else the listed `healthChecks`. */
function healthTargets(ks: Kustomization, inventory: Inventory): ObjectRef[] {
  if (ks.spec.wait) return inventory.entries.map((e) => refOf(parseEntryId(e.id), e.v));
  return (ks.spec.healthChecks ?? []).map((h) => ({ apiVersion: h.apiVersion ?? "v1", kind: h.kind, metadata: { name: h.name, namespace: h.namespace ?? ks.metadata.namespace } }));
}

async function checkReadiness(attempt: Attempt, revision: string, inventory: Inventory, changeSet: ChangeSetEntry[], applied: boolean, cluster?: Cluster): Promise<Outcome> {
  const { rt, ks } = attempt;
  const targets = healthTargets(ks, inventory);
  const drifted = applied && ks.status?.lastAppliedRevision === revision;
  const changes = formatChangeSet(changeSet);
  if (targets.length > 0) {
    const target = cluster ?? (await attempt.cluster());
    const health = await objectsHealth(attempt, target, targets);
    const started = healthStart(attempt, revision);
    const elapsed = attempt.now.getTime() - started;
    const timeout = kustomizationTimeoutMs(ks.spec);
    const failed = health.filter((h) => h.status === "Failed");
    const notReady = health.filter((h) => h.status !== "Current");
    if (failed.length > 0 || (notReady.length > 0 && elapsed >= timeout)) {
      const why = failed.length > 0 ? failed : notReady;
      const message = `${failed.length > 0 ? "health check failed" : `timeout waiting for`}: [${why.map((h) => `${h.subject} status: '${h.status}'${h.message ? ` (${h.message})` : ""}`).join(", ")}]`;
      attempt.set({ type: "Healthy", status: "False", reason: "HealthCheckFailed", message });
      attempt.status.inventory = inventory;
      return attempt.failed("HealthCheckFailed", message, revision);
    }
    if (notReady.length > 0) {
      const message = `Running health checks for revision ${revision} with a timeout of ${formatDuration(timeout)}`;
      if (!healthPending(attempt, revision)) attempt.set({ type: "Reconciling", status: "True", reason: "Progressing", message });
      attempt.set({ type: "Ready", status: "Unknown", reason: "Progressing", message });
      attempt.status.lastAttemptedRevision = revision;
      attempt.status.observedGeneration = attempt.generation;
      // Frequent checks at first (most rollouts finish fast), sparser later, so a large fleet
      // waiting on rollouts does not flood the API server.
      const nextCheck = Math.min(Math.max(rt.settings.healthPollMs, elapsed / 2), MAX_HEALTH_POLL_MS);
      return { status: attempt.status, requeueAfterMs: nextCheck, requeueReason: "health", revision, event: changes ? { severity: "info", reason: "Progressing", message: changes } : undefined };
    }
    attempt.set({ type: "Healthy", status: "True", reason: "Succeeded", message: `Health check passed in ${formatDuration(Math.max(elapsed, 0))}` });
  }
  attempt.set({ type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: ${revision}` });
  attempt.status.conditions = removeCondition(removeCondition(attempt.status.conditions, "Reconciling"), "Stalled");
  attempt.status.lastAppliedRevision = revision;
  attempt.status.lastAttemptedRevision = revision;
  attempt.status.observedGeneration = attempt.generation;
  const wasReady = isReady(ks as never) && ks.status?.lastAppliedRevision === revision;
  const interval = parseDuration(ks.spec.interval);
  const message = drifted && changes ? `drift corrected:\n${changes}` : changes || `Reconciliation finished, next run in ${formatDuration(interval)}`;
  const event = !wasReady || changes ? { severity: "info" as const, reason: "ReconciliationSucceeded", message } : undefined;
  return { status: attempt.status, requeueAfterMs: interval, changed: !wasReady, revision, event };
}

/** Health of cluster objects by kstatus, and of Flux objects by their Ready condition in the Store. */
async function objectsHealth(attempt: Attempt, cluster: Cluster, targets: ObjectRef[]): Promise<ObjectHealth[]> {
  const fleet = targets.filter(isFluxObject);
  const workloads = targets.filter((t) => !isFluxObject(t));
  const [report, fleetReport] = await Promise.all([checkHealth(cluster, workloads), fleetHealth(attempt.rt.store, fleet)]);
  return [...report.objects, ...fleetReport];
}

/** When the health check of this revision began: the Reconciling condition's transition, else now. */
function healthStart(attempt: Attempt, revision: string): number {
  const reconciling = findCondition(attempt.status.conditions, "Reconciling");
  return healthPending(attempt, revision) && reconciling ? Date.parse(reconciling.lastTransitionTime) : attempt.now.getTime();
}

/** The Kustomization was removed: delete what it applied per `deletionPolicy`, then let it go. */
async function finalize(attempt: Attempt): Promise<Outcome> {
  const { rt, ks } = attempt;
  const inventory = attempt.status.inventory ?? { entries: [] };
  const policy = ks.spec.deletionPolicy ?? "MirrorPrune";
  const deletes = policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && ks.spec.prune);
  if (inventory.entries.length === 0 || ks.spec.suspend) return { status: attempt.status, finalized: true };
  let cluster: Cluster;
  try {
    cluster = await attempt.cluster();
  } catch (error) {
    return attempt.failed("PruneFailed", (error as Error).message);
  }
  const result = await deleteInventory(cluster, { entries: inventory.entries.filter((e) => !isFluxEntry(e)) }, { owner: attempt.owner, policy, prune: ks.spec.prune });
  const fleet = deletes ? await pruneFleetObjects(rt.store, rt.queue, inventory.entries.filter(isFluxEntry), attempt.owner, attempt.now) : [];
  const changes = formatChangeSet([...result.changeSet, ...fleet]);
  if (result.errors.length > 0) {
    attempt.status.inventory = { entries: result.retained };
    return attempt.failed("PruneFailed", result.errors.map((e) => e.message).join("\n"));
  }
  if (result.remaining.length > 0) {
    return { status: attempt.status, requeueAfterMs: rt.settings.healthPollMs, event: { severity: "info", reason: "Progressing", message: `waiting for termination of: ${result.remaining.join(", ")}` } };
  }
  return { status: attempt.status, finalized: true, event: changes ? { severity: "info", reason: "Progressing", message: changes } : undefined };
}
