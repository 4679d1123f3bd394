import { z } from "zod";
import { duration, minutesDuration } from "./duration.js";
import { artifact, commonStatus, fluxObject, localObjectReference } from "./meta.js";

// source-controller v1.9's HelmRepository (source.toolkit.fluxcd.io/v1), field for field as its CRD
// (test/fixtures/flux-crds) validates it: patterns, enums, required fields and defaults.

export const HELM_REPOSITORY_API_VERSION = "source.toolkit.fluxcd.io/v1";

/** Flux's default `spec.provider` (a CRD default, filled in on admission). */
const DEFAULT_PROVIDER = "generic";
/** Flux's `GetRequeueAfter` and `GetTimeout` when `spec.interval` / `spec.timeout` are not set (no CRD default). */
const DEFAULT_INTERVAL = "1m";
const DEFAULT_TIMEOUT = "60s";

/** `source.toolkit.fluxcd.io/v1` HelmRepository spec. */
export const helmRepositorySpec = z.strictObject({
  url: z.string().regex(/^(http|https|oci):\/\/.*$/, { message: "must start with http://, https:// or oci://" }),
  secretRef: localObjectReference.optional(),
  certSecretRef: localObjectReference.optional(),
  passCredentials: z.boolean().optional(),
  interval: duration.optional(),
  insecure: z.boolean().optional(),
  timeout: minutesDuration.optional(),
  suspend: z.boolean().optional(),
  // Provisional in Flux and not implemented there either ("NOTE: Not implemented"): accepted and unused, as Flux does.
  accessFrom: z
    .strictObject({
      namespaceSelectors: z.array(z.strictObject({ matchLabels: z.record(z.string(), z.string()).optional() })),
    })
    .optional(),
  type: z.enum(["default", "oci"]).optional(),
  provider: z.enum(["generic", "aws", "azure", "gcp"]).optional(),
});

export const helmRepositoryStatus = z.strictObject({
  ...commonStatus,
  url: z.string().optional(),
  artifact: artifact.optional(),
});

export const helmRepository = fluxObject(
  HELM_REPOSITORY_API_VERSION,
  "HelmRepository",
  helmRepositorySpec,
  helmRepositoryStatus,
);
export type HelmRepository = z.infer<typeof helmRepository>;

/** The CRD's defaults, filled in as Flux's API server does: `provider` generic. */
export function withHelmRepositoryDefaults(repo: HelmRepository): HelmRepository {
  return { ...repo, spec: { ...repo.spec, provider: repo.spec.provider ?? DEFAULT_PROVIDER } };
}

/** What source-controller uses when a field is unset: a 1m interval and a 60s timeout. */
export function helmRepositoryDefaults(spec: HelmRepository["spec"]): { interval: string; timeout: string } {
  return { interval: spec.interval ?? DEFAULT_INTERVAL, timeout: spec.timeout ?? DEFAULT_TIMEOUT };
}
