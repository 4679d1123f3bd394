import { isDnsSubdomain } from "../api/dns-names.js";
import { defaultRenderLimits, type RenderLimits } from "../render/limits.js";

/** Operator settings, the same names as the flags of Flux's controllers where one exists. */
export interface Settings {
  /** Refuse kustomize remote bases (`--no-remote-bases`). @default false locally (as Flux), true on AWS */
  noRemoteBases: boolean;
  /**
   * Undefined variables without a default are errors. Flux's StrictPostBuildSubstitutions; on by default in Sluice.
   * @default true
   */
  strictSubstitution: boolean;
  /**
   * First pause between health checks of a rollout; later pauses grow to half the time waited (at most 10 s).
   * Short, because most rollouts on a healthy cluster finish within a second of the apply (Helm's watcher sees
   * them at once); the pauses grow by half each time, so a slow rollout costs few extra checks. On AWS the queue's
   * delays are whole seconds, so the first checks there come a second apart.
   * @default 250
   */
  healthPollMs: number;
  /**
   * Requeue delay while a dependency is not ready (`--requeue-dependency`); dependencies also wake dependents at
   * once. @default 30_000
   */
  dependencyRequeueMs: number;
  /** Bounds on time, file size, documents and output of one render. */
  renderLimits: RenderLimits;
  /**
   * Sources may be fetched from loopback and private addresses (RFC 1918, RFC 4193, CGNAT).
   * Link-local and cloud metadata addresses are refused regardless. @default true locally, false on AWS
   */
  allowPrivateNetworks: boolean;
  /** A Receiver may trigger objects outside its own namespace (never with noCrossNamespaceRefs). @default false */
  allowCrossNamespaceReceivers: boolean;
  /** sourceRef and dependsOn stay in the object's namespace (`--no-cross-namespace-refs`). @default false */
  noCrossNamespaceRefs: boolean;
  /**
   * Kustomizations without `serviceAccountName` impersonate this service account of their own namespace, for apply and
   * for registering Flux objects (`--default-service-account`). @default undefined: the control plane's own identity
   */
  defaultServiceAccount?: string;
  /**
   * Kubeconfigs from `kubeConfig.secretRef` may set insecure-skip-tls-verify (`--insecure-kubeconfig-tls`).
   * @default false
   */
  insecureKubeConfigTLS: boolean;
  /**
   * A status that breaks Flux's condition invariants (statusViolations) fails its reconcile instead of being logged
   * and written; the test suite turns it on with SLUICE_STRICT_STATUS=1. @default false
   */
  strictStatus: boolean;
  /**
   * The longest one reconcile waits for a Helm hook or test Pod/Job to finish: the only wait inside a
   * reconcile, kept within what a worker may spend (the Lambda worker's limit is 5 minutes).
   * @default 10 minutes locally, 3 minutes on AWS
   */
  hookBudgetMs: number;
}

export const defaultSettings: Settings = {
  noRemoteBases: false,
  strictSubstitution: true,
  healthPollMs: 250,
  dependencyRequeueMs: 30_000,
  renderLimits: defaultRenderLimits,
  allowPrivateNetworks: true,
  allowCrossNamespaceReceivers: false,
  noCrossNamespaceRefs: false,
  insecureKubeConfigTLS: false,
  strictStatus: false,
  hookBudgetMs: 10 * 60_000,
};

/** A defaultServiceAccount as given by `source` (a flag, an env var), checked to be a service account name. */
export function defaultServiceAccountFrom(value: string | undefined, source: string): string | undefined {
  if (!value) return undefined;
  if (!isDnsSubdomain(value))
    throw new Error(`${source}: '${value}' is not a service account name (lowercase DNS-1123)`);
  return value;
}

/** On AWS the worker runs inside the account's network: remote bases and private addresses are opt-in. */
export const awsDefaultSettings: Settings = {
  ...defaultSettings,
  noRemoteBases: true,
  allowPrivateNetworks: false,
  hookBudgetMs: 3 * 60_000,
};
