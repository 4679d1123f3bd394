import { z } from "zod";
import { duration, minutesDuration } from "./duration.js";
import { artifact, commonStatus, fluxObject, localObjectReference } from "./meta.js";

// source-controller v1.9's OCIRepository (source.toolkit.fluxcd.io/v1), field for field as its CRD
// (test/fixtures/flux-crds) validates it: patterns, enums, required fields and defaults.

export const OCI_REPOSITORY_API_VERSION = "source.toolkit.fluxcd.io/v1";

/** The CRD's defaults, filled in on admission. */
const DEFAULT_PROVIDER = "generic";
const DEFAULT_TIMEOUT = "60s";
const DEFAULT_VERIFY_PROVIDER = "cosign";
/** Flux's `name.DefaultTag` when `spec.ref` names nothing. */
export const DEFAULT_OCI_TAG = "latest";

/** `spec.ref`: which artifact. Precedence as in Flux: digest > semver (with semverFilter) > tag > `latest`. */
export const ociRepositoryRef = z.strictObject({
  digest: z.string().optional(),
  semver: z.string().optional(),
  semverFilter: z.string().optional(),
  tag: z.string().optional(),
});
export type OciRepositoryRefSpec = z.infer<typeof ociRepositoryRef>;

/** `spec.layerSelector`: the layer (first of `mediaType`, else the first) and whether it is extracted or copied. */
export const ociLayerSelector = z.strictObject({
  mediaType: z.string().optional(),
  operation: z.enum(["extract", "copy"]).optional(),
});

/** `source.toolkit.fluxcd.io/v1` OCIRepository spec. */
export const ociRepositorySpec = z.strictObject({
  url: z.string().regex(/^oci:\/\/.*$/, { message: "must start with oci://" }),
  ref: ociRepositoryRef.optional(),
  layerSelector: ociLayerSelector.optional(),
  provider: z.enum(["generic", "aws", "azure", "gcp"]).optional(),
  secretRef: localObjectReference.optional(),
  verify: z
    .strictObject({
      // Required by the CRD, with a default: the API server fills it in before it validates.
      provider: z.enum(["cosign", "notation"]).optional(),
      secretRef: localObjectReference.optional(),
      trustedRootSecretRef: localObjectReference.optional(),
      matchOIDCIdentity: z.array(z.strictObject({ issuer: z.string(), subject: z.string() })).optional(),
    })
    .optional(),
  serviceAccountName: z.string().optional(),
  certSecretRef: localObjectReference.optional(),
  proxySecretRef: localObjectReference.optional(),
  interval: duration,
  timeout: minutesDuration.optional(),
  ignore: z.string().optional(),
  insecure: z.boolean().optional(),
  suspend: z.boolean().optional(),
});

export const ociRepositoryStatus = z.strictObject({
  ...commonStatus,
  url: z.string().optional(),
  artifact: artifact.optional(),
  observedIgnore: z.string().optional(),
  observedLayerSelector: ociLayerSelector.optional(),
});

export const ociRepository = fluxObject(
  OCI_REPOSITORY_API_VERSION,
  "OCIRepository",
  ociRepositorySpec,
  ociRepositoryStatus,
);
export type OCIRepository = z.infer<typeof ociRepository>;

/** The CRD's defaults, filled in as Flux's API server does: `provider` generic, `timeout` 60s, `verify.provider` cosign. */
export function withOciRepositoryDefaults(repo: OCIRepository): OCIRepository {
  const { spec } = repo;
  return {
    ...repo,
    spec: {
      ...spec,
      provider: spec.provider ?? DEFAULT_PROVIDER,
      timeout: spec.timeout ?? DEFAULT_TIMEOUT,
      ...(spec.verify && { verify: { ...spec.verify, provider: spec.verify.provider ?? DEFAULT_VERIFY_PROVIDER } }),
    },
  };
}

/** What source-controller uses when a field is unset: a 60s timeout, the `extract` operation. */
export function ociRepositoryDefaults(spec: OCIRepository["spec"]): { timeout: string; operation: "extract" | "copy" } {
  return { timeout: spec.timeout ?? DEFAULT_TIMEOUT, operation: spec.layerSelector?.operation ?? "extract" };
}
