import type { KMSClient } from "@aws-sdk/client-kms";
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
  /** A Receiver may trigger objects outside its own namespace. @default false */
  allowCrossNamespaceReceivers: boolean;
}

export const defaultSettings: Settings = {
  noRemoteBases: false,
  strictSubstitution: true,
  healthPollMs: 1_000,
  dependencyRequeueMs: 30_000,
  renderLimits: defaultRenderLimits,
  allowPrivateNetworks: true,
  allowCrossNamespaceReceivers: false,
};

/** On AWS the worker runs inside the account's network: remote bases and private addresses are opt-in. */
export const awsDefaultSettings: Settings = { ...defaultSettings, noRemoteBases: true, allowPrivateNetworks: false };
