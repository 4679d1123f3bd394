import type { KMSClient } from "@aws-sdk/client-kms";
import type { ClusterConnection } from "../api/cluster.js";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Cluster } from "../cluster/cluster.js";
import type { Events } from "../notify/events.js";
import type { ReceiverIndex } from "../notify/receiver-index.js";
import type { Queue } from "../queue/queue.js";
import { defaultRenderLimits, type RenderLimits } from "../render/limits.js";
import type { RenderTools } from "../render/tools.js";
import type { Clock } from "../runtime/clock.js";
import type { Log } from "../runtime/log.js";
import type { Secrets } from "../secrets/secrets.js";
import type { Store } from "../store/store.js";
import type { AgentPlane } from "./agent-delivery.js";
import type { DependentsIndex } from "./dependents.js";

/** Which cluster, as whom: Flux's `kubeConfig.secretRef` and `serviceAccountName`. */
export interface ClusterRequest {
  /** The Kustomization's namespace: where its secrets and service account live. */
  namespace: string;
  kubeConfig?: { secretName: string; key?: string };
  serviceAccountName?: string;
  /** A kubeconfig from `kubeConfig.secretRef` may skip TLS verification (`--insecure-kubeconfig-tls`); refused when unset. */
  insecureKubeConfigTLS?: boolean;
  /** The registered cluster it targets (`sluice.dev/cluster`), when its registration says how to reach it. */
  cluster?: { name: string } & ClusterConnection;
}

/** Everything a reconciler reaches the world through; Lambda and local mode pass different adapters. */
export interface Runtime {
  store: Store;
  queue: Queue;
  artifacts: ArtifactStore;
  secrets: Secrets;
  events: Events;
  clock: Clock;
  log: Log;
  tools: RenderTools;
  /** Scratch space for checkouts and extracted artifacts; each reconcile uses its own sub-folder. */
  workDir: string;
  /** The cluster to apply to (connections cached by the adapter). */
  cluster(request: ClusterRequest): Promise<Cluster>;
  settings: Settings;
  /** Who uses or depends on whom, for waking dependents without listing the Store. */
  dependents: DependentsIndex;
  /** Receivers by webhook path, published by the Receiver reconcile for the webhook to verify against. */
  receivers: ReceiverIndex;
  /** AWS KMS for SOPS files encrypted to a KMS key (the runtime's own credentials); absent: age keys only. */
  sopsKms?: KMSClient;
  /** Signing and publishing bundles for agent clusters; absent where there is no bundle channel (local mode). */
  agents?: AgentPlane;
}

/** Operator settings, the same names as the flags of Flux's controllers where one exists. */
export interface Settings {
  /** Refuse kustomize remote bases (`--no-remote-bases`). @default false locally (as Flux), true on AWS */
  noRemoteBases: boolean;
  /** Undefined variables without a default are errors. Flux's StrictPostBuildSubstitutions; on by default in Sluice. @default true */
  strictSubstitution: boolean;
  /** First pause between health checks of a rollout; later pauses grow to half the time waited (at most 10 s). @default 1_000 */
  healthPollMs: number;
  /** Requeue delay while a dependency is not ready (`--requeue-dependency`); dependencies also wake dependents at once. @default 30_000 */
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
  /** Kubeconfigs from `kubeConfig.secretRef` may set insecure-skip-tls-verify (`--insecure-kubeconfig-tls`). @default false */
  insecureKubeConfigTLS: boolean;
}

export const defaultSettings: Settings = {
  noRemoteBases: false,
  strictSubstitution: true,
  healthPollMs: 1_000,
  dependencyRequeueMs: 30_000,
  renderLimits: defaultRenderLimits,
  allowPrivateNetworks: true,
  allowCrossNamespaceReceivers: false,
  noCrossNamespaceRefs: false,
  insecureKubeConfigTLS: false,
};

/** A defaultServiceAccount as given by `source` (a flag, an env var), checked to be a service account name. */
export function defaultServiceAccountFrom(value: string | undefined, source: string): string | undefined {
  if (!value) return undefined;
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value))
    throw new Error(`${source}: '${value}' is not a service account name (lowercase DNS-1123)`);
  return value;
}

/** On AWS the worker runs inside the account's network: remote bases and private addresses are opt-in. */
export const awsDefaultSettings: Settings = { ...defaultSettings, noRemoteBases: true, allowPrivateNetworks: false };
