import type { DriftReport } from "../apply/field-diff.js";

/** eventv1.Group: the prefix of the annotations an object passes on as event metadata (`…/change_request`). */
export const EVENT_GROUP = "event.toolkit.fluxcd.io";

/** A Flux-shaped event, as notification-controller receives them from the other controllers. */
export interface FluxEvent {
  involvedObject: { apiVersion: string; kind: string; namespace: string; name: string };
  severity: "info" | "error";
  /** Flux's reason, e.g. ReconciliationSucceeded, BuildFailed, HealthCheckFailed, Progressing. */
  reason: string;
  message: string;
  /**
   * `revision` always when known (Flux prefixes the controller's keys with the API group when
   * forwarding), and the object's annotations under {@link EVENT_GROUP}, prefix kept, as Flux's recorder adds them.
   */
  metadata: Record<string, string>;
  reportingController: string;
  timestamp: string;
  /** Sluice's own: the fields a drift correction reverted (values of Secrets and SOPS-decrypted objects hidden). */
  drift?: DriftReport;
}

/** Where events go: printed and kept locally; on AWS, logged and dispatched to Alerts. */
export interface Events {
  emit(event: FluxEvent): Promise<void>;
}
