import { z } from "zod";
import { duration, minutesDuration } from "./duration.js";
import { imageObject } from "./image-api.js";
import { commonStatus, localObjectReference } from "./meta.js";

// image-reflector-controller v1.2's ImageRepository (image.toolkit.fluxcd.io/v1), field for field as
// its CRD (test/fixtures/flux-crds) validates it.

/** The CRD's `exclusionList` default: cosign signature tags. */
export const DEFAULT_EXCLUSION_LIST = ["^.*\\.sig$"];
const DEFAULT_PROVIDER = "generic";

/** acl.AccessFrom: which namespaces' ImagePolicies may refer to this ImageRepository. */
export const accessFrom = z.strictObject({
  namespaceSelectors: z.array(z.strictObject({ matchLabels: z.record(z.string(), z.string()).optional() })),
});
export type AccessFrom = z.infer<typeof accessFrom>;

export const imageRepositorySpec = z.strictObject({
  image: z.string().min(1),
  interval: duration,
  timeout: minutesDuration.optional(),
  secretRef: localObjectReference.optional(),
  proxySecretRef: localObjectReference.optional(),
  serviceAccountName: z.string().max(253).optional(),
  certSecretRef: localObjectReference.optional(),
  suspend: z.boolean().optional(),
  accessFrom: accessFrom.optional(),
  exclusionList: z.array(z.string()).max(25).optional(),
  provider: z.enum(["generic", "aws", "azure", "gcp"]).optional(),
  insecure: z.boolean().optional(),
});

/** `status.lastScanResult`. */
export const scanResult = z.strictObject({
  /** A stable hash of the scanned tags (changes when, and only when, the tag list does). */
  revision: z.string().optional(),
  tagCount: z.number().int(),
  scanTime: z.iso.datetime({ offset: true }).optional(),
  /** The first ten tags in descending alphabetical order. */
  latestTags: z.array(z.string()).optional(),
});
export type ScanResult = z.infer<typeof scanResult>;

export const imageRepositoryStatus = z.strictObject({
  ...commonStatus,
  canonicalImageName: z.string().optional(),
  lastScanResult: scanResult.optional(),
  observedExclusionList: z.array(z.string()).optional(),
});
export type ImageRepositoryStatus = z.infer<typeof imageRepositoryStatus>;

export const imageRepository = imageObject("ImageRepository", imageRepositorySpec, imageRepositoryStatus);
export type ImageRepository = z.infer<typeof imageRepository>;

/** The CRD's defaults, filled in as Flux's API server does: `exclusionList` `^.*\.sig$`, `provider` generic. */
export function withImageRepositoryDefaults(repo: ImageRepository): ImageRepository {
  const { spec } = repo;
  return {
    ...repo,
    spec: {
      ...spec,
      exclusionList: spec.exclusionList ?? DEFAULT_EXCLUSION_LIST,
      provider: spec.provider ?? DEFAULT_PROVIDER,
    },
  };
}
