import { CLUSTER_ANNOTATION, clusterKey, clusterRegistration } from "../api/cluster.js";
import { formatDuration } from "../api/duration.js";
import { kustomizationTimeoutMs, type Kustomization } from "../api/kustomization.js";
import { InvalidObjectError, parseObject } from "../api/parse.js";
import type { Artifact } from "../api/meta.js";
import { formatChangeSet, type ChangeSetEntry } from "../apply/changeset.js";
import { ApplyFailedError, EmptySetPruneError } from "../apply/errors.js";
import { diff, entryId, fromChangeSet, merge, type Inventory, type InventoryEntry } from "../apply/inventory.js";
import { objMetadata, versionOf, type KubeObject } from "../apply/object.js";
import { deleteInventory } from "../apply/prune.js";
import { customHealth, HealthExpressionError, type CustomHealth } from "../apply/health/expressions.js";
import { syncObjects, unhealthyMessage } from "../apply/sync.js";
import { checkHealth, type ObjectHealth, type ObjectRef } from "../apply/wait.js";
import { AccessReviews, serviceAccountUser } from "../cluster/access-review.js";
import type { Cluster } from "../cluster/cluster.js";
import { ClusterConnectingError, isUnreachable } from "../cluster/reachability.js";
import type { ReconcileRequest } from "../queue/queue.js";
import { BuildError } from "../render/kustomize.js";
import { DecryptionError, decryptObjects, requiresDecryption } from "../render/sops.js";
import { SubstitutionError } from "../render/substitute.js";
import { SecretError } from "../secrets/secrets.js";
import { formatKey } from "../api/object-key.js";
import { deliverBundle, suspendBundle, withdrawBundle } from "./agent-delivery.js";
import { isReady } from "./conditions.js";
import {
  applyFleetObjects,
  fleetHealth,
  isFluxEntry,
  isFluxObject,
  ownedFleetEntries,
  pruneFleetObjects,
} from "./fleet.js";
import { ACCESS_DENIED, clusterRefusal, fleetRefusals, type Authority, type FleetChange } from "./fleet-access.js";
import { Attempt, healthTargets } from "./kustomization-attempt.js";
import type { Outcome } from "./outcome.js";
import { ArtifactError, renderKustomization } from "./render.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";

/** Where a Kustomization's objects go: the worker applies (direct, to a registered cluster or its own), or a cluster's pull agent does. */
type Placement = { mode: "direct"; target?: Attempt["target"] } | { mode: "agent"; cluster: string };

/** Why a reconcile cannot start, with its Flux reason. */
interface Refusal {
  reason: string;
  message: string;
}

/**
 * kustomize-controller's reconcile, serverless-shaped: dependencies → source artifact → render
 * (cached) → staged apply (cluster) and registration (Flux kinds, Store) → prune → health, with
 * health checked without blocking (requeue until healthy or timed out). For an agent cluster the
 * apply, prune and health steps happen in the cluster's agent, from a signed bundle.
 */
export async function reconcileKustomization(
  ports: ReconcilerPorts,
  ks: Kustomization,
  request: ReconcileRequest,
): Promise<Outcome> {
  const attempt = new Attempt(ports, ks);
  try {
    return await reconcileAttempt(attempt, request);
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    // A cluster still making its first connection is not a failed one: come back once it has settled, without holding a worker.
    if (error instanceof ClusterConnectingError) {
      return {
        status: attempt.status,
        requeueAfterMs: error.retryAfterMs,
        requeueReason: request.reason === "health" ? "health" : undefined,
      };
    }
    // Fails alone and fast: the cluster's other Kustomizations get the same answer at once while it is remembered.
    const reason = ks.metadata.deletionTimestamp ? "PruneFailed" : "ReconciliationFailed";
    return attempt.failed(
      reason,
      `${attempt.target ? `cluster '${attempt.target.name}'` : "the cluster"} ${error.message}`,
    );
  }
}

async function reconcileAttempt(attempt: Attempt, request: ReconcileRequest): Promise<Outcome> {
  const { ports, ks } = attempt;
  const placement = await placementOf(attempt);
  if ("reason" in placement) return attempt.failed(placement.reason, placement.message);
  if (placement.mode === "direct") attempt.target = placement.target;
  if (ks.metadata.deletionTimestamp) return finalize(attempt, placement);
  if (ks.spec.suspend)
    return placement.mode === "agent" ? suspendBundle(attempt, placement.cluster) : { status: attempt.status };
  const crossNamespace = crossNamespaceRef(attempt);
  // Stalled, as Flux: only a change of the spec (which enqueues it) can fix this.
  if (crossNamespace) return attempt.failed(ACCESS_DENIED, crossNamespace, undefined, true);

  const waiting = await unreadyDependency(attempt);
  if (waiting) {
    const outcome = attempt.failed("DependencyNotReady", waiting);
    return { ...outcome, requeueAfterMs: ports.settings.dependencyRequeueMs, event: undefined };
  }
  const artifact = await sourceArtifact(attempt);
  if (typeof artifact === "string") return { ...attempt.failed("ArtifactFailed", artifact), event: undefined };
  const revision = artifact.revision;

  if (placement.mode === "direct" && request.reason === "health" && attempt.pending(revision))
    return checkReadiness(attempt, revision, attempt.status.inventory ?? { entries: [] }, [], false);

  let objects: KubeObject[];
  try {
    objects = (await renderKustomization(ports, ks, artifact)).objects;
    // An agent cluster decrypts SOPS Secrets itself: the keys never reach the control plane.
    if (placement.mode === "direct")
      objects = await decryptObjects(
        objects,
        ks.spec.decryption && { secretRef: ks.spec.decryption.secretRef?.name },
        (name) => ports.secrets.secret({ namespace: attempt.namespace, name }),
        ports.dataKeys,
      );
    else requiresDecryption(objects, ks.spec.decryption);
  } catch (error) {
    if (error instanceof ArtifactError) return attempt.failed("ArtifactFailed", error.message, revision);
    if (error instanceof BuildError || error instanceof SubstitutionError || error instanceof SecretError)
      return attempt.failed("BuildFailed", error.message, revision);
    if (error instanceof DecryptionError)
      return attempt.failed("BuildFailed", `decryption failed: ${error.message}`, revision);
    throw error;
  }
  const fleet = fleetChange(attempt, objects.filter(isFluxObject));
  const workloads = objects.filter((o) => !isFluxObject(o));
  // Everything a tenant may not register or prune is refused before anything is written.
  const refused = await refusedFleetChange(attempt, placement, fleet, revision);
  if (refused) return attempt.failed(refused.reason, refused.message, revision);
  if (placement.mode === "agent")
    return deliverBundle(attempt, placement.cluster, revision, workloads, await syncFleet(attempt, fleet));

  let cluster: Cluster;
  try {
    cluster = await attempt.cluster();
  } catch (error) {
    if (isUnreachable(error)) throw error;
    return attempt.failed("ReconciliationFailed", (error as Error).message, revision);
  }

  const previous = { entries: (attempt.status.inventory?.entries ?? []).filter((e) => !isFluxEntry(e)) };
  let synced;
  try {
    synced = await syncObjects(cluster, workloads, previous, {
      owner: attempt.owner,
      force: ks.spec.force,
      prune: ks.spec.prune,
      driftIgnoreRules: ks.spec.driftIgnoreRules,
    });
  } catch (error) {
    if (error instanceof ApplyFailedError) return attempt.failed("ReconciliationFailed", error.message, revision);
    if (error instanceof EmptySetPruneError) return attempt.failed("PruneFailed", error.message, revision);
    throw error;
  }
  const registered = await syncFleet(attempt, fleet);
  const changeSet = [...synced.changeSet, ...registered.changeSet];
  const inventory = merge(synced.inventory, registered.entries);
  attempt.status.inventory = inventory;
  if (synced.pruneErrors.length > 0)
    return attempt.failed("PruneFailed", synced.pruneErrors.map((e) => e.message).join("\n"), revision);
  const outcome = await checkReadiness(attempt, revision, inventory, changeSet, true, cluster);
  return {
    ...outcome,
    applied: changeSet.filter((e) => e.action === "created" || e.action === "configured" || e.action === "deleted")
      .length,
  };
}

/**
 * The registered cluster a Kustomization names (annotation `sluice.dev/cluster`), else the runtime's own.
 * A Kustomization acting as a service account may name only a cluster that allows its namespace.
 */
async function placementOf(attempt: Attempt): Promise<Placement | Refusal> {
  const name = attempt.ks.metadata.annotations?.[CLUSTER_ANNOTATION];
  if (!name) return { mode: "direct" };
  const stored = await attempt.ports.store.get(clusterKey(name));
  if (!stored)
    return {
      reason: "ReconciliationFailed",
      message: `metadata.annotations[${CLUSTER_ANNOTATION}]: cluster '${name}' is not registered (sluice create cluster ${name} --mode agent|direct)`,
    };
  let spec;
  try {
    spec = parseObject(clusterRegistration, stored.object).spec;
  } catch (error) {
    if (error instanceof InvalidObjectError) return { reason: "ReconciliationFailed", message: error.message };
    throw error;
  }
  const { identity } = attempt;
  const refusal = identity && (await clusterRefusal(attempt.ports.store, name, attempt.namespace));
  if (identity && refusal)
    return {
      reason: ACCESS_DENIED,
      message: `metadata.annotations[${CLUSTER_ANNOTATION}] refused for ${serviceAccountUser(identity)}: ${refusal}`,
    };
  if (spec.mode === "agent") return { mode: "agent", cluster: name };
  if (!spec.kubeConfig && !spec.eks) return { mode: "direct" };
  if (attempt.ks.spec.kubeConfig) {
    const message = `spec.kubeConfig: not used for cluster '${name}' (its registration says how to reach it); remove it or the ${CLUSTER_ANNOTATION} annotation`;
    return { reason: "ReconciliationFailed", message };
  }
  return { mode: "direct", target: { name, kubeConfig: spec.kubeConfig, eks: spec.eks } };
}

/** Flux's `--no-cross-namespace-refs`: the message kustomize-controller gives a sourceRef (and here a dependsOn) into another namespace. */
function crossNamespaceRef(attempt: Attempt): string | undefined {
  if (!attempt.ports.settings.noCrossNamespaceRefs) return undefined;
  const { sourceRef, dependsOn } = attempt.ks.spec;
  const refs = [
    { kind: sourceRef.kind, namespace: sourceRef.namespace, name: sourceRef.name },
    ...(dependsOn ?? []).map((d) => ({ kind: "Kustomization", ...d })),
  ];
  const foreign = refs.find((r) => r.namespace && r.namespace !== attempt.namespace);
  return (
    foreign &&
    `can't access '${foreign.kind}/${foreign.namespace}/${foreign.name}', cross-namespace references have been blocked`
  );
}

/**
 * The Flux objects of a render as they will be registered (a Kustomization inherits its owner's
 * target cluster, so it cannot drop it) and, with `prune`, the entries of those it no longer renders.
 */
function fleetChange(attempt: Attempt, fleet: KubeObject[]): FleetChange {
  const { ks } = attempt;
  const target = ks.metadata.annotations?.[CLUSTER_ANNOTATION];
  const register = fleet.map((o) =>
    target && o.kind === "Kustomization" && !o.metadata.annotations?.[CLUSTER_ANNOTATION]
      ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [CLUSTER_ANNOTATION]: target } } }
      : o,
  );
  if (!ks.spec.prune) return { register, prune: [] };
  const next = { entries: register.map((o) => ({ id: entryId(objMetadata(o)), v: versionOf(o.apiVersion) })) };
  return { register, prune: diff({ entries: (attempt.status.inventory?.entries ?? []).filter(isFluxEntry) }, next) };
}

/**
 * Flux applies as the Kustomization's service account, so the API server's RBAC covers Flux objects
 * too; Sluice registers them in its Store and asks the API server the same question first. Without
 * an identity the control plane's own rights apply, as in Flux.
 */
async function refusedFleetChange(
  attempt: Attempt,
  placement: Placement,
  change: FleetChange,
  revision?: string,
): Promise<Refusal | undefined> {
  const { ports, identity } = attempt;
  if (!identity || (change.register.length === 0 && change.prune.length === 0)) return undefined;
  try {
    const authority: Authority =
      placement.mode === "agent"
        ? { agentCluster: placement.cluster }
        : { reviews: AccessReviews.of((await attempt.controlCluster()).client, ports.clock) };
    const owned = {
      register: change.register,
      prune: await ownedFleetEntries(ports.store, change.prune, attempt.owner),
    };
    const refusals = await fleetRefusals(
      {
        store: ports.store,
        identity,
        authority,
        defaultServiceAccount: ports.settings.defaultServiceAccount,
        revision,
      },
      owned,
    );
    return refusals.length > 0 ? { reason: ACCESS_DENIED, message: refusals.join("\n") } : undefined;
  } catch (error) {
    if (isUnreachable(error)) throw error;
    return {
      reason: "ReconciliationFailed",
      message: `access review for ${identity.namespace}/${identity.name} failed: ${(error as Error).message}`,
    };
  }
}

/** Registers the Flux objects of a render in the Store and prunes the ones it dropped. Returns their inventory entries. */
async function syncFleet(
  attempt: Attempt,
  change: FleetChange,
): Promise<{ changeSet: ChangeSetEntry[]; entries: InventoryEntry[] }> {
  const { ports } = attempt;
  const changeSet = await applyFleetObjects(ports.store, ports.queue, change.register, attempt.owner);
  const entries = fromChangeSet(changeSet).entries;
  changeSet.push(...(await pruneFleetObjects(ports.store, ports.queue, change.prune, attempt.owner, attempt.now)));
  return { changeSet, entries };
}

/** Flux's dependsOn: each dependency Ready at its current generation. */
async function unreadyDependency(attempt: Attempt): Promise<string | undefined> {
  for (const dep of attempt.ks.spec.dependsOn ?? []) {
    const key = { kind: "Kustomization", namespace: dep.namespace ?? attempt.namespace, name: dep.name };
    const stored = await attempt.ports.store.get(key);
    if (!stored) return `dependency '${key.namespace}/${key.name}' not found`;
    if (!isReady(stored.object as never)) return `dependency '${key.namespace}/${key.name}' is not ready`;
  }
  return undefined;
}

/** The source's artifact, or Flux's message for why there is none. */
async function sourceArtifact(attempt: Attempt): Promise<Artifact | string> {
  const ref = attempt.ks.spec.sourceRef;
  const key = { kind: ref.kind, namespace: ref.namespace ?? attempt.namespace, name: ref.name };
  if (ref.kind !== "GitRepository")
    return `spec.sourceRef.kind: ${ref.kind} sources are not supported by Sluice yet (GitRepository is)`;
  const stored = await attempt.ports.store.get(key);
  if (!stored) return `Source '${formatKey(key)}' not found`;
  const artifact = (stored.object.status as { artifact?: Artifact } | undefined)?.artifact;
  return artifact ?? `Source artifact not found for '${formatKey(key)}', retrying when it is ready`;
}

async function checkReadiness(
  attempt: Attempt,
  revision: string,
  inventory: Inventory,
  changeSet: ChangeSetEntry[],
  applied: boolean,
  cluster?: Cluster,
): Promise<Outcome> {
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
      const outcome = attempt.progressing(
        revision,
        `Running health checks for revision ${revision} with a timeout of ${formatDuration(timeout)}`,
        elapsed,
      );
      return { ...outcome, event: changes ? { severity: "info", reason: "Progressing", message: changes } : undefined };
    }
    attempt.set({
      type: "Healthy",
      status: "True",
      reason: "Succeeded",
      message: `Health check passed in ${formatDuration(elapsed)}`,
    });
  }
  return attempt.succeeded(revision, drifted && changes ? `drift corrected:\n${changes}` : changes);
}

/** Health of cluster objects by kstatus, and of Flux objects by their Ready condition in the Store. */
async function objectsHealth(
  attempt: Attempt,
  cluster: Cluster,
  targets: ObjectRef[],
  custom: CustomHealth | undefined,
): Promise<ObjectHealth[]> {
  const fleet = targets.filter(isFluxObject);
  const workloads = targets.filter((t) => !isFluxObject(t));
  const [report, fleetReport] = await Promise.all([
    checkHealth(cluster, workloads, custom),
    fleetHealth(attempt.ports.store, fleet),
  ]);
  return [...report.objects, ...fleetReport];
}

/** The Kustomization was removed: delete what it applied per `deletionPolicy`, then let it go. */
async function finalize(attempt: Attempt, placement: Placement): Promise<Outcome> {
  const { ports, ks } = attempt;
  const inventory = attempt.status.inventory ?? { entries: [] };
  const policy = ks.spec.deletionPolicy ?? "MirrorPrune";
  const deletes = policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && ks.spec.prune);
  if (ks.spec.suspend) return { status: attempt.status, finalized: true };
  const pruned = deletes ? inventory.entries.filter(isFluxEntry) : [];
  // A tenant may not delete from the Store what it may not delete; the finalizer waits, as Flux's does on a 403.
  const refused = await refusedFleetChange(attempt, placement, { register: [], prune: pruned });
  if (refused) return attempt.failed(refused.reason, refused.message);
  const fleet = await pruneFleetObjects(ports.store, ports.queue, pruned, attempt.owner, attempt.now);
  // An agent cluster deletes its own objects (per the policy its last bundle carried) once the bundle is withdrawn.
  if (placement.mode === "agent") return withdrawBundle(attempt, placement.cluster, fleet);
  const workloads = inventory.entries.filter((e) => !isFluxEntry(e));
  if (workloads.length === 0)
    return {
      status: attempt.status,
      finalized: true,
      event:
        fleet.length > 0 ? { severity: "info", reason: "Progressing", message: formatChangeSet(fleet) } : undefined,
    };
  let cluster: Cluster;
  try {
    cluster = await attempt.cluster();
  } catch (error) {
    if (isUnreachable(error)) throw error;
    return attempt.failed("PruneFailed", (error as Error).message);
  }
  const result = await deleteInventory(
    cluster,
    { entries: workloads },
    { owner: attempt.owner, policy, prune: ks.spec.prune },
  );
  const changes = formatChangeSet([...result.changeSet, ...fleet]);
  if (result.errors.length > 0) {
    attempt.status.inventory = { entries: result.retained };
    return attempt.failed("PruneFailed", result.errors.map((e) => e.message).join("\n"));
  }
  if (result.remaining.length > 0) {
    return {
      status: attempt.status,
      requeueAfterMs: ports.settings.healthPollMs,
      event: {
        severity: "info",
        reason: "Progressing",
        message: `waiting for termination of: ${result.remaining.join(", ")}`,
      },
    };
  }
  return {
    status: attempt.status,
    finalized: true,
    event: changes ? { severity: "info", reason: "Progressing", message: changes } : undefined,
  };
}
