import { z } from "zod";
import { duration } from "./duration.js";
import { imageObject } from "./image-api.js";
import { commonStatus } from "./meta.js";

// image-reflector-controller v1.2's ImagePolicy (image.toolkit.fluxcd.io/v1), field for field as its
// CRD (test/fixtures/flux-crds) validates it, CEL rules included.

export const DIGEST_REFLECTION_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
export type DigestReflectionPolicy = (typeof DIGEST_REFLECTION_POLICIES)[number];
const DEFAULT_DIGEST_REFLECTION_POLICY: DigestReflectionPolicy = "Never";
const DEFAULT_ORDER = "asc";

const order = z.enum(["asc", "desc"]);

export const imagePolicySpec = z
  .strictObject({
    imageRepositoryRef: z.strictObject({ name: z.string(), namespace: z.string().optional() }),
    policy: z.strictObject({
      semver: z.strictObject({ range: z.string() }).optional(),
      alphabetical: z.strictObject({ order: order.optional() }).optional(),
      numerical: z.strictObject({ order: order.optional() }).optional(),
    }),
    filterTags: z.strictObject({ pattern: z.string().optional(), extract: z.string().optional() }).optional(),
    digestReflectionPolicy: z.enum(DIGEST_REFLECTION_POLICIES).optional(),
    interval: duration.optional(),
    suspend: z.boolean().optional(),
  })
  // The CRD's CEL rules, run after its default (Never) is filled in: an interval only refreshes an Always digest.
  .refine((s) => s.interval === undefined || s.digestReflectionPolicy === "Always", {
    message: "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'",
  })
  .refine((s) => s.interval !== undefined || s.digestReflectionPolicy !== "Always", {
    message: "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'",
  });

/** An image picked by a policy: `name` is the image without tag, `digest` only as digestReflectionPolicy asks. */
export const imageRef = z.strictObject({
  name: z.string(),
  tag: z.string(),
  digest: z.string().optional(),
});
export type ImageRef = z.infer<typeof imageRef>;

export const imagePolicyStatus = z.strictObject({
  ...commonStatus,
  latestRef: imageRef.optional(),
  observedPreviousRef: imageRef.optional(),
});
export type ImagePolicyStatus = z.infer<typeof imagePolicyStatus>;

export const imagePolicy = imageObject("ImagePolicy", imagePolicySpec, imagePolicyStatus);
export type ImagePolicy = z.infer<typeof imagePolicy>;

/** The CRD's defaults, filled in as Flux's API server does: digestReflectionPolicy Never, orders asc. */
export function withImagePolicyDefaults(policy: ImagePolicy): ImagePolicy {
  const { spec } = policy;
  const { alphabetical, numerical } = spec.policy;
  return {
    ...policy,
    spec: {
      ...spec,
      digestReflectionPolicy: spec.digestReflectionPolicy ?? DEFAULT_DIGEST_REFLECTION_POLICY,
      policy: {
        ...spec.policy,
        ...(alphabetical && { alphabetical: { order: alphabetical.order ?? DEFAULT_ORDER } }),
        ...(numerical && { numerical: { order: numerical.order ?? DEFAULT_ORDER } }),
      },
    },
  };
}

/** `image:tag[@digest]`, as Flux prints an ImageRef. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.name}:${ref.tag}${ref.digest ? `@${ref.digest}` : ""}`;
}
