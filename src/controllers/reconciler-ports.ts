import type { Settings } from "./settings.js";
import type { RenderCache } from "./kustomize/render-cache.js";
import type { ClusterConnection } from "../api/cluster.js";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { Cluster } from "../cluster/cluster.js";
import type { Events } from "../notify/events.js";
import type { ReceiverIndex } from "../notify/receiver-index.js";
import type { Queue } from "../queue/queue.js";
import type { RenderTools } from "../render/tools.js";
import type { Clock } from "../ports/clock.js";
import type { Log } from "../ports/log.js";
import type { Secrets } from "../secrets/secrets.js";
import type { Store } from "../store/store.js";
import type { AgentPlane } from "../bundle/channel.js";
import type { DependentsIndex } from "../ports/dependents.js";
import type { DataKeyDecrypter } from "../ports/data-keys.js";
import type { RegistryLogin } from "../ports/registry-login.js";
import type { AwsIdentity } from "../ports/aws-identity.js";
import type { ReconcileMetrics } from "../ports/metrics.js";

/** Which cluster, as whom: Flux's `kubeConfig.secretRef` and `serviceAccountName`. */
export interface ClusterRequest {
  /** The Kustomization's namespace: where its secrets and service account live. */
  namespace: string;
  kubeConfig?: { secretName: string; key?: string };
  serviceAccountName?: string;
  /**
   * A kubeconfig from `kubeConfig.secretRef` may skip TLS verification (`--insecure-kubeconfig-tls`); refused when
   * unset.
   */
  insecureKubeConfigTLS?: boolean;
  /** The registered cluster it targets (`sluice.dev/cluster`), when its registration says how to reach it. */
  cluster?: { name: string } & ClusterConnection;
}

/** Everything a reconciler reaches the world through; Lambda and local mode pass different adapters. */
export interface ReconcilerPorts {
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
  dataKeys?: DataKeyDecrypter;
  /** Registry credentials from the runtime's cloud identity (OCIRepository `provider: aws`); absent: none. */
  registryLogin?: RegistryLogin;
  /** The runtime's AWS credentials (Bucket `provider: aws` without a secretRef); absent: none. */
  awsIdentity?: AwsIdentity;
  /** Renders and extractions kept between reconciles of this process. */
  renders: RenderCache;
  /** Where each reconcile's duration and result go (Prometheus locally, EMF on Lambda); absent: not measured. */
  metrics?: ReconcileMetrics;
  /** Signing and publishing bundles for agent clusters; absent where there is no bundle channel (local mode). */
  agents?: AgentPlane;
}
