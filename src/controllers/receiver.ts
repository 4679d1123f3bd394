import type { Receiver } from "../api/receiver.js";
import { webhookPath } from "../notify/receiver.js";
import { removeCondition, setCondition } from "./conditions.js";
import type { Outcome } from "./outcome.js";
import type { Runtime } from "./runtime.js";

/** notification-controller's Receiver reconcile: read the token, publish status.webhookPath. */
export async function reconcileReceiver(rt: Runtime, receiver: Receiver): Promise<Outcome> {
  const namespace = receiver.metadata.namespace ?? "default";
  const generation = receiver.metadata.generation ?? 1;
  const now = new Date(rt.clock.now());
  const status: NonNullable<Receiver["status"]> = { ...receiver.status, observedGeneration: generation };
  const token = (await rt.secrets.secret({ namespace, name: receiver.spec.secretRef.name }))?.token;
  if (!token) {
    const message = `unable to read token from secret '${namespace}/${receiver.spec.secretRef.name}': secret or its 'token' key not found`;
    status.conditions = setCondition(status.conditions, { type: "Ready", status: "False", reason: "TokenNotFound", message }, generation, now);
    return { status, requeueAfterMs: 60_000, event: { severity: "error", reason: "TokenNotFound", message } };
  }
  status.webhookPath = webhookPath(token, receiver.metadata.name, namespace);
  status.conditions = removeCondition(setCondition(status.conditions, { type: "Ready", status: "True", reason: "Succeeded", message: `Receiver initialized for path: ${status.webhookPath}` }, generation, now), "Stalled");
  return { status };
}
