import { z } from "zod";
import { duration } from "./duration.js";
import { artifact, commonStatus, fluxObject, localObjectReference } from "./meta.js";

export const GIT_REPOSITORY_API_VERSION = "source.toolkit.fluxcd.io/v1";

/** `spec.ref`: what to check out. Precedence as in Flux: commit > name > semver > tag > branch. */
export const gitRepositoryRef = z.strictObject({
  branch: z.string().min(1).optional(),
  tag: z.string().min(1).optional(),
  semver: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  commit: z
    .string()
    .regex(/^[0-9a-f]{7,40}$/, { message: "must be a hexadecimal commit SHA" })
    .optional(),
});
export type GitRepositoryRef = z.infer<typeof gitRepositoryRef>;

/** `source.toolkit.fluxcd.io/v1` GitRepository spec: every field Flux documents. */
export const gitRepositorySpec = z.strictObject({
  url: z.string().regex(/^(http|https|ssh):\/\/.*$/, { message: "must start with http://, https:// or ssh://" }),
  secretRef: localObjectReference.optional(),
  provider: z.enum(["generic", "aws", "azure", "github"]).optional(),
  serviceAccountName: z.string().min(1).optional(),
  interval: duration,
  timeout: duration.optional(),
  ref: gitRepositoryRef.optional(),
  verify: z
    .strictObject({ mode: z.enum(["head", "HEAD", "Tag", "TagAndHEAD"]).optional(), secretRef: localObjectReference })
    .optional(),
  proxySecretRef: localObjectReference.optional(),
  ignore: z.string().optional(),
  suspend: z.boolean().optional(),
  recurseSubmodules: z.boolean().optional(),
  include: z
    .array(
      z.strictObject({
        repository: localObjectReference,
        fromPath: z.string().optional(),
        toPath: z.string().optional(),
      }),
    )
    .optional(),
  sparseCheckout: z.array(z.string()).optional(),
});

export const gitRepositoryStatus = z.strictObject({
  ...commonStatus,
  artifact: artifact.optional(),
  includedArtifacts: z.array(artifact).optional(),
  observedIgnore: z.string().optional(),
  observedRecurseSubmodules: z.boolean().optional(),
  observedInclude: z.array(z.unknown()).optional(),
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

/** Flux's defaults: a 60s timeout; with no ref at all, the `master` branch. */
export function gitRepositoryDefaults(spec: GitRepository["spec"]): { timeout: string; ref: GitRepositoryRef } {
  return {
    timeout: spec.timeout ?? "60s",
    ref: spec.ref && Object.keys(spec.ref).length > 0 ? spec.ref : { branch: "master" },
  };
}
