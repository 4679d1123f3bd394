import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { processPartialResponse, SqsFifoPartialProcessorAsync } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import { EKSClient } from "@aws-sdk/client-eks";
import { KMSClient } from "@aws-sdk/client-kms";
import { S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { hmacKey } from "../../agent/config.js";
import { awsClientOptions } from "../../aws/clients.js";
import { ecrLogin } from "../../aws/ecr.js";
import { EksAccess } from "../../aws/eks.js";
import { runtimeAwsIdentity } from "../../aws/identity.js";
import { kmsDataKeys, kmsSigner } from "../../aws/kms.js";
import { S3ArtifactStore } from "../../aws/s3-artifact-store.js";
import { S3BundleChannel } from "../../aws/s3-bundle-channel.js";
import { S3Dependents } from "../../aws/s3-dependents.js";
import { S3ReceiverIndex } from "../../aws/s3-receiver-index.js";
import { S3Store } from "../../aws/s3-store.js";
import { SecretsManagerSecrets } from "../../aws/secrets-manager.js";
import { QueuedEvents } from "../../aws/sqs-notify-events.js";
import { SqsQueue } from "../../aws/sqs-queue.js";
import { hmacSigner, keyIdFor, parseBundleKey, type BundleSigner } from "../../bundle/bundle.js";
import { openCluster, type Cluster } from "../../cluster/cluster.js";
import type { ClusterTarget } from "../../cluster/connect.js";
import { dispatch } from "../../controllers/dispatch.js";
import { RenderCache } from "../../controllers/kustomize/render-cache.js";
import type { ReconcilerPorts } from "../../controllers/reconciler-ports.js";
import { awsDefaultSettings } from "../../controllers/settings.js";
import type { Events } from "../../notify/events.js";
import { systemClock, type Clock } from "../../ports/clock.js";
import { powertoolsLog, type Log } from "../../ports/log.js";
import type { ReconcileMetrics } from "../../ports/metrics.js";
import type { ReconcileRequest } from "../../queue/queue.js";
import { resolveTools } from "../../render/tools.js";
import { KubeSecrets } from "../../secrets/kube-secrets.js";
import type { Secrets } from "../../secrets/secrets.js";
import { clusterFactory } from "../clusters.js";
import { once } from "../once.js";
import { strictStatusFromEnv } from "../strict-status.js";
import { logEvents, parseRequest, PoisonMessageError, type AwsConfig } from "./config.js";

// The worker function: reconciles what the FIFO queue delivers, with every port (Store, artifacts, secrets, the
// target cluster) on AWS.

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

export interface WorkerDeps {
  runtime: ReconcilerPorts & { queue: SqsQueue };
  metrics: Metrics;
  logger: Logger;
  /** Where a message that can never be processed goes at once (else: after maxReceiveCount redeliveries). */
  deadLetters?: { sqs: SQSClient; url: string };
}

/**
 * The worker: SQS FIFO records one by one (a failure fails the rest of its message group, so order
 * per object holds), partial batch response for the failures. Stale schedules are acknowledged
 * without work; a request is idempotent (state comes from the Store), so a redelivery is harmless.
 */
export async function handleWorkerEvent(event: SQSEvent, deps: WorkerDeps): Promise<SQSBatchResponse> {
  const processor = new SqsFifoPartialProcessorAsync();
  return processPartialResponse(event, (record: SQSRecord) => reconcileRecord(record, deps), processor, {
    skipGroupOnError: true,
    throwOnFullBatchFailure: false,
  });
}

async function reconcileRecord(
  record: SQSRecord,
  { runtime, metrics, logger, deadLetters }: WorkerDeps,
): Promise<void> {
  let request: ReconcileRequest;
  logger.appendKeys({ correlation_id: record.messageId }); // until the request names its object
  try {
    request = parseRequest(record.body);
  } catch (error) {
    if (!(error instanceof PoisonMessageError) || !deadLetters) throw error;
    // Straight to the dead-letter queue: redelivering it would only hold up its message group.
    const group = record.attributes.MessageGroupId ?? "poison";
    await deadLetters.sqs.send(
      new SendMessageCommand({
        QueueUrl: deadLetters.url,
        MessageBody: record.body,
        MessageGroupId: group,
        MessageDeduplicationId: record.messageId,
      }),
    );
    logger.error("poison message moved to the dead-letter queue", {
      messageId: record.messageId,
      group,
      reason: error.message,
    });
    return;
  }
  logger.appendKeys({ correlation_id: `${request.key}${request.revision ? `@${request.revision}` : ""}` });
  if (!(await runtime.queue.isCurrent(request))) {
    logger.info("superseded schedule skipped", { key: request.key, reason: request.reason });
    return;
  }
  // One EMF record per reconcile: the dispatcher's figures (emfMetrics), then what only the outcome tells.
  try {
    const outcome = await dispatch({ ...runtime, metrics: emfMetrics(metrics) }, request);
    if (outcome?.applied) metrics.addMetric("ObjectsApplied", MetricUnit.Count, outcome.applied);
    if (outcome?.event?.message.startsWith("drift corrected"))
      metrics.addMetric("DriftCorrected", MetricUnit.Count, outcome.event.message.split("\n").length - 1);
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

/**
 * The dispatcher's figures as EMF (namespace `Sluice`), what `sluice run` exports to Prometheus: `Reconciles`
 * (controller_runtime_reconcile_total), `ReconcileErrors` (…_errors_total; 0 on success, so alarms see data) and
 * `ReconcileDuration` (gotk_reconcile_duration_seconds, in ms), by kind and result and for all kinds (what the
 * alarms watch; the dashboard sums a kind's results with SEARCH). A key in two dimension sets draws a warning from
 * Powertools on every record, hence no set by kind alone. The object's name and namespace ride along as metadata for
 * Logs Insights, never as dimensions (a metric per object would cost per object).
 */
export function emfMetrics(metrics: Metrics): ReconcileMetrics {
  return {
    reconciled: ({ object, durationMs, result }) => {
      metrics.addDimensions({ kind: object.kind, result }).addDimensions({});
      metrics.addMetadata("name", object.metadata.name);
      metrics.addMetadata("namespace", object.metadata.namespace ?? "");
      metrics.addMetric("ReconcileDuration", MetricUnit.Milliseconds, durationMs);
      metrics.addMetric("Reconciles", MetricUnit.Count, 1);
      metrics.addMetric("ReconcileErrors", MetricUnit.Count, result === "error" ? 1 : 0);
    },
  };
}

/** Builds (once per container) the runtime a function needs. */
export function lazyRuntime(
  config: () => AwsConfig,
  logger: Logger,
): () => Promise<{ runtime: ReconcilerPorts & { queue: SqsQueue }; clients: AwsClients; config: AwsConfig }> {
  return once(async () => {
    const resolved = config();
    const clients = awsClients(resolved);
    const log = powertoolsLog(logger);
    const events = resolved.notifyUrl
      ? new QueuedEvents(logEvents(logger), clients.sqs, resolved.notifyUrl, log)
      : logEvents(logger);
    const runtime = await awsRuntime(resolved, clients, log, events, systemClock);
    return { runtime, clients, config: resolved };
  });
}
