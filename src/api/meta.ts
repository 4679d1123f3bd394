import { z } from "zod";
import { DNS_LABEL, DNS_SUBDOMAIN } from "./dns-names.js";
import { MESSAGE_MAX_CHARS } from "./reasons.js";

// Kubernetes' own rules for object metadata (apimachinery's validation), which the API server
// applies to Flux's objects before their CRD schema: what it refuses, Sluice refuses too.

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
/** Annotations of one object, keys and values together (apimachinery's TotalAnnotationSizeLimitB). */
const ANNOTATIONS_MAX_BYTES = 256 * 1024;

/** Object names as Kubernetes accepts them for custom resources (a DNS-1123 subdomain). */
const name = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, { message: "must be a lowercase DNS-1123 name" });

/** Namespace names (a DNS-1123 label). */
const namespace = z
  .string()
  .min(1, { message: "must not be empty (leave it out for the default namespace)" })
  .max(63)
  .regex(DNS_LABEL, { message: "must be a lowercase DNS-1123 label (a-z, 0-9, '-')" });

/** A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name a qualified name. */
function isQualifiedKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const local = key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return local.length <= 63 && QUALIFIED_NAME.test(local);
}
const metadataKey = z.string().refine(isQualifiedKey, {
  message: "must be a qualified name ([prefix/]name: name up to 63 alphanumerics, '-', '_', '.')",
});
const labelValue = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, { message: "must be a valid label value" });

/**
 * Object metadata. Loose on purpose: objects read back from a cluster or exported by `flux` carry
 * server-set fields (uid, resourceVersion, managedFields, …) that are not errors.
 */
export const objectMeta = z.looseObject({
  name,
  namespace: namespace.optional(),
  labels: z.record(metadataKey, labelValue).optional(),
  annotations: z
    .record(metadataKey, z.string())
    .refine(
      (a) =>
        Object.entries(a).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0) <=
        ANNOTATIONS_MAX_BYTES,
      {
        message: `must not exceed ${ANNOTATIONS_MAX_BYTES} bytes in total`,
      },
    )
    .optional(),
  generation: z.number().int().optional(),
});

/** `{ name }` of an object in the same namespace. */
export const localObjectReference = z.strictObject({ name: z.string().min(1) });

/** A status condition (metav1.Condition), with the bounds and patterns of Flux's CRDs. */
export const condition = z.strictObject({
  type: z
    .string()
    .max(316)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
    ),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.number().int().min(0).optional(),
  lastTransitionTime: z.iso.datetime({ offset: true }),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(MESSAGE_MAX_CHARS),
});
export type Condition = z.infer<typeof condition>;

/** A source artifact as Flux records it in `status.artifact`. */
export const artifact = z.strictObject({
  path: z.string(),
  url: z.string(),
  revision: z.string(),
  digest: z
    .string()
    .regex(/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, { message: "must be <algorithm>:<checksum>" }),
  lastUpdateTime: z.iso.datetime({ offset: true }),
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
/** `flux reconcile --force`: with the same value as requestedAt, a one-off forced release action. */
export const FORCE_AT = "reconcile.fluxcd.io/forceAt";
/** `flux reconcile --reset`: with the same value as requestedAt, the failure counts start again. */
export const RESET_AT = "reconcile.fluxcd.io/resetAt";

/**
 * The kinds notification-controller's CrossNamespaceObjectReference may name (its CRDs' enum): what an
 * Alert may watch and a Receiver may trigger.
 */
export const NOTIFICATION_REFERENCE_KINDS = [
  "Bucket",
  "GitRepository",
  "Kustomization",
  "HelmRelease",
  "HelmChart",
  "HelmRepository",
  "ImageRepository",
  "ImagePolicy",
  "ImageUpdateAutomation",
  "OCIRepository",
  "ArtifactGenerator",
  "ExternalArtifact",
] as const;
