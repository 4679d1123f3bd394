import { z } from "zod";
import { duration } from "./duration.js";
import { artifact, commonStatus, fluxObject, localObjectReference } from "./meta.js";

// source-controller v1.9's HelmChart (source.toolkit.fluxcd.io/v1), field for field as its CRD
// (test/fixtures/flux-crds) validates it: enums, required fields, defaults and the CEL rule on verify.

export const HELM_CHART_API_VERSION = "source.toolkit.fluxcd.io/v1";

/** The CRD's defaults: the newest version, and a new artifact when the chart version changes. */
const DEFAULT_VERSION = "*";
const DEFAULT_RECONCILE_STRATEGY = "ChartVersion";
const DEFAULT_VERIFY_PROVIDER = "cosign";

/** `spec.sourceRef`: where the chart is. */
export const helmChartSourceRef = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.enum(["HelmRepository", "GitRepository", "Bucket"]),
  name: z.string(),
});

/** `source.toolkit.fluxcd.io/v1` HelmChart spec. */
export const helmChartSpec = z
  .strictObject({
    chart: z.string(),
    version: z.string().optional(),
    sourceRef: helmChartSourceRef,
    interval: duration,
    reconcileStrategy: z.enum(["ChartVersion", "Revision"]).optional(),
    valuesFiles: z.array(z.string()).optional(),
    ignoreMissingValuesFiles: z.boolean().optional(),
    suspend: z.boolean().optional(),
    verify: z
      .strictObject({
        provider: z.enum(["cosign", "notation"]).optional(),
        secretRef: localObjectReference.optional(),
        matchOIDCIdentity: z.array(z.strictObject({ issuer: z.string(), subject: z.string() })).optional(),
      })
      .optional(),
  })
  .refine((s) => s.verify === undefined || s.sourceRef.kind === "HelmRepository", {
    message: "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
  });

export const helmChartStatus = z.strictObject({
  ...commonStatus,
  observedSourceArtifactRevision: z.string().optional(),
  observedChartName: z.string().optional(),
  observedValuesFiles: z.array(z.string()).optional(),
  url: z.string().optional(),
  artifact: artifact.optional(),
});

export const helmChart = fluxObject(HELM_CHART_API_VERSION, "HelmChart", helmChartSpec, helmChartStatus);
export type HelmChart = z.infer<typeof helmChart>;

/** The CRD's defaults, filled in as Flux's API server does: `version` `*`, `reconcileStrategy` ChartVersion. */
export function withHelmChartDefaults(chart: HelmChart): HelmChart {
  const { spec } = chart;
  return {
    ...chart,
    spec: {
      ...spec,
      version: spec.version ?? DEFAULT_VERSION,
      reconcileStrategy: spec.reconcileStrategy ?? DEFAULT_RECONCILE_STRATEGY,
      ...(spec.verify && { verify: { ...spec.verify, provider: spec.verify.provider ?? DEFAULT_VERIFY_PROVIDER } }),
    },
  };
}
