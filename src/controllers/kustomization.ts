import { CLUSTER_ANNOTATION, clusterKey, clusterRegistration } from "../api/cluster.js";
import { formatDuration } from "../api/duration.js";
import { kustomizationTimeoutMs, type Kustomization } from "../api/kustomization.js";
import { InvalidObjectError, parseObject } from "../api/parse.js";
import type { Artifact } from "../api/meta.js";
import { formatChangeSet, type ChangeSetEntry } from "../apply/changeset.js";
import { ApplyFailedError, EmptySetPruneError } from "../apply/errors.js";
import { diff, fromChangeSet, merge, type Inventory, type InventoryEntry } from "../apply/inventory.js";
import type { KubeObject } from "../apply/object.js";
import { deleteInventory } from "../apply/prune.js";
import { customHealth, HealthExpressionError, type CustomHealth } from "../apply/health/expressions.js";
import { syncObjects, unhealthyMessage } from "../apply/sync.js";
import { checkHealth, type ObjectHealth, type ObjectRef } from "../apply/wait.js";
import type { Cluster } from "../cluster/cluster.js";
import type { ReconcileRequest } from "../queue/queue.js";
import { BuildError } from "../render/kustomize.js";
import { DecryptionError, decryptObjects, requiresDecryption } from "../render/sops.js";
import { SubstitutionError } from "../render/substitute.js";
import { SecretError } from "../secrets/secrets.js";
import { formatKey } from "../store/store.js";
import { deliverBundle, suspendBundle, withdrawBundle } from "./agent-delivery.js";
import { isReady } from "./conditions.js";
import { applyFleetObjects, fleetHealth, isFluxEntry, isFluxObject, pruneFleetObjects } from "./fleet.js";
import { Attempt, healthTargets } from "./kustomization-attempt.js";
import type { Outcome } from "./outcome.js";
import { renderKustomization } from "./render.js";
import type { Runtime } from "./runtime.js";

/** Where a Kustomization's objects go: the worker applies (direct), or a cluster's pull agent does. */
type Placement = { mode: "direct" } | { mode: "agent"; cluster: string };

/**
 * kustomize-controller's reconcile, serverless-shaped: dependencies → source artifact → render
 * (cached) → staged apply (cluster) and registration (Flux kinds, Store) → prune → health, with
 * health checked without blocking (requeue until healthy or timed out). For an agent cluster the
 * apply, prune and health steps happen in the cluster's agent, from a signed bundle.
 */
export async function reconcileKustomization(rt: Runtime, ks: Kustomization, request: ReconcileRequest): Promise<Outcome> {
  const attempt = new Attempt(rt, ks);
  const placement = await placementOf(attempt);
  if (typeof placement === "string") return attempt.failed("ReconciliationFailed", placement);
  if (ks.metadata.deletionTimestamp) return finalize(attempt, placement);
  if (ks.spec.suspend) return placement.mode === "agent" ? suspendBundle(attempt, placement.cluster) : { status: attempt.status };

  const waiting = await unreadyDependency(attempt);
  if (waiting) {
    const outcome = attempt.failed("DependencyNotReady", waiting);
    return { ...outcome, requeueAfterMs: rt.settings.dependencyRequeueMs, event: undefined };
  }
  const artifact = await sourceArtifact(attempt);
  if (typeof artifact === "string") return { ...attempt.failed("ArtifactFailed", artifact), event: undefined };
  const revision = artifact.revision;

  if (placement.mode === "direct" && request.reason === "health" && attempt.pending(revision)) return checkReadiness(attempt, revision, attempt.status.inventory ?? { entries: [] }, [], false);

  let objects: KubeObject[];
  try {
    objects = (await renderKustomization(rt, ks, artifact)).objects;
    // An agent cluster decrypts SOPS Secrets itself: the keys never reach the control plane.
    if (placement.mode === "direct") objects = await decryptObjects(objects, ks.spec.decryption && { secretRef: ks.spec.decryption.secretRef?.name }, (name) => rt.secrets.secret({ namespace: attempt.namespace, name }), rt.sopsKms);
    else requiresDecryption(objects, ks.spec.decryption);
  } catch (error) {
    if (error instanceof BuildError || error instanceof SubstitutionError || error instanceof SecretError) return attempt.failed("BuildFailed", error.message, revision);
    if (error instanceof DecryptionError) return attempt.failed("BuildFailed", `decryption failed: ${error.message}`, revision);
    throw error;
  }
  const fleet = objects.filter(isFluxObject);
  const workloads = objects.filter((o) => !isFluxObject(o));
  if (placement.mode === "agent") return deliverBundle(attempt, placement.cluster, revision, workloads, await syncFleet(attempt, fleet));

  let cluster: Cluster;
  try {
    cluster = await attempt.cluster();
  } catch (error) {
    return attempt.failed("ReconciliationFailed", (error as Error).message, revision);
  }

  const previous = { entries: (attempt.status.inventory?.entries ?? []).filter((e) => !isFluxEntry(e)) };
  let synced;
  try {
    synced = await syncObjects(cluster, workloads, previous, { owner: attempt.owner, force: ks.spec.force, prune: ks.spec.prune, driftIgnoreRules: ks.spec.driftIgnoreRules });
  } catch (error) {
    if (error instanceof ApplyFailedError) return attempt.failed("ReconciliationFailed", error.message, revision);
    if (error instanceof EmptySetPruneError) return attempt.failed("PruneFailed", error.message, revision);
    throw error;
  }
  const registered = await syncFleet(attempt, fleet);
  const changeSet = [...synced.changeSet, ...registered.changeSet];
  const inventory = merge(synced.inventory, registered.entries);
  attempt.status.inventory = inventory;
  if (synced.pruneErrors.length > 0) return attempt.failed("PruneFailed", synced.pruneErrors.map((e) => e.message).join("\n"), revision);
  const outcome = await checkReadiness(attempt, revision, inventory, changeSet, true, cluster);
  return { ...outcome, applied: changeSet.filter((e) => e.action === "created" || e.action === "configured" || e.action === "deleted").length };
}

/** The registered cluster a Kustomization names (annotation `sluice.dev/cluster`), else the runtime's own. */
async function placementOf(attempt: Attempt): Promise<Placement | string> {
  const name = attempt.ks.metadata.annotations?.[CLUSTER_ANNOTATION];
  if (!name) return { mode: "direct" };
  const stored = await attempt.rt.store.get(clusterKey(name));
  if (!stored) return `metadata.annotations[${CLUSTER_ANNOTATION}]: cluster '${name}' is not registered (sluice create cluster ${name} --mode agent|direct)`;
  try {
    return parseObject(clusterRegistration, stored.object).spec.mode === "agent" ? { mode: "agent", cluster: name } : { mode: "direct" };
  } catch (error) {
    if (error instanceof InvalidObjectError) return error.message;
    throw error;
  }
}

/**
 * Registers the Flux objects a Kustomization rendered in the Store (they inherit its target
 * cluster) and, with `prune`, deletes those it no longer renders. Returns their inventory entries.
 */
async function syncFleet(attempt: Attempt, fleet: KubeObject[]): Promise<{ changeSet: ChangeSetEntry[]; entries: InventoryEntry[] }> {
  const { rt, ks } = attempt;
  const target = ks.metadata.annotations?.[CLUSTER_ANNOTATION];
  const inherited = fleet.map((o) => (target && o.kind === "Kustomization" && !o.metadata.annotations?.[CLUSTER_ANNOTATION] ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [CLUSTER_ANNOTATION]: target } } } : o));
  const changeSet = await applyFleetObjects(rt.store, rt.queue, inherited, attempt.owner);
  const entries = fromChangeSet(changeSet).entries;
  if (ks.spec.prune) {
    const previous = { entries: (attempt.status.inventory?.entries ?? []).filter(isFluxEntry) };
    changeSet.push(...(await pruneFleetObjects(rt.store, rt.queue, diff(previous, { entries }), attempt.owner, attempt.now)));
  }
  return { changeSet, entries };
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

async function checkReadiness(attempt: Attempt, revision: string, inventory: Inventory, changeSet: ChangeSetEntry[], applied: boolean, cluster?: Cluster): Promise<Outcome> {
  const { ks } = attempt;
  const targets = healthTargets(ks, inventory);
  const drifted = applied && ks.status?.lastAppliedRevision === revision;
  const changes = formatChangeSet(changeSet);
  if (targets.length > 0) {
    const target = cluster ?? (await attempt.cluster());
    let custom;
    try {
      custom = customHealth(ks.spec.healthCheckExprs);
    } catch (error) {
      if (error instanceof HealthExpressionError) return attempt.failed("HealthCheckFailed", error.message, revision);
      throw error;
    }
    const health = await objectsHealth(attempt, target, targets, custom);
    const elapsed = attempt.elapsed(revision);
    const timeout = kustomizationTimeoutMs(ks.spec);
    const healthy = health.every((h) => h.status === "Current");
    if (health.some((h) => h.status === "Failed") || (!healthy && elapsed >= timeout)) {
      const message = unhealthyMessage(health);
      attempt.set({ type: "Healthy", status: "False", reason: "HealthCheckFailed", message });
      attempt.status.inventory = inventory;
      return attempt.failed("HealthCheckFailed", message, revision);
    }
    if (!healthy) {
      const outcome = attempt.progressing(revision, `Running health checks for revision ${revision} with a timeout of ${formatDuration(timeout)}`, elapsed);
      return { ...outcome, event: changes ? { severity: "info", reason: "Progressing", message: changes } : undefined };
    }
    attempt.set({ type: "Healthy", status: "True", reason: "Succeeded", message: `Health check passed in ${formatDuration(elapsed)}` });
  }
  return attempt.succeeded(revision, drifted && changes ? `drift corrected:\n${changes}` : changes);
}

/** Health of cluster objects by kstatus, and of Flux objects by their Ready condition in the Store. */
async function objectsHealth(attempt: Attempt, cluster: Cluster, targets: ObjectRef[], custom: CustomHealth | undefined): Promise<ObjectHealth[]> {
  const fleet = targets.filter(isFluxObject);
  const workloads = targets.filter((t) => !isFluxObject(t));
  const [report, fleetReport] = await Promise.all([checkHealth(cluster, workloads, custom), fleetHealth(attempt.rt.store, fleet)]);
  return [...report.objects, ...fleetReport];
}

/** The Kustomization was removed: delete what it applied per `deletionPolicy`, then let it go. */
async function finalize(attempt: Attempt, placement: Placement): Promise<Outcome> {
  const { rt, ks } = attempt;
  const inventory = attempt.status.inventory ?? { entries: [] };
  const policy = ks.spec.deletionPolicy ?? "MirrorPrune";
  const deletes = policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && ks.spec.prune);
  if (ks.spec.suspend) return { status: attempt.status, finalized: true };
  const fleet = deletes ? await pruneFleetObjects(rt.store, rt.queue, inventory.entries.filter(isFluxEntry), attempt.owner, attempt.now) : [];
  // An agent cluster deletes its own objects (per the policy its last bundle carried) once the bundle is withdrawn.
  if (placement.mode === "agent") return withdrawBundle(attempt, placement.cluster, fleet);
  const workloads = inventory.entries.filter((e) => !isFluxEntry(e));
  if (workloads.length === 0) return { status: attempt.status, finalized: true, event: fleet.length > 0 ? { severity: "info", reason: "Progressing", message: formatChangeSet(fleet) } : undefined };
  let cluster: Cluster;
  try {
    cluster = await attempt.cluster();
  } catch (error) {
    return attempt.failed("PruneFailed", (error as Error).message);
  }
  const result = await deleteInventory(cluster, { entries: workloads }, { owner: attempt.owner, policy, prune: ks.spec.prune });
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
