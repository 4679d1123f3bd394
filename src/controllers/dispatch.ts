import type { GitRepository } from "../api/gitrepository.js";
import { REQUESTED_AT } from "../api/meta.js";
import type { Kustomization } from "../api/kustomization.js";
import { InvalidObjectError, parseFluxObject } from "../api/parse.js";
import type { KubeObject } from "../apply/object.js";
import type { ReconcileRequest } from "../queue/queue.js";
import { updateObject, writeStatus } from "../store/objects.js";
import { parseKey, type ObjectKey } from "../api/object-key.js";
import { isReady, setCondition } from "./conditions.js";
import { reconcileGitRepository } from "./gitrepository.js";
import { reconcileKustomization } from "./kustomization.js";
import { expandReceiverDelivery, reconcileReceiver, retireWebhookPath } from "./receiver.js";
import type { Receiver } from "../api/receiver.js";
import type { Outcome } from "./outcome.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";

const API_VERSIONS: Record<string, string> = {
  GitRepository: "source.toolkit.fluxcd.io/v1",
  Kustomization: "kustomize.toolkit.fluxcd.io/v1",
  Receiver: "notification.toolkit.fluxcd.io/v1",
};

/**
 * Reconciles the object a request names, whatever runtime delivered it: validate, run the kind's
 * reconciler, write status once, emit the event, wake whoever depends on a change, requeue.
 */
export async function dispatch(ports: ReconcilerPorts, request: ReconcileRequest): Promise<Outcome | undefined> {
  const key = parseKey(request.key);
  const stored =
    request.reason === "webhook" && key.kind !== "Receiver"
      ? await markRequested(ports, key)
      : await ports.store.get(key);
  if (!stored) return undefined;
  if (request.reason === "webhook" && key.kind === "Receiver") {
    // A delivery to a Receiver with `name: "*"` resources: resolve them against the Store; the Receiver itself is not reconciled.
    const enqueued = await expandDelivery(ports, stored.object, request);
    ports.log.info({ object: request.key, enqueued }, "webhook delivery expanded");
    return { status: stored.object.status };
  }
  const started = ports.clock.now();
  const outcome = await reconcileObject(ports, stored.object, request);
  if (key.kind === "Kustomization") {
    if (outcome.finalized) await ports.dependents.forget(key);
    else if ((stored.object.spec as Kustomization["spec"] | undefined)?.sourceRef)
      await ports.dependents.record(key, stored.object.spec as Kustomization["spec"]);
  }
  const log = ports.log.child({ object: request.key, revision: outcome.revision });

  if (outcome.finalized) {
    await ports.store.delete(key);
    log.info({ ms: ports.clock.now() - started }, "finalized and removed");
  } else {
    const requestedAt = stored.object.metadata.annotations?.[REQUESTED_AT];
    const status = requestedAt
      ? { ...(outcome.status as object), lastHandledReconcileAt: requestedAt }
      : outcome.status;
    await writeStatus(ports.store, key, status);
    log.info({ ms: ports.clock.now() - started, reason: request.reason, ready: readyOf(status) }, "reconciled");
  }
  if (outcome.event) {
    await ports.events.emit({
      involvedObject: {
        apiVersion: stored.object.apiVersion,
        kind: key.kind,
        namespace: key.namespace,
        name: key.name,
      },
      ...outcome.event,
      metadata: outcome.revision ? { revision: outcome.revision } : {},
      reportingController:
        ({ Kustomization: "kustomize-controller", Receiver: "notification-controller" } as Record<string, string>)[
          key.kind
        ] ?? "source-controller",
      timestamp: new Date(ports.clock.now()).toISOString(),
    });
  }
  if (outcome.changed) await wakeDependents(ports, key, stored.object, outcome);
  if (outcome.requeueAfterMs !== undefined && !outcome.finalized)
    await ports.queue.enqueue(
      { key: request.key, reason: outcome.requeueReason ?? "interval" },
      { delayMs: outcome.requeueAfterMs },
    );
  return outcome;
}

async function reconcileObject(
  ports: ReconcilerPorts,
  object: KubeObject,
  request: ReconcileRequest,
): Promise<Outcome> {
  const generation = object.metadata.generation ?? 1;
  const now = new Date(ports.clock.now());
  const stalled = async (reason: string, message: string): Promise<Outcome> => {
    let conditions = setCondition(
      (object.status as { conditions?: [] } | undefined)?.conditions,
      { type: "Ready", status: "False", reason, message },
      generation,
      now,
    );
    conditions = setCondition(conditions, { type: "Stalled", status: "True", reason, message }, generation, now);
    // A stalled Receiver answers on no path (only Receivers have one).
    const { webhookPath, ...kept } = (object.status ?? {}) as { webhookPath?: string };
    await retireWebhookPath(ports, webhookPath);
    return {
      status: { ...kept, conditions, observedGeneration: generation },
      event: { severity: "error", reason, message },
    };
  };
  // A Cluster registration is configuration read by Kustomizations; there is nothing to reconcile.
  if (object.kind === "Cluster") return { status: object.status };
  if (!(object.kind in API_VERSIONS))
    return stalled(
      "UnsupportedKind",
      `${object.kind} (${object.apiVersion}) is not reconciled by Sluice yet; supported kinds: ${Object.keys(API_VERSIONS).join(", ")}`,
    );
  if (object.metadata.deletionTimestamp && object.kind !== "Kustomization") {
    await retireWebhookPath(ports, (object.status as { webhookPath?: string } | undefined)?.webhookPath);
    return { status: object.status, finalized: true };
  }
  let parsed;
  try {
    parsed = parseFluxObject(object);
  } catch (error) {
    if (error instanceof InvalidObjectError) return stalled("InvalidSpec", error.message);
    throw error;
  }
  if (parsed.kind === "GitRepository")
    return parsed.spec.suspend ? { status: object.status } : reconcileGitRepository(ports, parsed as GitRepository);
  if (parsed.kind === "Receiver") return reconcileReceiver(ports, parsed as Receiver);
  return reconcileKustomization(ports, parsed as Kustomization, request);
}

async function expandDelivery(ports: ReconcilerPorts, object: KubeObject, request: ReconcileRequest): Promise<number> {
  if (object.metadata.deletionTimestamp) return 0;
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

function readyOf(status: unknown): string | undefined {
  const ready = (
    status as { conditions?: { type: string; status: string; reason: string }[] } | undefined
  )?.conditions?.find((c) => c.type === "Ready");
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
  outcome: Outcome,
): Promise<void> {
  if (key.kind === "Kustomization" && !isReady({ metadata: object.metadata, status: outcome.status as never })) return;
  const reason = key.kind === "Kustomization" ? "dependency" : "source";
  for (const dependent of await ports.dependents.of(key))
    await ports.queue.enqueue({ key: dependent, reason, revision: outcome.revision });
}
