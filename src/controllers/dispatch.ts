import { isDeepStrictEqual } from "node:util";
import { REQUESTED_AT } from "../api/meta.js";
import { CONDITION, MESSAGE_MAX_CHARS, REASON } from "../api/reasons.js";
import type { KubeObject } from "../apply/object.js";
import type { ReconcileRequest } from "../queue/queue.js";
import { updateObject, writeStatus } from "../store/objects.js";
import { formatKey, keyOf, parseKey, type ObjectKey } from "../api/object-key.js";
import { findCondition, isReady } from "../pipeline/conditions.js";
import type { ArtifactGenerator } from "../api/artifactgenerator.js";
import { IMAGE_API_VERSIONS } from "../api/image-api.js";
import { targetsOf } from "../ports/dependents.js";
import { expandReceiverDelivery, reconcileReceiver, retireWebhookPath } from "./notification/receiver.js";
import type { Receiver } from "../api/receiver.js";
import type { Outcome } from "../pipeline/outcome.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";
import { markFailed, statusViolations, type ConditionedStatus } from "../pipeline/status.js";
import { recordReconcile } from "./reconcile-metrics.js";
import { EVENT_GROUP } from "../notify/events.js";

/** The status fields every kind shares: what the dispatcher reads, checks and stamps. */
export type FluxStatus = ConditionedStatus & { lastHandledReconcileAt?: string };

/** The kinds Sluice reconciles, and the API versions it serves each under (several when Flux converts between them). */
const API_VERSIONS: Record<string, string | readonly string[]> = {
  GitRepository: "source.toolkit.fluxcd.io/v1",
  HelmRepository: "source.toolkit.fluxcd.io/v1",
  HelmChart: "source.toolkit.fluxcd.io/v1",
  OCIRepository: "source.toolkit.fluxcd.io/v1",
  Bucket: "source.toolkit.fluxcd.io/v1",
  Kustomization: "kustomize.toolkit.fluxcd.io/v1",
  HelmRelease: "helm.toolkit.fluxcd.io/v2",
  Receiver: "notification.toolkit.fluxcd.io/v1",
  Alert: "notification.toolkit.fluxcd.io/v1beta3",
  Provider: "notification.toolkit.fluxcd.io/v1beta3",
  ImageRepository: IMAGE_API_VERSIONS,
  ImagePolicy: IMAGE_API_VERSIONS,
  ImageUpdateAutomation: IMAGE_API_VERSIONS,
  ArtifactGenerator: "source.extensions.fluxcd.io/v1beta1",
  ExternalArtifact: "source.toolkit.fluxcd.io/v1",
};

/** The kinds whose suspension the dispatcher honours before loading their reconciler. */
const SUSPENDED_HERE = new Set([
  "GitRepository",
  "HelmRepository",
  "OCIRepository",
  "Bucket",
  "HelmChart",
  "ImageRepository",
  "ImagePolicy",
  "ImageUpdateAutomation",
]);

/**
 * Reconciles the object a request names, whatever runtime delivered it: validate, run the kind's
 * reconciler, write status once, emit the event, wake whoever depends on a change, requeue.
 */
export async function dispatch(
  ports: ReconcilerPorts,
  request: ReconcileRequest,
): Promise<Outcome<FluxStatus | undefined> | undefined> {
  const key = parseKey(request.key);
  const stored =
    request.reason === "webhook" && key.kind !== "Receiver"
      ? await markRequested(ports, key)
      : await ports.store.get(key);
  if (!stored) return undefined;
  if (request.reason === "webhook" && key.kind === "Receiver") {
    // A delivery to a Receiver with `name: "*"` resources: resolve them against the Store; the Receiver itself is
    // not reconciled.
    const enqueued = await expandDelivery(ports, stored.object, request);
    ports.log.info({ object: request.key, enqueued }, "webhook delivery expanded");
    return { status: statusOf(stored.object) };
  }
  const started = ports.clock.now();
  let outcome: Outcome<FluxStatus | undefined> | undefined;
  try {
    outcome = await settle(ports, request, stored.object, started);
  } finally {
    recordReconcile(ports, stored.object, outcome, ports.clock.now() - started);
  }
  return outcome;
}

/** Runs the reconcile and acts on its outcome: status, event, dependents, requeue. */
async function settle(
  ports: ReconcilerPorts,
  request: ReconcileRequest,
  object: KubeObject,
  started: number,
): Promise<Outcome<FluxStatus | undefined>> {
  const key = parseKey(request.key);
  const targets = targetsOf(key, object.spec);
  // Known before the reconcile reads them, so a source or ConfigMap that changes while it runs still wakes it.
  if (targets) await ports.dependents.record(key, targets);
  const outcome = await reconcileObject(ports, object, request);
  if (targets && outcome.finalized) await ports.dependents.forget(key);
  const log = ports.log.child({ object: request.key, revision: outcome.revision });

  if (outcome.finalized) {
    await ports.store.delete(key);
    log.info({ ms: ports.clock.now() - started }, "finalized and removed");
  } else {
    const requestedAt = object.metadata.annotations?.[REQUESTED_AT];
    // A status left as it was (a suspended object's, a Cluster's) says nothing about this generation: Flux's
    // controllers do not touch it either, so only a status the reconcile changed is checked.
    if (!isDeepStrictEqual(outcome.status, object.status))
      checkStatus(ports, request.key, object.metadata.generation ?? 1, outcome.status);
    const status = requestedAt ? { ...outcome.status, lastHandledReconcileAt: requestedAt } : outcome.status;
    // What the reconcile left unchanged is not written back: the status read before it must not undo a write made
    // meanwhile (as Flux's patch helper sends no patch without a difference).
    if (!isDeepStrictEqual(status, object.status)) await writeStatus(ports.store, key, status);
    log.info({ ms: ports.clock.now() - started, reason: request.reason, ready: readyOf(status) }, "reconciled");
  }
  if (outcome.event) await emitEvent(ports, object, outcome.event, outcome.revision);
  if (outcome.changed) await wakeDependents(ports, key, object, outcome);
  if (outcome.requeueAfterMs !== undefined && !outcome.finalized)
    await ports.queue.enqueue(
      { key: request.key, reason: outcome.requeueReason ?? "interval" },
      { delayMs: outcome.requeueAfterMs },
    );
  return outcome;
}

/** The kinds that store artifacts, all removed with the object (source-controller's finalizer). */
const ARTIFACT_SOURCES = new Set(["GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"]);

async function reconcileObject(
  ports: ReconcilerPorts,
  object: KubeObject,
  request: ReconcileRequest,
): Promise<Outcome<FluxStatus | undefined>> {
  const at = { generation: object.metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const stalled = async (reason: string, message: string): Promise<Outcome<FluxStatus>> => {
    // A stalled Receiver answers on no path (only Receivers have one).
    const { webhookPath, ...kept } = (statusOf(object) ?? {}) as FluxStatus & { webhookPath?: string };
    await retireWebhookPath(ports, webhookPath);
    return {
      status: markFailed(kept, at, reason, message, { stalled: true }),
      event: { severity: "error", reason, message },
    };
  };
  // A Cluster registration is configuration read by Kustomizations; there is nothing to reconcile.
  if (object.kind === "Cluster") return { status: statusOf(object) };
  if (!(object.kind in API_VERSIONS))
    return stalled(
      REASON.unsupportedKind,
      `${object.kind} (${object.apiVersion}) is not reconciled by Sluice yet; supported kinds: ${Object.keys(API_VERSIONS).join(", ")}`,
    );
  // Kustomizations and HelmReleases finalize (delete what they applied); other kinds just go.
  if (object.metadata.deletionTimestamp && object.kind !== "Kustomization" && object.kind !== "HelmRelease") {
    await retireWebhookPath(ports, (object.status as { webhookPath?: string } | undefined)?.webhookPath);
    if (object.kind === "ImageRepository")
      await (await import("./image/tag-storage.js")).deleteTags(ports.artifacts, object);
    if (ARTIFACT_SOURCES.has(object.kind)) {
      const { artifactFolder, removeAll } = await import("./source/artifact-retention.js");
      const { namespace = "default", name } = object.metadata;
      await removeAll(ports.artifacts, artifactFolder(object.kind, namespace, name));
      if (object.kind === "GitRepository")
        await (await import("./source/gitrepository.js")).removeKeptObjects(ports.workDir, namespace, name);
    }
    if (object.kind === "ArtifactGenerator")
      await (
        await import("./source/artifact-generator.js")
      ).deleteExternalArtifacts(ports, (object as ArtifactGenerator).status?.inventory ?? []);
    return { status: statusOf(object), finalized: true };
  }
  // Admission (every kind's schema, built when its module loads) comes with the first object, not at a worker's start.
  const { admitFluxObject, droppedFieldsWarning, InvalidObjectError } = await import("../api/parse.js");
  let admitted;
  try {
    admitted = admitFluxObject(object);
  } catch (error) {
    if (error instanceof InvalidObjectError) return stalled(REASON.invalidSpec, error.message);
    throw error;
  }
  // Once per generation: the first reconcile of a generation is the one its status has not observed yet.
  if (admitted.dropped.length > 0 && statusOf(object)?.observedGeneration !== at.generation) {
    const message = droppedFieldsWarning(admitted.dropped);
    await emitEvent(ports, object, { severity: "error", reason: REASON.unknownFields, message });
  }
  // Never ignored: a field Sluice does not implement stalls the object before anything is fetched or applied.
  const refused = (await import("../api/unsupported.js")).unsupportedFields(admitted.object);
  if (refused.length > 0)
    return stalled(REASON.unsupportedField, `${formatKey(keyOf(object))} is refused: ${refused.join("; ")}`);
  const parsed = admitted.object;
  // Each kind's reconciler is loaded when its first object comes: a Lambda worker starts without the Helm, image
  // and notification code a fleet of Kustomizations never runs (a third of its cold start), and so does sluice run.
  // Sources and image kinds stop here when suspended, before their code is loaded; the others read `suspend`
  // themselves.
  if (SUSPENDED_HERE.has(parsed.kind) && "suspend" in parsed.spec && parsed.spec.suspend === true)
    return { status: parsed.status };
  switch (parsed.kind) {
    case "GitRepository":
      return (await import("./source/gitrepository.js")).reconcileGitRepository(ports, parsed);
    case "HelmRepository":
      return (await import("./source/helmrepository.js")).reconcileHelmRepository(ports, parsed);
    case "OCIRepository":
      return (await import("./source/ocirepository.js")).reconcileOciRepository(ports, parsed);
    case "Bucket":
      return (await import("./source/bucket.js")).reconcileBucket(ports, parsed);
    case "HelmChart":
      return (await import("./source/helmchart.js")).reconcileHelmChart(ports, parsed);
    case "ImageRepository":
      return (await import("./image/imagerepository.js")).reconcileImageRepository(ports, parsed);
    case "ImagePolicy":
      return (await import("./image/imagepolicy.js")).reconcileImagePolicy(ports, parsed);
    case "ImageUpdateAutomation":
      return (await import("./image/imageupdateautomation.js")).reconcileImageUpdateAutomation(ports, parsed);
    case "Receiver":
      return reconcileReceiver(ports, parsed);
    case "Alert":
      return (await import("./notification/alert.js")).reconcileAlert(ports, parsed);
    case "Provider":
      return (await import("./notification/provider.js")).reconcileProvider(ports, parsed);
    case "HelmRelease":
      return (await import("./helm/helmrelease.js")).reconcileHelmRelease(ports, parsed);
    case "ArtifactGenerator":
      return (await import("./source/artifact-generator.js")).reconcileArtifactGenerator(ports, parsed);
    case "ExternalArtifact":
      // Written by its ArtifactGenerator; nothing reconciles an ExternalArtifact itself.
      return { status: parsed.status };
    default:
      return (await import("./kustomize/kustomization.js")).reconcileKustomization(ports, parsed, request);
  }
}

/**
 * Flux's condition invariants (runtime/conditions' checks), run on every status a reconcile
 * changed, before it is written: a violation is a reconciler's bug. Logged, and the status still
 * written (it is the best there is), or thrown with settings.strictStatus, so the test that caused it fails.
 */
function checkStatus(ports: ReconcilerPorts, key: string, generation: number, status: FluxStatus | undefined): void {
  const violations = statusViolations(status, generation);
  if (violations.length === 0) return;
  if (ports.settings.strictStatus) {
    const written = JSON.stringify({ observedGeneration: status?.observedGeneration, conditions: status?.conditions });
    throw new Error(`${key} status check failed at generation ${generation}: ${violations.join("; ")} in ${written}`);
  }
  ports.log.error({ object: key, generation, violations }, "status breaks Flux's condition invariants");
}

/** The object's event.toolkit.fluxcd.io/ annotations, which Flux's event recorder passes on as metadata. */
function eventAnnotations(object: KubeObject): Record<string, string> {
  const annotations = (object.metadata.annotations ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(annotations).filter(([key]) => key.startsWith(`${EVENT_GROUP}/`)));
}

/** Emits a Flux-shaped event about a stored object, as the Flux controller of its kind reports it. */
async function emitEvent(
  ports: ReconcilerPorts,
  object: KubeObject,
  event: NonNullable<Outcome["event"]>,
  revision?: string,
): Promise<void> {
  const { kind, namespace, name } = keyOf(object);
  await ports.events.emit({
    involvedObject: { apiVersion: object.apiVersion, kind, namespace, name },
    ...event,
    // Messages may carry what a source holds (a kustomize error quoting a file): bounded as a condition's.
    message: event.message.slice(0, MESSAGE_MAX_CHARS),
    metadata: { ...eventAnnotations(object), ...(revision && { revision }) },
    reportingController:
      (
        {
          Kustomization: "kustomize-controller",
          HelmRelease: "helm-controller",
          Receiver: "notification-controller",
          Alert: "notification-controller",
          Provider: "notification-controller",
          ImageRepository: "image-reflector-controller",
          ImagePolicy: "image-reflector-controller",
          ImageUpdateAutomation: "image-automation-controller",
          ArtifactGenerator: "source-watcher",
        } as Record<string, string>
      )[kind] ?? "source-controller",
    timestamp: new Date(ports.clock.now()).toISOString(),
  });
}

/** A stored object's status: untyped in the Store, it has at least the fields every kind shares. */
function statusOf(object: KubeObject): FluxStatus | undefined {
  return object.status as FluxStatus | undefined;
}

async function expandDelivery(ports: ReconcilerPorts, object: KubeObject, request: ReconcileRequest): Promise<number> {
  if (object.metadata.deletionTimestamp) return 0;
  const { parseFluxObject, InvalidObjectError } = await import("../api/parse.js");
  try {
    return await expandReceiverDelivery(ports, parseFluxObject(object) as Receiver, request);
  } catch (error) {
    if (error instanceof InvalidObjectError) return 0; // stalled as InvalidSpec by its own reconcile; it triggers nothing
    throw error;
  }
}

/**
 * A webhook request marks the object as `flux reconcile` does (requestedAt, echoed as
 * lastHandledReconcileAt), here in the worker: one request per object runs at a time, so
 * concurrent deliveries never race for the write as they did in the webhook.
 */
async function markRequested(ports: ReconcilerPorts, key: ObjectKey) {
  const now = new Date(ports.clock.now()).toISOString();
  return updateObject(ports.store, key, (o) => {
    o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: now };
  });
}

function readyOf(status: FluxStatus | undefined): string | undefined {
  const ready = findCondition(status?.conditions, CONDITION.ready);
  return ready && `${ready.status} ${ready.reason}`;
}

/**
 * Event-driven dependencies, no polling: a source with a new artifact wakes the Kustomizations that
 * use it; a Kustomization turning Ready wakes those that depend on it.
 */
async function wakeDependents(
  ports: ReconcilerPorts,
  key: ObjectKey,
  object: KubeObject,
  outcome: Outcome<FluxStatus | undefined>,
): Promise<void> {
  const dependable = key.kind === "Kustomization" || key.kind === "HelmRelease";
  if (dependable && !isReady({ metadata: object.metadata, status: outcome.status })) return;
  const reason = dependable ? "dependency" : "source";
  for (const dependent of await ports.dependents.of(key))
    await ports.queue.enqueue({ key: dependent, reason, revision: outcome.revision });
}
