import type { Alert } from "../../api/alert.js";
import { REASON } from "../../api/reasons.js";
import { invalidPatterns } from "../../notify/alert-match.js";
import type { Outcome } from "../../pipeline/outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";

type AlertStatus = NonNullable<Alert["status"]>;

/** How soon an Alert whose Provider is missing is looked at again. */
const RETRY_MS = 60_000;

/**
 * An Alert's Ready, as notification-controller v1beta2 wrote it (v1beta3 keeps none): its Provider
 * exists in its namespace and its inclusion and exclusion patterns compile. Delivery itself happens
 * when events are emitted (src/notify/alert-dispatch.ts), not here.
 */
export async function reconcileAlert(ports: ReconcilerPorts, alert: Alert): Promise<Outcome<AlertStatus>> {
  const namespace = alert.metadata.namespace ?? "default";
  const subject = `Alert/${namespace}/${alert.metadata.name}`;
  const at: Stamp = { generation: alert.metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const status = alert.status ?? {};
  const invalid = invalidPatterns(alert);
  if (invalid.length > 0) {
    const message = `${subject}: invalid regular expression: ${invalid.join("; ")}`;
    return {
      status: markFailed(status, at, REASON.invalidSpec, message, { stalled: true }),
      event: { severity: "error", reason: REASON.invalidSpec, message },
    };
  }
  const providerName = alert.spec.providerRef.name;
  if (!(await ports.store.get({ kind: "Provider", namespace, name: providerName }))) {
    const message = `${subject}: failed to read provider: Provider/${namespace}/${providerName} not found`;
    return {
      status: markFailed(status, at, REASON.validationFailed, message),
      requeueAfterMs: RETRY_MS,
      event: { severity: "error", reason: REASON.validationFailed, message },
    };
  }
  return { status: markReady(status, at, REASON.succeeded, "Initialized") };
}
