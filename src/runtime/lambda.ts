import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { DueIndex } from "../aws/due-index.js";
import { channelPrefixes } from "../aws/s3-bundle-channel.js";
import { sendFifoBatch, type SqsQueue } from "../aws/sqs-queue.js";
import { dispatch } from "../controllers/dispatch.js";
import { type ReconcilerPorts } from "../controllers/reconciler-ports.js";
import { awsDefaultSettings, defaultServiceAccountFrom } from "../controllers/settings.js";
import type { Events, FluxEvent } from "../notify/events.js";
import { handleDelivery, type HookResponse, type WebhookPorts } from "../notify/deliveries.js";
import type { ReconcileRequest } from "../queue/queue.js";
import { parseRenderLimits } from "../render/limits.js";
import { deliverQueued, type QueuedDeliveryOptions } from "../notify/queued-delivery.js";
import { PoisonNotificationError } from "../notify/queued-notification.js";
import { QueuedEvents } from "../aws/sqs-notify-events.js";
import { awsClients, awsRuntime, notifyPorts, webhookPorts, type AwsClients, type AwsConfig } from "./aws.js";
import { systemClock } from "../ports/clock.js";
import { powertoolsLog } from "../ports/log.js";
import type { ReconcileMetrics } from "../ports/metrics.js";
import { once } from "./once.js";

// What the three Lambda functions do, apart from their middy wiring (functions/*/handler.ts), so
// tests drive exactly this code the way Lambda's event sources would.

/** A message that can never be processed (not a reconcile request): left to fail into the DLQ. */
export class PoisonMessageError extends Error {
  override name = "PoisonMessageError";
}

/** The function's settings from its environment (the CDK app sets them). */
export function configFromEnv(env: NodeJS.ProcessEnv): AwsConfig {
  const need = (name: string) =>
    env[name] ??
    (() => {
      throw new Error(`environment variable ${name} is not set`);
    })();
  return {
    region: need("AWS_REGION"),
    bucket: need("SLUICE_BUCKET"),
    fifoUrl: need("SLUICE_QUEUE_URL"),
    delayUrl: need("SLUICE_DELAY_QUEUE_URL"),
    kmsKeyId: env.SLUICE_KMS_KEY_ID,
    cluster: env.SLUICE_CLUSTER ?? "",
    bundleKey: env.SLUICE_BUNDLE_KEY,
    deadLetterUrl: env.SLUICE_DEAD_LETTER_URL,
    notifyUrl: env.SLUICE_NOTIFY_QUEUE_URL,
    agentClusters: env.SLUICE_AGENT_CLUSTERS?.split(",").filter(Boolean),
    endpoint: env.SLUICE_AWS_ENDPOINT,
    settings: {
      noRemoteBases: !flag(env, "SLUICE_ALLOW_REMOTE_BASES", !awsDefaultSettings.noRemoteBases),
      allowPrivateNetworks: flag(env, "SLUICE_ALLOW_PRIVATE_NETWORKS", awsDefaultSettings.allowPrivateNetworks),
      allowCrossNamespaceReceivers: flag(
        env,
        "SLUICE_ALLOW_CROSS_NAMESPACE_RECEIVERS",
        awsDefaultSettings.allowCrossNamespaceReceivers,
      ),
      noCrossNamespaceRefs: flag(env, "SLUICE_NO_CROSS_NAMESPACE_REFS", awsDefaultSettings.noCrossNamespaceRefs),
      defaultServiceAccount: defaultServiceAccountFrom(
        env.SLUICE_DEFAULT_SERVICE_ACCOUNT,
        "environment variable SLUICE_DEFAULT_SERVICE_ACCOUNT",
      ),
      insecureKubeConfigTLS: flag(env, "SLUICE_INSECURE_KUBECONFIG_TLS", awsDefaultSettings.insecureKubeConfigTLS),
      renderLimits: parseRenderLimits(env.SLUICE_RENDER_LIMITS, "environment variable SLUICE_RENDER_LIMITS"),
    },
  };
}

/**
 * A boolean setting: unset is the AWS default, `false` is off, `true` is on, anything else is refused with its
 * name.
 */
function flag(env: NodeJS.ProcessEnv, name: string, unset: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === "") return unset;
  if (value === "false") return false;
  if (value === "true") return true;
  throw new Error(`environment variable ${name} must be 'true' or 'false', not '${value}'`);
}

/** Events on AWS: one structured log line each (CloudWatch), with the revision as correlation. */
export function logEvents(logger: Logger): Events {
  return { emit: async (event: FluxEvent) => logger.info("event", { event }) };
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

function parseRequest(body: string): ReconcileRequest {
  try {
    const request = JSON.parse(body) as ReconcileRequest;
    if (typeof request.key !== "string" || typeof request.reason !== "string") throw new Error("missing key or reason");
    return request;
  } catch (error) {
    throw new PoisonMessageError(`not a reconcile request: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The tick: on the schedule, moves what the due index holds for the past minutes into the FIFO
 * queue and reports each agent cluster's last contact; as the delay queue's consumer, forwards
 * delayed requests whose delay ran out.
 */
export async function handleTick(
  event: SQSEvent | { source?: string },
  clients: Pick<AwsClients, "s3" | "sqs">,
  config: AwsConfig,
  now: number,
  metrics?: Metrics,
): Promise<{ forwarded: number }> {
  const scheduled = !("Records" in event);
  const requests: ReconcileRequest[] = scheduled
    ? await new DueIndex(clients.s3, config.bucket).takeDue(now)
    : (event as SQSEvent).Records.map((r) => parseRequest(r.body));
  await sendFifoBatch(clients.sqs, config.fifoUrl, requests);
  if (scheduled && metrics) await reportAgentContact(clients.s3, config, metrics, now);
  return { forwarded: requests.length };
}

/**
 * `AgentLastContactAge` (seconds, by cluster) for each agent cluster, from when S3 stored its heartbeat (S3's clock:
 * an agent's own clock, or a forged lastContact, cannot make it look fresh). A cluster whose agent never wrote one
 * gets no figure, which its alarm counts as breaching.
 */
async function reportAgentContact(s3: S3Client, config: AwsConfig, metrics: Metrics, now: number): Promise<void> {
  for (const cluster of config.agentClusters ?? []) {
    const stored = await s3
      .send(new HeadObjectCommand({ Bucket: config.bucket, Key: `${channelPrefixes(cluster).status}agent.json` }))
      .then((head) => head.LastModified?.getTime())
      .catch((error: unknown) => {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
        throw error;
      });
    if (stored === undefined) continue;
    const single = metrics.singleMetric();
    single.addDimension("cluster", cluster);
    single.addMetric("AgentLastContactAge", MetricUnit.Seconds, Math.max(0, Math.round((now - stored) / 1000)));
  }
}

/** Size caps checked before the body is used; GitHub sends far less for a push. */
const MAX_BODY_BYTES = 1 << 20;
const MAX_HEADER_BYTES = 16 << 10;

/** The webhook: Flux Receiver semantics behind a Function URL / HTTP API; answers 202 once enqueued. */
export async function handleWebhook(
  request: {
    path: string;
    method: string;
    headers: Record<string, string | undefined>;
    body: string;
    isBase64Encoded: boolean;
  },
  ports: WebhookPorts,
): Promise<HookResponse> {
  if (request.method !== "POST" || !request.path.startsWith("/hook/")) return { status: 404, body: "not found\n" };
  const headerBytes = Object.entries(request.headers).reduce((n, [k, v]) => n + k.length + (v?.length ?? 0), 0);
  if (headerBytes > MAX_HEADER_BYTES) return { status: 431, body: "headers too large\n" };
  const declared = Number(request.headers["content-length"] ?? 0);
  if (
    declared > MAX_BODY_BYTES ||
    request.body.length > (request.isBase64Encoded ? (MAX_BODY_BYTES * 4) / 3 + 4 : MAX_BODY_BYTES)
  )
    return { status: 413, body: "payload too large\n" };
  const body = Buffer.from(request.body, request.isBase64Encoded ? "base64" : "utf8");
  return handleDelivery(ports, request.path, lowerCase(request.headers), body);
}

function lowerCase(headers: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
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

/** Builds (once per container) the webhook's ports: no Store, no Secrets Manager, no cluster. */
export function lazyWebhook(config: () => AwsConfig, logger: Logger): () => Promise<WebhookPorts> {
  return once(async () => webhookPorts(config(), powertoolsLog(logger)));
}

export interface NotifyDeps {
  delivery: QueuedDeliveryOptions;
  /** The notify queue, to hand a message back for later. */
  sqs: SQSClient;
  queueUrl: string;
  logger: Logger;
}

/** SQS's longest visibility timeout: 12 hours. */
const MAX_VISIBILITY_S = 43_200;

/**
 * The notify function: each record is one notification, delivered in parallel with the others (each
 * is its own FIFO message group, so none waits for another). A record whose endpoint asked to be
 * tried later goes back to the queue for the Retry-After it sent, or 30 s doubling per receive up to
 * 15 minutes; the queue dead-letters it after its maxReceiveCount. A body that is no notification is
 * made visible again at once, so it reaches the dead-letter queue in a few receives, not hours.
 */
export async function handleNotifyEvent(event: SQSEvent, deps: NotifyDeps): Promise<SQSBatchResponse> {
  return processPartialResponse(
    event,
    (record: SQSRecord) => notifyRecord(record, deps),
    new BatchProcessor(EventType.SQS),
    {
      throwOnFullBatchFailure: false,
    },
  );
}

async function notifyRecord(record: SQSRecord, deps: NotifyDeps): Promise<void> {
  let retryInS: number;
  try {
    const outcome = await deliverQueued(deps.delivery, record.body);
    if (!outcome.retry) return;
    const receives = Number(record.attributes.ApproximateReceiveCount ?? "1");
    retryInS =
      outcome.retry.afterMs !== undefined
        ? Math.ceil(outcome.retry.afterMs / 1_000)
        : Math.min(30 * 2 ** Math.max(0, receives - 1), 900);
  } catch (error) {
    if (!(error instanceof PoisonNotificationError)) throw error;
    deps.logger.error("poison notification: left to the dead-letter queue", {
      messageId: record.messageId,
      reason: error.message,
    });
    retryInS = 0;
  }
  await deps.sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: deps.queueUrl,
      ReceiptHandle: record.receiptHandle,
      VisibilityTimeout: Math.min(retryInS, MAX_VISIBILITY_S),
    }),
  );
  throw new Error(`notification ${record.messageId} comes back in ${retryInS}s`);
}

/** Builds (once per container) the notify function's dependencies: no cluster, no Jobs queue. */
export function lazyNotify(config: () => AwsConfig, logger: Logger): () => Promise<NotifyDeps> {
  return once(async () => {
    const resolved = config();
    if (!resolved.notifyUrl) throw new Error("environment variable SLUICE_NOTIFY_QUEUE_URL is not set");
    const { delivery, sqs } = notifyPorts(resolved, powertoolsLog(logger), logEvents(logger), systemClock);
    return { delivery, sqs, queueUrl: resolved.notifyUrl, logger };
  });
}
