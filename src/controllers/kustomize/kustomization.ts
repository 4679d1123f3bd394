import { formatDuration } from "../../api/duration.js";
import type { Kustomization } from "../../api/kustomization.js";
import type { Artifact } from "../../api/meta.js";
import { formatKey } from "../../api/object-key.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { formatChangeSet, type ChangeSetEntry } from "../../apply/changeset.js";
import { driftReport } from "../../apply/field-diff.js";
import { merge, type Inventory } from "../../apply/inventory.js";
import type { KubeObject } from "../../apply/object.js";
import { deletesOnRemoval, type SyncPlan } from "../../apply/plan.js";
import { checkHealth, type ObjectHealth, type ObjectRef } from "../../apply/wait.js";
import type { Cluster } from "../../cluster/cluster.js";
import { ClusterConnectingError, isUnreachable } from "../../cluster/reachability.js";
import { isSopsEncrypted } from "../../render/sops.js";
import { checkDecryptable, decryptPhase } from "../../pipeline/decrypt.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import {
  healthProgressMessage,
  healthRules,
  healthTargets,
  healthVerdict,
  removeApplied,
  syncObjects,
  syncPlanOf,
} from "../../pipeline/sync.js";
import type { ReconcileRequest } from "../../queue/queue.js";
import { deliverBundle, suspendBundle, withdrawBundle } from "./agent-delivery.js";
import { checkDependencies } from "../dependencies.js";
import { installationNotice, withoutFluxInstallation } from "./flux-installation.js";
import { fleetHealth, isFluxEntry, isFluxObject, pruneFleetObjects } from "./fleet.js";
import { renderedDigest } from "./history.js";
import { Attempt, type KustomizationOutcome } from "./attempt.js";
import { authorizeFleetChange, fleetChange, syncFleet } from "./fleet-registration.js";
import { placementPhase, type Placement } from "../placement.js";
import { refuseCrossNamespaceRefs } from "../cross-namespace.js";
import { renderPhase } from "./render.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/**
 * kustomize-controller's reconcile, serverless-shaped, as named phases: placement → dependencies →
 * source → render → decrypt → authorize → sync (direct) or deliver (agent) → health. A phase
 * returns its result or throws a ReconcileError carrying Flux's reason and whether to retry or
 * stall; status, event and requeue are decided here, once. Health is checked without blocking
 * (requeue until healthy or timed out). For an agent cluster the sync and health phases run in the
 * cluster's agent, from a signed bundle, through the same pipeline/sync module.
 */
export async function reconcileKustomization(
  ports: ReconcilerPorts,
  ks: Kustomization,
  request: ReconcileRequest,
): Promise<KustomizationOutcome> {
  const attempt = new Attempt(ports, ks);
  try {
    return await phases(attempt, request);
  } catch (error) {
    if (error instanceof ReconcileError) return attempt.failedWith(error);
    if (!isUnreachable(error)) throw error;
    // A cluster still making its first connection is not a failed one: come back once it has settled, without
    // holding a worker.
    if (error instanceof ClusterConnectingError) {
      return {
        status: attempt.status,
        requeueAfterMs: error.retryAfterMs,
        requeueReason: request.reason === "health" ? "health" : undefined,
      };
    }
    // Fails alone and fast: the cluster's other Kustomizations get the same answer at once while it is remembered.
    const reason = ks.metadata.deletionTimestamp ? REASON.pruneFailed : REASON.reconciliationFailed;
    const cluster = attempt.target ? `cluster '${attempt.target.name}'` : "the cluster";
    return attempt.failed(reason, `${cluster} ${error.message}`);
  }
}

/** Where an OCI artifact records the revision of the source it was built from (Flux's origin revision). */
const OCI_ORIGIN_REVISION = "org.opencontainers.image.revision";

async function phases(attempt: Attempt, request: ReconcileRequest): Promise<KustomizationOutcome> {
  const { ports, ks } = attempt;
  const placement = await placementPhase(ports, ks, attempt.identity);
  if (placement.mode === "direct") attempt.target = placement.target;
  if (ks.metadata.deletionTimestamp) return finalize(attempt, placement);
  if (ks.spec.suspend)
    return placement.mode === "agent" ? suspendBundle(attempt, placement.cluster) : attempt.unchanged();
  refuseKustomizationCrossNamespaceRefs(attempt);
  healthRules(ks.spec); // an expression that does not compile stalls it before anything is fetched or applied
  // The source first, as Flux: a dependency on the same source must have applied its current revision.
  const artifact = await sourcePhase(attempt);
  await dependenciesPhase(attempt, artifact);
  const revision = (attempt.revision = artifact.revision);
  attempt.originRevision = artifact.metadata?.[OCI_ORIGIN_REVISION];
  const plan = syncPlanOf(ks);

  if (placement.mode === "direct" && request.reason === "health" && attempt.pending(revision)) {
    // The rollout's snapshot in status.history needs its digest, only at the verdict: the render cache answers it.
    const digest = () => renderPhase(ports, ks, artifact).then(renderedDigest, () => undefined);
    return healthPhase(attempt, plan, attempt.status.inventory ?? { entries: [] }, [], undefined, digest);
  }

  const rendered = await renderPhase(ports, ks, artifact);
  const { kept, skipped } = withoutFluxInstallation(rendered);
  if (skipped.length > 0) attempt.notices.push(installationNotice(skipped));
  const objects = await decrypt(attempt, placement, kept);
  if (placement.mode === "direct") attempt.digest = renderedDigest(rendered);
  const fleet = fleetChange(attempt, objects.filter(isFluxObject));
  const workloads = objects.filter((o) => !isFluxObject(o));
  // Everything a tenant may not register or prune is refused before anything is written.
  await authorizeFleetChange(attempt, placement, fleet);
  if (placement.mode === "agent")
    return deliverBundle(attempt, placement.cluster, revision, workloads, await syncFleet(attempt, fleet));

  const cluster = await connect(attempt, REASON.reconciliationFailed);
  const previous = { entries: (attempt.status.inventory?.entries ?? []).filter((e) => !isFluxEntry(e)) };
  const synced = await syncObjects(
    cluster,
    workloads,
    previous,
    attempt.owner,
    plan,
    driftDiffs(attempt, kept, objects),
  );
  const registered = await syncFleet(attempt, fleet);
  const changeSet = [...synced.changeSet, ...registered.changeSet];
  const inventory = merge(synced.inventory, registered.entries);
  attempt.status.inventory = inventory;
  if (synced.pruneFailure) throw synced.pruneFailure;
  const outcome = await healthPhase(attempt, plan, inventory, changeSet, cluster);
  const written = changeSet.filter(
    (e) => e.action === "created" || e.action === "configured" || e.action === "deleted",
  );
  return { ...outcome, applied: written.length };
}

/**
 * Flux's dependsOn between Kustomizations (controllers/dependencies.ts). A Ready dependency using the same source
 * (kind, name, namespace) must have applied the artifact's revision, so it goes first with each new one.
 */
async function dependenciesPhase(attempt: Attempt, artifact: Artifact): Promise<void> {
  const { ports, ks, namespace } = attempt;
  const source = sourceKey(ks.spec.sourceRef, namespace);
  await checkDependencies(ports, {
    kind: "Kustomization",
    self: ks,
    dependsOn: ks.spec.dependsOn ?? [],
    notFound: (ref) => `dependency '${ref}' not found`,
    upToDate: (dependency) => {
      const dep = dependency as unknown as Kustomization;
      const depSource = sourceKey(dep.spec.sourceRef, dep.metadata.namespace ?? "default");
      if (formatKey(depSource) !== formatKey(source)) return true;
      // meta.Artifact.HasRevision: the very revision string, digest included.
      return dep.status?.lastAppliedRevision === artifact.revision;
    },
  });
}

const sourceKey = (ref: Kustomization["spec"]["sourceRef"], namespace: string) => ({
  kind: ref.kind,
  namespace: ref.namespace ?? namespace,
  name: ref.name,
});

/**
 * Field diffs for a drift correction's report, when one can happen: only a reconcile of the revision already applied
 * corrects drift (a new revision's changes are Git's, and diffing them would cost every apply). What SOPS decrypted
 * is hidden (decrypt keeps the order of `sealed`).
 */
function driftDiffs(attempt: Attempt, sealed: KubeObject[], objects: KubeObject[]) {
  if (attempt.ks.status?.lastAppliedRevision !== attempt.revision) return undefined;
  const decrypted = new Set(objects.filter((_, i) => isSopsEncrypted(sealed[i]!)));
  return { hide: (object: KubeObject) => decrypted.has(object) };
}

/** The source's artifact; without one, Flux's ArtifactFailed message (quiet: the source's own events say why). */
async function sourcePhase(attempt: Attempt): Promise<Artifact> {
  const key = sourceKey(attempt.ks.spec.sourceRef, attempt.namespace);
  const missing = (message: string) => new ReconcileError(REASON.artifactFailed, message, { quiet: true });
  const stored = await attempt.ports.store.get(key);
  if (!stored) throw missing(`Source '${formatKey(key)}' not found`);
  const artifact = (stored.object.status as { artifact?: Artifact } | undefined)?.artifact;
  if (!artifact) throw missing(`Source artifact not found for '${formatKey(key)}', retrying when it is ready`);
  return artifact;
}

/**
 * SOPS decryption for a direct cluster; an agent cluster decrypts itself, so its keys never reach the control
 * plane.
 */
async function decrypt(attempt: Attempt, placement: Placement, objects: KubeObject[]): Promise<KubeObject[]> {
  const { ks, ports } = attempt;
  const decryption = ks.spec.decryption && { secretRef: ks.spec.decryption.secretRef?.name };
  if (placement.mode === "agent") {
    await checkDecryptable(objects, ks.spec.decryption);
    return objects;
  }
  const readSecret = (name: string) => ports.secrets.secret({ namespace: attempt.namespace, name });
  return decryptPhase(objects, decryption, readSecret, ports.dataKeys);
}

/** The cluster to apply to; failing to connect (other than unreachable, handled by the caller) fails with `reason`. */
async function connect(attempt: Attempt, reason: string): Promise<Cluster> {
  try {
    return await attempt.cluster();
  } catch (error) {
    if (isUnreachable(error)) throw error;
    throw new ReconcileError(reason, (error as Error).message);
  }
}

/**
 * The health phase for a direct cluster, without blocking: Healthy and Ready once every target is
 * Current; Progressing (polled again) while within the timeout; HealthCheckFailed otherwise.
 * `changeSet` is what this attempt applied (empty on a health poll, where `digestAtVerdict` gives the
 * rendered digest the final verdict's history snapshot needs).
 */
async function healthPhase(
  attempt: Attempt,
  plan: SyncPlan,
  inventory: Inventory,
  changeSet: ChangeSetEntry[],
  cluster?: Cluster,
  digestAtVerdict?: () => Promise<string | undefined>,
): Promise<KustomizationOutcome> {
  const { ks } = attempt;
  const revision = attempt.revision!;
  const settle = async () => void (attempt.digest ??= await digestAtVerdict?.());
  const targets = healthTargets(plan, inventory);
  const applied = changeSet.length > 0 || cluster !== undefined;
  const drifted = applied && ks.status?.lastAppliedRevision === revision;
  const changes = formatChangeSet(changeSet);
  const report = drifted ? driftReport(changeSet) : undefined;
  const drift = report && (report.objects.length > 0 || report.omitted > 0) ? { drift: report } : {};
  if (targets.length > 0) {
    const custom = healthRules(plan);
    const health = await objectsHealth(attempt, cluster ?? (await attempt.cluster()), targets, custom);
    const elapsed = attempt.elapsed(revision);
    const verdict = healthVerdict(health, elapsed, plan.timeoutMs);
    if (verdict.state === "failed") {
      await settle();
      attempt.set({
        type: CONDITION.healthy,
        status: "False",
        reason: REASON.healthCheckFailed,
        message: verdict.message,
      });
      throw new ReconcileError(REASON.healthCheckFailed, verdict.message);
    }
    if (verdict.state === "progressing") {
      const outcome = attempt.progressing(revision, healthProgressMessage(revision, plan.timeoutMs), elapsed);
      const event = changes
        ? { severity: "info" as const, reason: REASON.progressing, message: changes, ...drift }
        : undefined;
      return { ...outcome, event };
    }
    const message = `Health check passed in ${formatDuration(elapsed)}`;
    attempt.set({ type: CONDITION.healthy, status: "True", reason: REASON.succeeded, message });
  }
  await settle();
  const outcome = attempt.succeeded(revision, drifted && changes ? `drift corrected:\n${changes}` : changes);
  return outcome.event ? { ...outcome, event: { ...outcome.event, ...drift } } : outcome;
}

/** Health of cluster objects by kstatus, and of Flux objects by their Ready condition in the Store. */
async function objectsHealth(
  attempt: Attempt,
  cluster: Cluster,
  targets: ObjectRef[],
  custom: ReturnType<typeof healthRules>,
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
async function finalize(attempt: Attempt, placement: Placement): Promise<KustomizationOutcome> {
  const { ports, ks } = attempt;
  const inventory = attempt.status.inventory ?? { entries: [] };
  const plan = syncPlanOf(ks);
  if (ks.spec.suspend) return { status: attempt.status, finalized: true };
  const pruned = deletesOnRemoval(plan) ? inventory.entries.filter(isFluxEntry) : [];
  // A tenant may not delete from the Store what it may not delete; the finalizer waits, as Flux's does on a 403.
  await authorizeFleetChange(attempt, placement, { register: [], prune: pruned });
  const fleet = await pruneFleetObjects(ports.store, ports.queue, pruned, attempt.owner, attempt.now);
  // An agent cluster deletes its own objects (per the policy its last bundle carried) once the bundle is withdrawn.
  if (placement.mode === "agent") return withdrawBundle(attempt, placement.cluster, fleet);
  const workloads = inventory.entries.filter((e) => !isFluxEntry(e));
  const progress = (message: string) =>
    message ? { severity: "info" as const, reason: REASON.progressing, message } : undefined;
  if (workloads.length === 0)
    return { status: attempt.status, finalized: true, event: progress(formatChangeSet(fleet)) };
  const cluster = await connect(attempt, REASON.pruneFailed);
  const removal = await removeApplied(cluster, { entries: workloads }, attempt.owner, plan);
  if (removal.failure) {
    attempt.status.inventory = removal.failure.retained;
    throw removal.failure.error;
  }
  if (removal.remaining.length > 0) {
    const message = `waiting for termination of: ${removal.remaining.join(", ")}`;
    return { status: attempt.status, requeueAfterMs: ports.settings.healthPollMs, event: progress(message) };
  }
  const changes = formatChangeSet([...removal.changeSet, ...fleet]);
  return { status: attempt.status, finalized: true, event: progress(changes) };
}

/** Flux's `--no-cross-namespace-refs` for a Kustomization's sourceRef and dependsOn. */
export function refuseKustomizationCrossNamespaceRefs(attempt: Attempt): void {
  const { sourceRef, dependsOn } = attempt.ks.spec;
  refuseCrossNamespaceRefs(attempt.ports.settings, attempt.namespace, [
    { kind: sourceRef.kind, namespace: sourceRef.namespace, name: sourceRef.name },
    ...(dependsOn ?? []).map((d) => ({ kind: "Kustomization", ...d })),
  ]);
}
