import { z } from "zod";
import { commonStatus, fluxObject, localObjectReference, NOTIFICATION_REFERENCE_KINDS } from "./meta.js";

// notification-controller v1.9's Alert (notification.toolkit.fluxcd.io/v1beta3), field for field as its
// CRD (test/fixtures/flux-crds) validates it. Flux keeps no status for v1beta3 Alerts; Sluice keeps
// Ready in its own Store (as v1beta2 wrote it), so `sluice get` can say why an Alert sends nothing.

export const ALERT_API_VERSION = "notification.toolkit.fluxcd.io/v1beta3";

/** Flux's CrossNamespaceObjectReference as an Alert's event source: a name, or `*` with optional matchLabels. */
const eventSource = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.enum(NOTIFICATION_REFERENCE_KINDS),
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(253).optional(),
  matchLabels: z.record(z.string(), z.string()).optional(),
});
export type EventSource = z.infer<typeof eventSource>;

/** `notification.toolkit.fluxcd.io/v1beta3` Alert spec. */
export const alertSpec = z.strictObject({
  providerRef: localObjectReference,
  eventSeverity: z.enum(["info", "error"]).optional(),
  eventSources: z.array(eventSource),
  inclusionList: z.array(z.string()).optional(),
  exclusionList: z.array(z.string()).optional(),
  eventMetadata: z.record(z.string(), z.string()).optional(),
  summary: z.string().max(255).optional(),
  suspend: z.boolean().optional(),
});

export const alert = fluxObject(ALERT_API_VERSION, "Alert", alertSpec, z.strictObject({ ...commonStatus }));
export type Alert = z.infer<typeof alert>;

/** The CRD's defaults, filled in as Flux's API server does: `eventSeverity` info. */
export function withAlertDefaults(alert: Alert): Alert {
  return { ...alert, spec: { ...alert.spec, eventSeverity: alert.spec.eventSeverity ?? "info" } };
}
