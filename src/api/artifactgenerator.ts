import { z } from "zod";
import { isDnsSubdomain } from "./dns-names.js";
import { artifact, commonStatus, fluxObject } from "./meta.js";

// Flux's source-watcher v2.2 API (github.com/fluxcd/source-watcher/api/v2 v2.2.4): an ArtifactGenerator
// (source.extensions.fluxcd.io/v1beta1) builds ExternalArtifacts (source.toolkit.fluxcd.io/v1, source-controller
// v1.9's CRD) from the artifacts of other sources, field for field as their CRDs (test/fixtures/flux-crds) validate.

export const ARTIFACT_GENERATOR_API_VERSION = "source.extensions.fluxcd.io/v1beta1";
export const EXTERNAL_ARTIFACT_API_VERSION = "source.toolkit.fluxcd.io/v1";
/** The label source-watcher puts on each ExternalArtifact it generates (its value: the generator's uid). */
export const GENERATOR_LABEL = "source.extensions.fluxcd.io/generator";
/** The artifact metadata key for the revision of the source an artifact was built from. */
export const ORIGIN_REVISION_KEY = "org.opencontainers.image.revision";

/** An alias (`@<alias>`) as the CRD spells it; `@artifact` is the output's root in `copy[].to`. */
const ALIAS = "[a-z0-9]([a-z0-9_-]*[a-z0-9])?";
const aliasRef = z
  .string()
  .max(64)
  .regex(new RegExp(`^@(${ALIAS})$`), { message: "must be @<alias>" });
/** `@artifact/<path>` with no `..` segment (v2.2.4's pattern): a destination never leaves the artifact. */
const SEGMENT = "([^/]{0,1}|[^./][^/]|[.][^./]|[^/]{3,})";
const copyDestination = new RegExp(`^@artifact/${SEGMENT}(/${SEGMENT})*$`);

export const sourceReference = z.strictObject({
  alias: z
    .string()
    .max(63)
    .regex(new RegExp(`^${ALIAS}$`), { message: "must be lowercase alphanumerics, '_' or '-'" }),
  name: z
    .string()
    .max(253)
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { message: "must be a lowercase DNS-1123 name" }),
  namespace: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: "must be a lowercase DNS-1123 label" })
    .optional(),
  kind: z.enum(["Bucket", "GitRepository", "OCIRepository", "HelmChart", "ExternalArtifact"]),
});
export type SourceReference = z.infer<typeof sourceReference>;

export const copyOperation = z.strictObject({
  from: z
    .string()
    .min(1)
    .max(1024)
    .regex(new RegExp(`^@(${ALIAS})/(.*)$`), { message: "must be @<alias>/<glob>" }),
  to: z.string().min(1).max(1024).regex(copyDestination, {
    message: "must be @artifact/<path>, without '..'",
  }),
  exclude: z.array(z.string().max(1024)).max(100).optional(),
  strategy: z.enum(["Overwrite", "Merge", "Extract"]).optional(),
});
export type CopyOperation = z.infer<typeof copyOperation>;

export const outputArtifact = z.strictObject({
  name: z.string().min(1).max(253),
  revision: aliasRef.optional(),
  originRevision: aliasRef.optional(),
  copy: z.array(copyOperation).min(1),
});
export type OutputArtifact = z.infer<typeof outputArtifact>;

export const artifactGeneratorSpec = z
  .strictObject({
    commonMetadata: z
      .strictObject({
        annotations: z.record(z.string(), z.string()).optional(),
        labels: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
    sources: z.array(sourceReference).min(1).max(1000),
    pathPattern: z
      .string()
      .max(1024)
      .regex(new RegExp(`^@(${ALIAS})/(.*)$`), { message: "must be @<alias>/<pattern>" })
      .optional(),
    artifacts: z.array(outputArtifact).min(1).max(1000),
  })
  // The CRD's CEL rule.
  .refine((s) => (s.pathPattern ?? "").length > 0 || s.artifacts.every((a) => isDnsSubdomain(a.name)), {
    message: "artifact names must be valid Kubernetes object names when pathPattern is not set",
  });

/** A generated ExternalArtifact as the generator's inventory records it. */
export const externalArtifactReference = z.strictObject({
  name: z.string(),
  namespace: z.string(),
  digest: z.string(),
  filename: z.string(),
});
export type ExternalArtifactReference = z.infer<typeof externalArtifactReference>;

export const artifactGeneratorStatus = z.strictObject({
  ...commonStatus,
  inventory: z.array(externalArtifactReference).optional(),
  observedSourcesDigest: z.string().optional(),
});

export const artifactGenerator = fluxObject(
  ARTIFACT_GENERATOR_API_VERSION,
  "ArtifactGenerator",
  artifactGeneratorSpec,
  artifactGeneratorStatus,
);
export type ArtifactGenerator = z.infer<typeof artifactGenerator>;

export const externalArtifactSpec = z.strictObject({
  sourceRef: z
    .strictObject({
      apiVersion: z.string().optional(),
      kind: z.string(),
      name: z.string(),
      namespace: z.string().optional(),
    })
    .optional(),
});

export const externalArtifactStatus = z.strictObject({
  ...commonStatus,
  artifact: artifact.optional(),
});

export const externalArtifact = fluxObject(
  EXTERNAL_ARTIFACT_API_VERSION,
  "ExternalArtifact",
  externalArtifactSpec,
  externalArtifactStatus,
);
export type ExternalArtifact = z.infer<typeof externalArtifact>;
