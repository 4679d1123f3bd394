import { z } from "zod";
import { objectMeta } from "./meta.js";

// image-reflector-controller v1.2's API group. Users' repos carry all three versions its CRDs have
// served over time; their specs differ only by fields added later (v1beta2 added digestReflectionPolicy,
// interval and suspend to ImagePolicy, provider, insecure and proxySecretRef to ImageRepository), and
// Flux converted between them without a webhook (the same object under another apiVersion). Sluice
// admits each as that object and keeps status in v1's shape, whatever apiVersion the object carries.

export const IMAGE_GROUP = "image.toolkit.fluxcd.io";
/** The served versions, storage version (v1) first. */
export const IMAGE_API_VERSIONS = [`${IMAGE_GROUP}/v1`, `${IMAGE_GROUP}/v1beta2`, `${IMAGE_GROUP}/v1beta1`] as const;
export const IMAGE_API_VERSION = IMAGE_API_VERSIONS[0];

/** The schema of a whole image object under any of the served versions. */
export function imageObject<K extends string, S extends z.ZodType, T extends z.ZodType>(kind: K, spec: S, status: T) {
  return z.strictObject({
    apiVersion: z.enum(IMAGE_API_VERSIONS),
    kind: z.literal(kind),
    metadata: objectMeta,
    spec,
    status: status.optional(),
  });
}
