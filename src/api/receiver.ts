import { z } from "zod";
import { duration } from "./duration.js";
import { GENERIC_OIDC, RECEIVER_TYPES } from "./receiver-types.js";
import { commonStatus, fluxObject, localObjectReference, NOTIFICATION_REFERENCE_KINDS } from "./meta.js";

// notification-controller v1.9's Receiver (notification.toolkit.fluxcd.io/v1), field for field as
// its CRD (test/fixtures/flux-crds) validates it: enums, bounds, list keys and CEL rules.

export const RECEIVER_API_VERSION = "notification.toolkit.fluxcd.io/v1";

/** Flux's default `spec.interval`. */
const DEFAULT_INTERVAL = "10m";

const oidcProvider = z.strictObject({
  issuerURL: z.string().regex(/^https?:\/\//, { message: "must start with http:// or https://" }),
  audience: z.string().optional(),
  validations: z.array(z.strictObject({ expression: z.string(), message: z.string() })).min(1),
  variables: z.array(z.strictObject({ name: z.string(), expression: z.string() })).optional(),
});

/** `notification.toolkit.fluxcd.io/v1` Receiver spec. */
export const receiverSpec = z
  .strictObject({
    type: z.enum(RECEIVER_TYPES),
    interval: duration.optional(),
    events: z.array(z.string()).optional(),
    resources: z.array(
      z.strictObject({
        apiVersion: z.string().optional(),
        // A string to the rest of Sluice (which compares it with kinds of every sort), validated as the CRD's enum.
        kind: z.string().refine((kind) => (NOTIFICATION_REFERENCE_KINDS as readonly string[]).includes(kind), {
          message: `must be one of ${NOTIFICATION_REFERENCE_KINDS.join(", ")}`,
        }),
        name: z.string().min(1).max(253),
        namespace: z.string().min(1).max(253).optional(),
        matchLabels: z.record(z.string(), z.string()).optional(),
        filter: z.string().optional(),
      }),
    ),
    resourceFilter: z.string().optional(),
    oidcProviders: z
      .array(oidcProvider)
      // A list-map keyed by issuerURL (x-kubernetes-list-map-keys): the API server refuses a key twice.
      .refine((list) => new Set(list.map((p) => p.issuerURL)).size === list.length, {
        message: "issuerURL must be unique",
      })
      .optional(),
    secretRef: localObjectReference.optional(),
    suspend: z.boolean().optional(),
  })
  // The CRD's CEL rules, each with its message.
  .refine((s) => s.type !== GENERIC_OIDC || (s.oidcProviders?.length ?? 0) > 0, {
    message: "generic-oidc receivers must define at least one oidcProvider",
  })
  .refine((s) => s.type === GENERIC_OIDC || (s.oidcProviders?.length ?? 0) === 0, {
    message: "oidcProviders can only be set when type is generic-oidc",
  })
  .refine((s) => s.type !== GENERIC_OIDC || s.secretRef === undefined, {
    message: "secretRef cannot be set when type is generic-oidc",
  })
  .refine((s) => s.type === GENERIC_OIDC || s.secretRef !== undefined, {
    message: "secretRef is required when type is not generic-oidc",
  });

export const receiver = fluxObject(
  RECEIVER_API_VERSION,
  "Receiver",
  receiverSpec,
  z.strictObject({ ...commonStatus, webhookPath: z.string().optional() }),
);
export type Receiver = z.infer<typeof receiver>;

/** The CRD's defaults, filled in as Flux's API server does: `interval` 10m. */
export function withReceiverDefaults(receiver: Receiver): Receiver {
  return { ...receiver, spec: { ...receiver.spec, interval: receiver.spec.interval ?? DEFAULT_INTERVAL } };
}
