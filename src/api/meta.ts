import { z } from "zod";

/** Names as Kubernetes accepts them (DNS-1123 subdomain). */
const name = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: "must be a lowercase DNS-1123 name" });

/**
 * Object metadata. Loose on purpose: objects read back from a cluster or exported by `flux` carry
 * server-set fields (uid, resourceVersion, managedFields, …) that are not errors.
 */
export const objectMeta = z.looseObject({
  name,
  namespace: name.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  generation: z.number().int().optional(),
});

/** `{ name }` of an object in the same namespace. */
export const localObjectReference = z.strictObject({ name: z.string().min(1) });

/** A status condition (metav1.Condition). */
export const condition = z.strictObject({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string(),
  reason: z.string(),
  message: z.string(),
});
export type Condition = z.infer<typeof condition>;

/** A source artifact as Flux records it in `status.artifact`. */
export const artifact = z.strictObject({
  path: z.string(),
  url: z.string(),
  revision: z.string(),
  digest: z.string().optional(),
  lastUpdateTime: z.string(),
  size: z.number().int().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
});
export type Artifact = z.infer<typeof artifact>;

/** Status fields every Flux kind shares. */
export const commonStatus = {
  observedGeneration: z.number().int().optional(),
  conditions: z.array(condition).optional(),
  lastHandledReconcileAt: z.string().optional(),
};

/** The schema of a whole Flux object: its apiVersion and kind, metadata, spec and optional status. */
export function fluxObject<A extends string, K extends string, S extends z.ZodType, T extends z.ZodType>(
  apiVersion: A,
  kind: K,
  spec: S,
  status: T,
) {
  return z.strictObject({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    metadata: objectMeta,
    spec,
    status: status.optional(),
  });
}

/** Flux's annotation asking for a reconcile now (`flux reconcile`); a new value is a new request. */
export const REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";
