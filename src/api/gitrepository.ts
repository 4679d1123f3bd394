import { z } from "zod";
import { duration, minutesDuration } from "./duration.js";
import { artifact, commonStatus, fluxObject, localObjectReference } from "./meta.js";

// source-controller v1.9's GitRepository (source.toolkit.fluxcd.io/v1), field for field as its CRD
// (test/fixtures/flux-crds) validates it: patterns, enums, required fields and CEL rules.

export const GIT_REPOSITORY_API_VERSION = "source.toolkit.fluxcd.io/v1";

/** Flux's default `spec.timeout`. */
const DEFAULT_TIMEOUT = "60s";
/** Flux's default `spec.verify.mode`. */
const DEFAULT_VERIFY_MODE = "HEAD";

/**
 * `spec.ref`: what to check out. Precedence as in Flux: commit > name > semver > tag > branch. The
 * CRD leaves `commit` free; anything but a SHA-1 (full or abbreviated) or SHA-256 object name, in
 * either case, could never be checked out.
 */
export const gitRepositoryRef = z.strictObject({
  branch: z.string().min(1).optional(),
  tag: z.string().min(1).optional(),
  semver: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  commit: z
    .string()
    .regex(/^([0-9a-fA-F]{7,40}|[0-9a-fA-F]{64})$/, { message: "must be a hexadecimal commit SHA (SHA-1 or SHA-256)" })
    .optional(),
});
export type GitRepositoryRef = z.infer<typeof gitRepositoryRef>;

const include = z.strictObject({
  repository: localObjectReference,
  fromPath: z.string().optional(),
  toPath: z.string().optional(),
});

/** `source.toolkit.fluxcd.io/v1` GitRepository spec. */
export const gitRepositorySpec = z
  .strictObject({
    url: z.string().regex(/^(http|https|ssh):\/\/.*$/, { message: "must start with http://, https:// or ssh://" }),
    secretRef: localObjectReference.optional(),
    provider: z.enum(["generic", "aws", "azure", "github"]).optional(),
    serviceAccountName: z.string().min(1).optional(),
    interval: duration,
    timeout: minutesDuration.optional(),
    ref: gitRepositoryRef.optional(),
    verify: z
      .strictObject({ mode: z.enum(["head", "HEAD", "Tag", "TagAndHEAD"]).optional(), secretRef: localObjectReference })
      .optional(),
    proxySecretRef: localObjectReference.optional(),
    ignore: z.string().optional(),
    suspend: z.boolean().optional(),
    recurseSubmodules: z.boolean().optional(),
    include: z.array(include).optional(),
    sparseCheckout: z.array(z.string()).optional(),
  })
  .refine((s) => s.serviceAccountName === undefined || s.provider === "azure" || s.provider === "aws", {
    message: "serviceAccountName can only be set when provider is 'azure' or 'aws'",
  });

export const gitRepositoryStatus = z.strictObject({
  ...commonStatus,
  artifact: artifact.optional(),
  includedArtifacts: z.array(artifact).optional(),
  observedIgnore: z.string().optional(),
  observedRecurseSubmodules: z.boolean().optional(),
  observedInclude: z.array(include).optional(),
  observedSparseCheckout: z.array(z.string()).optional(),
  sourceVerificationMode: z.string().optional(),
});

export const gitRepository = fluxObject(
  GIT_REPOSITORY_API_VERSION,
  "GitRepository",
  gitRepositorySpec,
  gitRepositoryStatus,
);
export type GitRepository = z.infer<typeof gitRepository>;

/** The CRD's defaults, filled in as Flux's API server does: `timeout` 60s, `verify.mode` HEAD. */
export function withGitRepositoryDefaults(repo: GitRepository): GitRepository {
  const { spec } = repo;
  return {
    ...repo,
    spec: {
      ...spec,
      timeout: spec.timeout ?? DEFAULT_TIMEOUT,
      ...(spec.verify && { verify: { ...spec.verify, mode: spec.verify.mode ?? DEFAULT_VERIFY_MODE } }),
    },
  };
}

/** Flux's defaults: a 60s timeout; with no ref at all, the `master` branch. */
export function gitRepositoryDefaults(spec: GitRepository["spec"]): { timeout: string; ref: GitRepositoryRef } {
  return {
    timeout: spec.timeout ?? DEFAULT_TIMEOUT,
    ref: spec.ref && Object.keys(spec.ref).length > 0 ? spec.ref : { branch: "master" },
  };
}
