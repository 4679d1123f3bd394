import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { EKSClient } from "@aws-sdk/client-eks";
import { KMSClient } from "@aws-sdk/client-kms";
import { S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { hmacSigner, keyIdFor, parseBundleKey, type BundleSigner } from "../bundle/bundle.js";
import { awsClientOptions } from "../aws/clients.js";
import { ecrLogin } from "../aws/ecr.js";
import { runtimeAwsIdentity } from "../aws/identity.js";
import { kmsDataKeys, kmsSigner } from "../aws/kms.js";
import { hmacKey } from "../agent/config.js";
import { EksAccess } from "../aws/eks.js";
import { S3ArtifactStore } from "../aws/s3-artifact-store.js";
import { S3BundleChannel } from "../aws/s3-bundle-channel.js";
import { S3Dependents } from "../aws/s3-dependents.js";
import { S3DeliveryLog } from "../aws/s3-delivery-log.js";
import { S3ReceiverIndex } from "../aws/s3-receiver-index.js";
import { S3Store } from "../aws/s3-store.js";
import { S3HandledLog } from "../aws/s3-handled-log.js";
import { notifySecrets } from "../aws/notify-secrets.js";
import { AwsNotificationPublisher } from "../aws/notification-publisher.js";
import type { QueuedDeliveryOptions } from "../notify/queued-delivery.js";
import { SecretsManagerSecrets } from "../aws/secrets-manager.js";
import { sendFifo, SqsQueue } from "../aws/sqs-queue.js";
import { openCluster, type Cluster } from "../cluster/cluster.js";
import type { ClusterTarget } from "../cluster/connect.js";
import { type ReconcilerPorts } from "../controllers/reconciler-ports.js";
import { awsDefaultSettings, type Settings } from "../controllers/settings.js";
import type { WebhookPorts } from "../notify/deliveries.js";
import type { Events } from "../notify/events.js";
import { resolveTools } from "../render/tools.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import type { Secrets } from "../secrets/secrets.js";
import type { Clock } from "../ports/clock.js";
import { clusterFactory } from "./clusters.js";
import { strictStatusFromEnv } from "./strict-status.js";
import type { Log } from "../ports/log.js";
import { once } from "./once.js";
import { RenderCache } from "../controllers/kustomize/render-cache.js";

/** Where the serverless runtime keeps things; read from the function's environment by the handlers. */
export interface AwsConfig {
  region: string;
  bucket: string;
  fifoUrl: string;
  delayUrl: string;
  /** KMS key for artifacts (SSE-KMS); SSE-S3 without. */
  kmsKeyId?: string;
  /**
   * The cluster reconcilers apply to: `eks:<cluster name>` or `kubeconfig:<Secrets Manager secret id>`; empty when
   * every target is an agent cluster or a kubeConfig.secretRef.
   */
  cluster: string;
  /** The FIFO dead-letter queue: poison messages go there at once. */
  deadLetterUrl?: string;
  /** The notify function's FIFO queue: the worker puts events there; without it, events are only logged. */
  notifyUrl?: string;
  /**
   * How bundles for agent clusters are signed: `kms:<asymmetric key id>` or `hmac:<secret id with {cluster}>` (one
   * key per cluster); no agent clusters without.
   */
  bundleKey?: string;
  /** Clusters served by a pull agent, whose last contact the tick reports (`AgentLastContactAge`). */
  agentClusters?: string[];
  /** For tests against an emulator: one endpoint for every AWS service. */
  endpoint?: string;
  credentials?: AwsCredentialIdentityProvider;
  settings?: Partial<Settings>;
}

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  secretsManager: SecretsManagerClient;
  kms: KMSClient;
  sts: STSClient;
}

export function awsClients(config: AwsConfig): AwsClients {
  const common = awsClientOptions(config);
  const secretsManager = new SecretsManagerClient(common);
  return {
    s3: new S3Client(common),
    sqs: new SQSClient(common),
    secretsManager,
    kms: new KMSClient(common),
    sts: new STSClient(common),
  };
}

/**
 * The reconcilers' ports on AWS: the Store and artifacts in S3, the queue on SQS FIFO, secrets
 * from Secrets Manager (falling back to the target cluster's Secrets), the target cluster through
 * EKS IAM or a kubeconfig held in Secrets Manager. Built once per Lambda container.
 */
export async function awsRuntime(
  config: AwsConfig,
  clients: AwsClients,
  log: Log,
  events: Events,
  clock: Clock,
): Promise<ReconcilerPorts & { queue: SqsQueue }> {
  // Connected on first use, so a function that never needs the cluster (the webhook, mostly) never
  // reaches it. Without SLUICE_CLUSTER the control plane serves agent clusters (and
  // kubeConfig.secretRef ones) only.
  const eks = eksAccess(config, clients, clock);
  const cluster = config.cluster
    ? once(async () => openCluster(await clusterTarget(config, clients, eks), clock))
    : undefined;
  const secrets = new SecretsManagerSecrets(clients.secretsManager, cluster && lazySecrets(cluster));
  const workDir = "/tmp/sluice";
  await mkdir(workDir, { recursive: true });
  return {
    store: new S3Store(clients.s3, config.bucket),
    queue: new SqsQueue(clients.sqs, clients.s3, {
      fifoUrl: config.fifoUrl,
      delayUrl: config.delayUrl,
      bucket: config.bucket,
      clock,
    }),
    artifacts: new S3ArtifactStore(clients.s3, config.bucket, { kmsKeyId: config.kmsKeyId }),
    secrets,
    events,
    clock,
    log,
    tools: await resolveTools({ cacheDir: join(workDir, "cache") }),
    workDir,
    cluster: clusterFactory(cluster, secrets, clock, { eks }),
    settings: { ...awsDefaultSettings, strictStatus: strictStatusFromEnv(), ...config.settings },
    dependents: new S3Dependents(clients.s3, config.bucket),
    renders: new RenderCache(),
    receivers: new S3ReceiverIndex(clients.s3, config.bucket, config.kmsKeyId),
    dataKeys: kmsDataKeys(clients.kms),
    registryLogin: ecrLogin(config, clock),
    awsIdentity: runtimeAwsIdentity(config),
    agents: config.bundleKey
      ? {
          signer: bundleSigners(config.bundleKey, clients),
          outbox: (name) => new S3BundleChannel(clients.s3, config.bucket, name, config.kmsKeyId),
        }
      : undefined,
  };
}

/** The cluster's Secrets and ConfigMaps, connecting when first asked. */
function lazySecrets(cluster: () => Promise<Cluster>): Secrets {
  const kube = once(async () => new KubeSecrets((await cluster()).client));
  return { secret: async (ref) => (await kube()).secret(ref), configMap: async (ref) => (await kube()).configMap(ref) };
}

/**
 * The signer of each target cluster's bundles. The setting is checked at start-up; an HMAC key (one
 * per cluster) is fetched only when that cluster's first bundle is signed (the webhook and tick never sign).
 */
function bundleSigners(bundleKey: string, clients: AwsClients): (cluster: string) => BundleSigner {
  const key = parseBundleKey(bundleKey, "SLUICE_BUNDLE_KEY");
  if (key.kind === "kms") return (cluster) => kmsSigner(clients.kms, keyIdFor(key, cluster));
  const signers = new Map<string, () => Promise<BundleSigner>>();
  return (cluster) => {
    const id = keyIdFor(key, cluster);
    if (!signers.has(id))
      signers.set(
        id,
        once(async () => hmacSigner(id, await hmacKey(clients.secretsManager, id))),
      );
    const signer = signers.get(id)!;
    return { sign: async (digest) => (await signer()).sign(digest) };
  };
}

/** EKS clusters as the worker's role, or as a role it assumes (a registration's `spec.eks.roleArn`). */
function eksAccess(config: AwsConfig, clients: AwsClients, clock: Clock): EksAccess {
  const credentials = config.credentials ?? clients.s3.config.credentials;
  const eksClient = (region: string, identity: AwsCredentialIdentityProvider) =>
    new EKSClient({ ...awsClientOptions(config), region, credentials: identity });
  const stsEndpoint = config.endpoint ? () => config.endpoint! : undefined;
  return new EksAccess({ region: config.region, credentials, sts: clients.sts, eksClient, clock, stsEndpoint });
}

async function clusterTarget(config: AwsConfig, clients: AwsClients, eks: EksAccess): Promise<ClusterTarget> {
  const [kind, name] = splitOnce(config.cluster);
  if (kind === "eks") {
    // EksAccess caches the token below its 15-minute life; asking per request keeps a warm container's client valid.
    const { server, caPem } = await eks.target({ name });
    return { server, caPem, tokenSource: async () => (await eks.target({ name })).token };
  }
  if (kind === "kubeconfig") {
    // The secret holds the kubeconfig itself, or a JSON object with it under `value`.
    const answer = await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: name }));
    const text = answer.SecretString ?? "";
    const kubeconfig = text.trimStart().startsWith("{") ? (JSON.parse(text) as { value?: string }).value : text;
    if (!kubeconfig) throw new Error(`SLUICE_CLUSTER kubeconfig:${name}: the secret holds no kubeconfig`);
    return { kubeconfig };
  }
  throw new Error(`SLUICE_CLUSTER '${config.cluster}': expected eks:<cluster name> or kubeconfig:<secret id>`);
}

function splitOnce(text: string): [string, string] {
  const at = text.indexOf(":");
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

/**
 * What the notify function runs with: the Store (Alerts, Providers, an object's labels), the handled log,
 * Secrets Manager secrets tagged for it (no cluster fallback: it reaches no cluster), SNS and EventBridge, and SQS
 * to hand a message back for later. The settings are the worker's (network policy, cross-namespace refs).
 */
export function notifyPorts(
  config: AwsConfig,
  log: Log,
  recorded: Events,
  clock: Clock,
): { delivery: QueuedDeliveryOptions; sqs: SQSClient } {
  const options = awsClientOptions(config);
  const s3 = new S3Client(options);
  const settings = { ...awsDefaultSettings, ...config.settings };
  return {
    delivery: {
      store: new S3Store(s3, config.bucket),
      secrets: notifySecrets(new SecretsManagerClient(options)),
      clock,
      log,
      network: { allowPrivateNetworks: settings.allowPrivateNetworks },
      noCrossNamespaceRefs: settings.noCrossNamespaceRefs,
      recorded,
      publisher: new AwsNotificationPublisher(config),
      deferRetryAfter: true,
      maxTimeoutMs: NOTIFY_POST_LIMIT_MS,
      handled: new S3HandledLog(s3, config.bucket),
    },
    sqs: new SQSClient(options),
  };
}

/** One delivery, retries included, ends within this, well inside the notify function's 2-minute timeout. */
const NOTIFY_POST_LIMIT_MS = 60_000;

/** The only clients the webhook function has: no Secrets Manager, no EKS, no KMS. */
export interface WebhookClients {
  s3: S3Client;
  sqs: SQSClient;
}

export function webhookClients(config: AwsConfig): WebhookClients {
  return { s3: new S3Client(awsClientOptions(config)), sqs: new SQSClient(awsClientOptions(config)) };
}

/** What the webhook function runs with: it reads the receiver index, records delivery ids, and enqueues. */
export function webhookPorts(
  config: AwsConfig,
  log: Log,
  { s3, sqs }: WebhookClients = webhookClients(config),
): WebhookPorts {
  // Deliveries are never delayed, so the FIFO queue alone will do (no schedule tickets, no due index).
  return {
    receivers: new S3ReceiverIndex(s3, config.bucket),
    deliveries: new S3DeliveryLog(s3, config.bucket),
    queue: { enqueue: (request) => sendFifo(sqs, config.fifoUrl, request) },
    log,
  };
}
