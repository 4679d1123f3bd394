import { parseDuration } from "../../api/duration.js";
import type { Receiver } from "../../api/receiver.js";
import { webhookPath } from "../../notify/receiver.js";
import { digestOfPath, type ReceiverTarget } from "../../notify/receiver-index.js";
import type { ReconcileRequest } from "../../queue/queue.js";
import { formatKey, keyOf } from "../../api/object-key.js";
import { REASON } from "../../api/reasons.js";
import { isReady } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import type { Settings } from "../settings.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";

type ReceiverStatus = NonNullable<Receiver["status"]>;

/** Flux's default Receiver interval: how soon a rotated or deleted token retires the old path. */
const DEFAULT_INTERVAL = "10m";

/**
 * notification-controller's Receiver reconcile: read the token, check what the Receiver may
 * trigger, publish status.webhookPath and the index record the webhook verifies against. A
 * Receiver that is not Ready answers on no path: its previous record is deleted.
 */
export async function reconcileReceiver(ports: ReconcilerPorts, receiver: Receiver): Promise<Outcome<ReceiverStatus>> {
  const namespace = receiver.metadata.namespace ?? "default";
  const at: Stamp = { generation: receiver.metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const previousPath = receiver.status?.webhookPath;
  // Stalled when only a change of spec can help (Flux marks AccessDenied so); a missing token may appear any time.
  const notReady = async (
    reason: string,
    message: string,
    requeueAfterMs: number,
    stalled: boolean,
  ): Promise<Outcome<ReceiverStatus>> => {
    await retireWebhookPath(ports, previousPath);
    const status = markFailed({ ...receiver.status, webhookPath: "" }, at, reason, message, { stalled });
    return { status, requeueAfterMs, event: { severity: "error", reason, message } };
  };

  // Set for every type but generic-oidc, which the dispatcher refuses (not supported yet).
  const secretRef = receiver.spec.secretRef!;
  const secret = await ports.secrets.secret({ namespace, name: secretRef.name });
  const token = secret?.token;
  if (!token) {
    return notReady(
      REASON.tokenNotFound,
      `unable to read token from secret '${namespace}/${secretRef.name}': secret or its 'token' key not found or empty`,
      60_000,
      false,
    );
  }
  const interval = parseDuration(receiver.spec.interval ?? DEFAULT_INTERVAL);
  const refused = refusedResources(receiver, ports.settings);
  if (refused)
    return notReady(
      refused.reason,
      `Receiver/${namespace}/${receiver.metadata.name} ${refused.message}`,
      interval,
      true,
    );

  const path = webhookPath(token, receiver.metadata.name, namespace);
  if (previousPath !== path) await retireWebhookPath(ports, previousPath);
  await ports.receivers.put(digestOfPath(path)!, {
    namespace,
    name: receiver.metadata.name,
    type: receiver.spec.type,
    events: receiver.spec.events ?? [],
    token,
    suspend: receiver.spec.suspend ?? false,
    resources: targetsOf(receiver),
    // Checked at each delivery, as Flux reads them there: a Secret without them gets every delivery refused.
    ...(receiver.spec.type === "gcr" && { gcr: { email: secret?.email ?? "", audience: secret?.audience ?? "" } }),
  });
  const status = markReady(
    { ...receiver.status, webhookPath: path },
    at,
    REASON.succeeded,
    `Receiver initialized for path: ${path}`,
  );
  return { status, requeueAfterMs: interval };
}

/** Deletes the index record a Receiver published under `path`, so that path answers 404 from now on. */
export async function retireWebhookPath(
  ports: Pick<ReconcilerPorts, "receivers">,
  path: string | undefined,
): Promise<void> {
  const digest = path && digestOfPath(path);
  if (digest) await ports.receivers.delete(digest);
}

/**
 * The worker's half of a delivery to a Receiver with `name: "*"` resources: the objects their
 * matchLabels select now, in the Store, each enqueued as a webhook request. Checked again here,
 * as the Receiver may have changed since the index record was written.
 */
export async function expandReceiverDelivery(
  ports: ReconcilerPorts,
  receiver: Receiver,
  request: ReconcileRequest,
): Promise<number> {
  if (receiver.spec.suspend || !isReady(receiver) || refusedResources(receiver, ports.settings)) return 0;
  let enqueued = 0;
  for (const target of targetsOf(receiver).filter((t) => t.name === "*")) {
    const selector = Object.entries(target.matchLabels ?? {});
    for (const { object } of await ports.store.list({ kind: target.kind, namespace: target.namespace })) {
      if (!selector.every(([label, value]) => object.metadata.labels?.[label] === value)) continue;
      await ports.queue.enqueue({
        key: formatKey(keyOf(object)),
        reason: "webhook",
        ...(request.trigger && { trigger: request.trigger }),
      });
      enqueued++;
    }
  }
  return enqueued;
}

function targetsOf(receiver: Receiver): ReceiverTarget[] {
  const namespace = receiver.metadata.namespace ?? "default";
  return receiver.spec.resources.map((r) => ({
    kind: r.kind,
    namespace: r.namespace || namespace,
    name: r.name,
    ...(r.matchLabels && { matchLabels: r.matchLabels }),
  }));
}

/**
 * What a Receiver may not trigger, with Flux's reasons: objects in another namespace (AccessDenied,
 * unless allowCrossNamespaceReceivers and not noCrossNamespaceRefs), a `*` without matchLabels (which would select
 * every object
 * of the kind) and other Receivers (a Receiver selecting itself would loop) are InvalidSpec.
 */
export function refusedResources(
  receiver: Receiver,
  settings: Pick<Settings, "allowCrossNamespaceReceivers" | "noCrossNamespaceRefs">,
): { reason: string; message: string } | undefined {
  const namespace = receiver.metadata.namespace ?? "default";
  const crossAllowed = settings.allowCrossNamespaceReceivers && !settings.noCrossNamespaceRefs;
  const denied: string[] = [];
  const invalid: string[] = [];
  receiver.spec.resources.forEach((r, i) => {
    const field = `spec.resources[${i}]`;
    const elsewhere = r.namespace && r.namespace !== namespace;
    if (elsewhere && !crossAllowed)
      denied.push(`${field} (${r.kind}/${r.namespace}/${r.name}) is in another namespace`);
    if (r.name === "*" && Object.keys(r.matchLabels ?? {}).length === 0)
      invalid.push(`${field}: matchLabels must be set when name is '*'`);
    if (r.kind === "Receiver") invalid.push(`${field}: a Receiver cannot trigger another Receiver`);
    // No object is named with a slash; such a name would reach the worker as a malformed object key.
    for (const [part, value] of [
      ["name", r.name],
      ["namespace", r.namespace],
    ] as const) {
      if (value?.includes("/")) invalid.push(`${field}.${part}: '${value}' is not an object ${part}`);
    }
  });
  // Flux filters the resources with this CEL expression; ignoring it would trigger objects it excludes.
  if (receiver.spec.resourceFilter) invalid.push("spec.resourceFilter: not supported by Sluice yet");
  if (denied.length > 0) {
    return {
      reason: REASON.accessDenied,
      message: `refused: ${denied.join("; ")}: cross-namespace references are not allowed (${settings.noCrossNamespaceRefs ? "noCrossNamespaceRefs is on" : "allowCrossNamespaceReceivers is off"})`,
    };
  }
  if (invalid.length > 0) return { reason: REASON.invalidSpec, message: `refused: ${invalid.join("; ")}` };
  return undefined;
}
