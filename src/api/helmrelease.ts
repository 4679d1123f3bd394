import { createHash } from "node:crypto";
import { z } from "zod";
import { duration, parseDuration } from "./duration.js";
import { kustomizationSpec, kustomizationStatus, selector } from "./kustomization.js";
import { commonStatus, fluxObject } from "./meta.js";
import { keyOf } from "./object-key.js";

// helm-controller v1.6.3's HelmRelease (helm.toolkit.fluxcd.io/v2), field for field as its CRD
// (test/fixtures/flux-crds) validates it: enums, bounds, patterns, defaults and its CEL rules; and the
// Get* rules of its Go API that name a release, its namespaces and timeouts.

export const HELM_RELEASE_API_VERSION = "helm.toolkit.fluxcd.io/v2";

/** helm-controller's requests beside requestedAt, set with its value: a one-off install or upgrade, a reset of the failure counts. */
export const FORCE_AT = "reconcile.fluxcd.io/forceAt";
export const RESET_AT = "reconcile.fluxcd.io/resetAt";

/** The CRD's defaults. */
const DEFAULT_CHART_VERSION = "*";
const DEFAULT_RECONCILE_STRATEGY = "ChartVersion";
const DEFAULT_VERIFY_PROVIDER = "cosign";
const DEFAULT_DELETION_PROPAGATION = "background";

/** The Go API's defaults (GetTimeout, GetMaxHistory, GetRetryInterval). */
const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_MAX_HISTORY = 5;
/** InstallStrategy/UpgradeStrategy GetRetryInterval's default. */
const DEFAULT_RETRY_INTERVAL_MS = 300_000;

/** Helm's limit on a release name, and helm-controller's hash suffix when `[targetNamespace-]name` is longer. */
const RELEASE_NAME_MAX = 53;
const RELEASE_NAME_HASH_LENGTH = 12;

const stringMap = z.record(z.string(), z.string());
const metadata = z.strictObject({ annotations: stringMap.optional(), labels: stringMap.optional() });
const namespace = z.string().min(1).max(63);
const crdsPolicy = z.enum(["Skip", "Create", "CreateReplace"]);
const serverSideApplyMode = z.enum(["enabled", "disabled", "auto"]);
const actionStrategyName = z.enum(["RemediateOnFailure", "RetryOnFailure"]);

/** `spec.chart`: the template of the HelmChart helm-controller creates for the release. */
const chartTemplate = z.strictObject({
  metadata: metadata.optional(),
  spec: z.strictObject({
    chart: z.string().min(1).max(2048),
    version: z.string().optional(),
    sourceRef: z.strictObject({
      apiVersion: z.string().optional(),
      kind: z.enum(["HelmRepository", "GitRepository", "Bucket"]),
      name: z.string().min(1).max(253),
      namespace: namespace.optional(),
    }),
    interval: duration.optional(),
    reconcileStrategy: z.enum(["ChartVersion", "Revision"]).optional(),
    valuesFiles: z.array(z.string()).optional(),
    ignoreMissingValuesFiles: z.boolean().optional(),
    verify: z
      .strictObject({
        provider: z.enum(["cosign", "notation"]).optional(),
        secretRef: z.strictObject({ name: z.string() }).optional(),
      })
      .optional(),
  }),
});

const installRemediation = {
  retries: z.number().int().optional(),
  ignoreTestFailures: z.boolean().optional(),
  remediateLastFailure: z.boolean().optional(),
};

/** The options Helm's install and upgrade actions share. */
const releaseActionOptions = {
  timeout: duration.optional(),
  disableWait: z.boolean().optional(),
  disableWaitForJobs: z.boolean().optional(),
  disableHooks: z.boolean().optional(),
  disableOpenAPIValidation: z.boolean().optional(),
  disableSchemaValidation: z.boolean().optional(),
  disableTakeOwnership: z.boolean().optional(),
  crds: crdsPolicy.optional(),
};

const install = z.strictObject({
  ...releaseActionOptions,
  remediation: z.strictObject(installRemediation).optional(),
  strategy: z
    .strictObject({ name: actionStrategyName, retryInterval: duration.optional() })
    .refine((s) => s.retryInterval === undefined || s.name !== "RemediateOnFailure", {
      message: ".retryInterval cannot be set when .name is 'RemediateOnFailure'",
    })
    .optional(),
  replace: z.boolean().optional(),
  skipCRDs: z.boolean().optional(),
  createNamespace: z.boolean().optional(),
  serverSideApply: z.boolean().optional(),
});

const upgrade = z.strictObject({
  ...releaseActionOptions,
  remediation: z
    .strictObject({ ...installRemediation, strategy: z.enum(["rollback", "uninstall"]).optional() })
    .optional(),
  strategy: z
    .strictObject({ name: actionStrategyName, retryInterval: duration.optional() })
    .refine((s) => s.retryInterval === undefined || s.name === "RetryOnFailure", {
      message: ".retryInterval can only be set when .name is 'RetryOnFailure'",
    })
    .optional(),
  chartNameChangeStrategy: z.enum(["InPlaceUpdate", "Reinstall"]).optional(),
  force: z.boolean().optional(),
  preserveValues: z.boolean().optional(),
  cleanupOnFail: z.boolean().optional(),
  serverSideApply: serverSideApplyMode.optional(),
});

/** `spec.valuesFrom[]`: a ConfigMap or Secret whose key holds values, or one value at `targetPath`. */
export const valuesReference = z.strictObject({
  kind: z.enum(["Secret", "ConfigMap"]),
  name: z.string().min(1).max(253),
  valuesKey: z
    .string()
    .max(253)
    .regex(/^[-._a-zA-Z0-9]+$/, { message: "must be a ConfigMap or Secret key (letters, digits, '-', '_', '.')" })
    .optional(),
  targetPath: z
    .string()
    .max(250)
    .regex(/^([a-zA-Z0-9_\-.\\/]|\[[0-9]{1,5}\])+$/, {
      message: "must be a dotted path of letters, digits, '_', '-', '\\', '/' and [index] parts",
    })
    .optional(),
  optional: z.boolean().optional(),
  literal: z.boolean().optional(),
});
export type ValuesReference = z.infer<typeof valuesReference>;

/** `helm.toolkit.fluxcd.io/v2` HelmRelease spec. */
export const helmReleaseSpec = z
  .strictObject({
    chart: chartTemplate.optional(),
    chartRef: z
      .strictObject({
        apiVersion: z.string().optional(),
        kind: z.enum(["OCIRepository", "HelmChart", "ExternalArtifact"]),
        name: z.string().min(1).max(253),
        namespace: namespace.optional(),
      })
      .optional(),
    interval: duration,
    kubeConfig: kustomizationSpec.shape.kubeConfig,
    suspend: z.boolean().optional(),
    releaseName: z.string().min(1).max(RELEASE_NAME_MAX).optional(),
    targetNamespace: namespace.optional(),
    storageNamespace: namespace.optional(),
    dependsOn: z
      .array(z.strictObject({ name: z.string(), namespace: z.string().optional(), readyExpr: z.string().optional() }))
      .optional(),
    timeout: duration.optional(),
    maxHistory: z.number().int().optional(),
    serviceAccountName: z.string().min(1).max(253).optional(),
    persistentClient: z.boolean().optional(),
    driftDetection: z
      .strictObject({
        mode: z.enum(["enabled", "warn", "disabled"]).optional(),
        ignore: z.array(z.strictObject({ paths: z.array(z.string()), target: selector.optional() })).optional(),
      })
      .optional(),
    install: install.optional(),
    upgrade: upgrade.optional(),
    test: z
      .strictObject({
        enable: z.boolean().optional(),
        timeout: duration.optional(),
        ignoreFailures: z.boolean().optional(),
        filters: z
          .array(z.strictObject({ name: z.string().min(1).max(253), exclude: z.boolean().optional() }))
          .optional(),
      })
      .optional(),
    rollback: z
      .strictObject({
        timeout: duration.optional(),
        disableWait: z.boolean().optional(),
        disableWaitForJobs: z.boolean().optional(),
        disableHooks: z.boolean().optional(),
        recreate: z.boolean().optional(),
        force: z.boolean().optional(),
        cleanupOnFail: z.boolean().optional(),
        serverSideApply: serverSideApplyMode.optional(),
      })
      .optional(),
    uninstall: z
      .strictObject({
        timeout: duration.optional(),
        disableHooks: z.boolean().optional(),
        keepHistory: z.boolean().optional(),
        disableWait: z.boolean().optional(),
        deletionPropagation: z.enum(["background", "foreground", "orphan"]).optional(),
      })
      .optional(),
    waitStrategy: z.strictObject({ name: z.enum(["poller", "legacy"]) }).optional(),
    valuesFrom: z.array(valuesReference).optional(),
    // The CRD keeps any JSON here; helm-controller reads a map (GetValues) and silently drops anything else: refused.
    values: z.record(z.string(), z.unknown()).optional(),
    postRenderStrategy: z.enum(["nohooks", "combined", "separate"]).optional(),
    postRenderers: z
      .array(
        z.strictObject({
          kustomize: z
            .strictObject({
              patches: z.array(z.strictObject({ patch: z.string(), target: selector.optional() })).optional(),
              images: z
                .array(
                  z.strictObject({
                    name: z.string(),
                    newName: z.string().optional(),
                    newTag: z.string().optional(),
                    digest: z.string().optional(),
                  }),
                )
                .optional(),
            })
            .optional(),
        }),
      )
      .optional(),
    commonMetadata: metadata.optional(),
    healthCheckExprs: z
      .array(
        z.strictObject({
          apiVersion: z.string(),
          kind: z.string().optional(),
          current: z.string(),
          inProgress: z.string().optional(),
          failed: z.string().optional(),
        }),
      )
      .optional(),
  })
  .refine((s) => (s.chart === undefined) !== (s.chartRef === undefined), {
    message: "either chart or chartRef must be set",
  });

const timestamp = z.iso.datetime({ offset: true });

/** `status.history[]`: a snapshot of one Helm release version, newest first. */
const snapshot = z.strictObject({
  apiVersion: z.string().optional(),
  digest: z.string(),
  name: z.string(),
  namespace: z.string(),
  version: z.number().int(),
  status: z.string(),
  chartName: z.string(),
  chartVersion: z.string(),
  appVersion: z.string().optional(),
  configDigest: z.string(),
  firstDeployed: timestamp,
  lastDeployed: timestamp,
  deleted: timestamp.optional(),
  testHooks: z
    .record(
      z.string(),
      z.strictObject({
        lastStarted: timestamp.optional(),
        lastCompleted: timestamp.optional(),
        phase: z.string().optional(),
      }),
    )
    .optional(),
  ociDigest: z.string().optional(),
  action: z.string().optional(),
});
export type ReleaseSnapshot = z.infer<typeof snapshot>;

export const helmReleaseStatus = z.strictObject({
  ...commonStatus,
  observedPostRenderersDigest: z.string().optional(),
  observedCommonMetadataDigest: z.string().optional(),
  lastAttemptedGeneration: z.number().int().optional(),
  helmChart: z.string().optional(),
  storageNamespace: namespace.optional(),
  history: z.array(snapshot).optional(),
  lastAttemptedReleaseAction: z.enum(["install", "upgrade"]).optional(),
  lastAttemptedReleaseActionDuration: z.string().optional(),
  failures: z.number().int().optional(),
  installFailures: z.number().int().optional(),
  upgradeFailures: z.number().int().optional(),
  lastAttemptedRevision: z.string().optional(),
  lastAttemptedRevisionDigest: z.string().optional(),
  lastAttemptedValuesChecksum: z.string().optional(),
  lastAttemptedConfigDigest: z.string().optional(),
  lastReleaseRevision: z.number().int().optional(),
  lastHandledForceAt: z.string().optional(),
  lastHandledResetAt: z.string().optional(),
  inventory: kustomizationStatus.shape.inventory,
});

export const helmRelease = fluxObject(HELM_RELEASE_API_VERSION, "HelmRelease", helmReleaseSpec, helmReleaseStatus);
export type HelmRelease = z.infer<typeof helmRelease>;

/**
 * The CRD's defaults, filled in as Flux's API server does: the chart template's `version` `*`,
 * `reconcileStrategy` ChartVersion and `verify.provider` cosign; `uninstall.deletionPropagation` background.
 */
export function withHelmReleaseDefaults(hr: HelmRelease): HelmRelease {
  const { spec } = hr;
  const template = spec.chart?.spec;
  return {
    ...hr,
    spec: {
      ...spec,
      ...(spec.chart &&
        template && {
          chart: {
            ...spec.chart,
            spec: {
              ...template,
              version: template.version ?? DEFAULT_CHART_VERSION,
              reconcileStrategy: template.reconcileStrategy ?? DEFAULT_RECONCILE_STRATEGY,
              ...(template.verify && {
                verify: { ...template.verify, provider: template.verify.provider ?? DEFAULT_VERIFY_PROVIDER },
              }),
            },
          },
        }),
      ...(spec.uninstall && {
        uninstall: {
          ...spec.uninstall,
          deletionPropagation: spec.uninstall.deletionPropagation ?? DEFAULT_DELETION_PROPAGATION,
        },
      }),
    },
  };
}

type Named = Pick<HelmRelease, "kind" | "metadata" | "spec">;

/**
 * The Helm release name, as helm-controller gives it to Helm: `spec.releaseName`, else
 * `[targetNamespace-]name` (GetReleaseName), shortened by release.ShortenName when longer than Helm's 53.
 */
export function releaseNameOf(hr: Named): string {
  const { releaseName, targetNamespace } = hr.spec;
  return shortenReleaseName(releaseName ?? (targetNamespace ? `${targetNamespace}-` : "") + hr.metadata.name);
}

/**
 * helm-controller's release.ShortenName: a name over 53 bytes becomes its first 40 bytes, `-`, and the
 * first 12 hex digits of the SHA-256 of the whole name.
 */
export function shortenReleaseName(name: string): string {
  const bytes = Buffer.from(name);
  if (bytes.length <= RELEASE_NAME_MAX) return name;
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, RELEASE_NAME_HASH_LENGTH);
  return `${bytes.subarray(0, RELEASE_NAME_MAX - RELEASE_NAME_HASH_LENGTH - 1).toString()}-${hash}`;
}

/** The namespace the release's objects go to (GetReleaseNamespace): `spec.targetNamespace`, else the HelmRelease's. */
export function releaseNamespaceOf(hr: Named): string {
  return hr.spec.targetNamespace ?? namespaceOf(hr);
}

/** The namespace of Helm's release Secrets (GetStorageNamespace): `spec.storageNamespace`, else the HelmRelease's. */
export function storageNamespaceOf(hr: Named): string {
  return hr.spec.storageNamespace ?? namespaceOf(hr);
}

/**
 * The HelmChart helm-controller creates from `spec.chart` (GetHelmChartName, HelmChartTemplate.GetNamespace):
 * named `<namespace>-<name>`, in the namespace of the chart's source.
 */
export function helmChartOf(hr: Named): { namespace: string; name: string } {
  return {
    namespace: hr.spec.chart?.spec.sourceRef.namespace ?? namespaceOf(hr),
    name: helmChartNameOf(hr),
  };
}

/** GetHelmChartName: `<namespace>-<name>` of the HelmRelease. */
export function helmChartNameOf(hr: Named): string {
  return `${namespaceOf(hr)}-${hr.metadata.name}`;
}

/** The Helm actions whose `timeout` defaults to `spec.timeout`. */
export type HelmAction = "install" | "upgrade" | "test" | "rollback" | "uninstall";

/** GetTimeout: `spec.timeout`, else 5 minutes. */
export function timeoutMsOf(hr: Named): number {
  return hr.spec.timeout ? parseDuration(hr.spec.timeout) : DEFAULT_TIMEOUT_MS;
}

/** `Get<Action>().GetTimeout(GetTimeout())`: the action's own timeout, else the release's. */
export function actionTimeoutMsOf(hr: Named, action: HelmAction): number {
  const own = hr.spec[action]?.timeout;
  return own ? parseDuration(own) : timeoutMsOf(hr);
}

/** GetMaxHistory: `spec.maxHistory`, else 5 (0 keeps every version). */
export function maxHistoryOf(hr: Named): number {
  return hr.spec.maxHistory ?? DEFAULT_MAX_HISTORY;
}

/**
 * GetRetry + GetRetryInterval: the retry interval of an action whose strategy is `RetryOnFailure` (5 minutes
 * unless set), or undefined when failures are remediated (`RemediateOnFailure`, the default).
 */
export function retryIntervalMsOf(hr: Named, action: "install" | "upgrade"): number | undefined {
  const strategy = hr.spec[action]?.strategy;
  if (strategy?.name !== "RetryOnFailure") return undefined;
  return strategy.retryInterval ? parseDuration(strategy.retryInterval) : DEFAULT_RETRY_INTERVAL_MS;
}

/**
 * An action's remediation with the Go API's defaults (Install/UpgradeRemediation): `ignoreTestFailures`
 * falls back to `test.ignoreFailures`; an upgrade remediates its last failure when it has retries, and
 * rolls back unless told to uninstall; an install always uninstalls.
 */
export function remediationOf(
  hr: Named,
  action: "install" | "upgrade",
): { retries: number; ignoreTestFailures: boolean; remediateLastFailure: boolean; strategy: "rollback" | "uninstall" } {
  const remediation = hr.spec[action]?.remediation;
  const retries = remediation?.retries ?? 0;
  const upgradeStrategy = action === "upgrade" ? hr.spec.upgrade?.remediation?.strategy : undefined;
  return {
    retries,
    ignoreTestFailures: remediation?.ignoreTestFailures ?? hr.spec.test?.ignoreFailures ?? false,
    remediateLastFailure: remediation?.remediateLastFailure ?? (action === "upgrade" && retries > 0),
    strategy: action === "install" ? "uninstall" : (upgradeStrategy ?? "rollback"),
  };
}

function namespaceOf(hr: Named): string {
  return keyOf(hr).namespace;
}
