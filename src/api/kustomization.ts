import { z } from "zod";
import { duration, parseDuration } from "./duration.js";
import { commonStatus, fluxObject, localObjectReference } from "./meta.js";

export const KUSTOMIZATION_API_VERSION = "kustomize.toolkit.fluxcd.io/v1";

/** kustomize's object selector (fluxcd/pkg/apis/kustomize Selector), shared by Flux's patch and ignore targets. */
export const selector = z.strictObject({
  group: z.string().optional(),
  version: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  annotationSelector: z.string().optional(),
  labelSelector: z.string().optional(),
});

/** Flux's default `spec.force` and `spec.postBuild.substituteFrom[].optional`. */
const DEFAULT_FORCE = false;
const DEFAULT_OPTIONAL = false;

const kubeConfigExactlyOne =
  "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified";

/** `kustomize.toolkit.fluxcd.io/v1` Kustomization spec. */
export const kustomizationSpec = z.strictObject({
  buildMetadata: z.array(z.enum(["originAnnotations", "transformerAnnotations"])).optional(),
  commonMetadata: z
    .strictObject({
      annotations: z.record(z.string(), z.string()).optional(),
      labels: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  dependsOn: z
    .array(
      z.strictObject({ name: z.string().min(1), namespace: z.string().optional(), readyExpr: z.string().optional() }),
    )
    .optional(),
  decryption: z
    .strictObject({
      provider: z.literal("sops"),
      serviceAccountName: z.string().optional(),
      secretRef: localObjectReference.optional(),
    })
    .optional(),
  interval: duration,
  retryInterval: duration.optional(),
  kubeConfig: z
    .strictObject({
      secretRef: z.strictObject({ name: z.string().min(1), key: z.string().optional() }).optional(),
      configMapRef: localObjectReference.optional(),
    })
    .refine((k) => k.configMapRef !== undefined || k.secretRef !== undefined, { message: kubeConfigExactlyOne })
    .refine((k) => k.configMapRef === undefined || k.secretRef === undefined, { message: kubeConfigExactlyOne })
    .optional(),
  path: z.string().optional(),
  postBuild: z
    .strictObject({
      substitute: z.record(z.string(), z.string()).optional(),
      substituteFrom: z
        .array(
          z.strictObject({
            kind: z.enum(["Secret", "ConfigMap"]),
            name: z.string().min(1).max(253),
            optional: z.boolean().optional(),
          }),
        )
        .optional(),
      substituteStrategy: z.enum(["WithVariables", "Always"]).optional(),
    })
    .optional(),
  prune: z.boolean(),
  deletionPolicy: z.enum(["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]).optional(),
  healthChecks: z
    .array(
      z.strictObject({
        apiVersion: z.string().optional(),
        kind: z.string().min(1),
        name: z.string().min(1),
        namespace: z.string().optional(),
      }),
    )
    .optional(),
  namePrefix: z.string().min(1).max(200).optional(),
  nameSuffix: z.string().min(1).max(200).optional(),
  patches: z.array(z.strictObject({ patch: z.string().min(1), target: selector.optional() })).optional(),
  images: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        newName: z.string().optional(),
        newTag: z.string().optional(),
        digest: z.string().optional(),
      }),
    )
    .optional(),
  serviceAccountName: z.string().optional(),
  sourceRef: z.strictObject({
    apiVersion: z.string().optional(),
    kind: z.enum(["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"]),
    name: z.string().min(1),
    namespace: z.string().optional(),
  }),
  suspend: z.boolean().optional(),
  targetNamespace: z.string().min(1).max(63).optional(),
  timeout: duration.optional(),
  force: z.boolean().optional(),
  wait: z.boolean().optional(),
  components: z.array(z.string()).optional(),
  ignoreMissingComponents: z.boolean().optional(),
  /** CEL health rules by API group and kind; without `kind`, for every kind of the group. */
  healthCheckExprs: z
    .array(
      z.strictObject({
        apiVersion: z.string().min(1),
        kind: z.string().min(1).optional(),
        current: z.string().min(1),
        inProgress: z.string().optional(),
        failed: z.string().optional(),
      }),
    )
    .optional(),
  /** Flux's drift-ignore rules: JSON Pointer paths left to other managers on objects that already exist. */
  ignore: z.array(z.strictObject({ paths: z.array(z.string()), target: selector.optional() })).optional(),
});

export const kustomizationStatus = z.strictObject({
  ...commonStatus,
  lastAppliedRevision: z.string().optional(),
  lastAppliedOriginRevision: z.string().optional(),
  lastAttemptedRevision: z.string().optional(),
  inventory: z.strictObject({ entries: z.array(z.strictObject({ id: z.string(), v: z.string() })) }).optional(),
  /** Flux's snapshots of the last reconciles, one per digest of what was reconciled and its outcome. */
  history: z
    .array(
      z.strictObject({
        digest: z.string(),
        firstReconciled: z.iso.datetime({ offset: true }),
        lastReconciled: z.iso.datetime({ offset: true }),
        lastReconciledDuration: z.string(),
        lastReconciledStatus: z.string(),
        metadata: z.record(z.string(), z.string()).optional(),
        totalReconciliations: z.number().int(),
      }),
    )
    .optional(),
});

export const kustomization = fluxObject(
  KUSTOMIZATION_API_VERSION,
  "Kustomization",
  kustomizationSpec,
  kustomizationStatus,
);
export type Kustomization = z.infer<typeof kustomization>;

/** The CRD's defaults, filled in as Flux's API server does: `force` false, `substituteFrom[].optional` false. */
export function withKustomizationDefaults(ks: Kustomization): Kustomization {
  const { spec } = ks;
  const substituteFrom = spec.postBuild?.substituteFrom?.map((ref) => ({
    ...ref,
    optional: ref.optional ?? DEFAULT_OPTIONAL,
  }));
  return {
    ...ks,
    spec: {
      ...spec,
      force: spec.force ?? DEFAULT_FORCE,
      ...(spec.postBuild && { postBuild: { ...spec.postBuild, ...(substituteFrom && { substituteFrom }) } }),
    },
  };
}

/** Flux's timeout rule: spec.timeout, else interval − 30s, never below 30s. */
export function kustomizationTimeoutMs(spec: Kustomization["spec"]): number {
  const ms = spec.timeout ? parseDuration(spec.timeout) : parseDuration(spec.interval) - 30_000;
  return Math.max(ms, 30_000);
}

/** Retry interval after a failure: spec.retryInterval, else the interval. */
export function kustomizationRetryMs(spec: Kustomization["spec"]): number {
  return parseDuration(spec.retryInterval ?? spec.interval);
}
