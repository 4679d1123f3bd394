import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ChangeMessageVisibilityCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { awsClientOptions } from "../../aws/clients.js";
import { AwsNotificationPublisher } from "../../aws/notification-publisher.js";
import { notifySecrets } from "../../aws/notify-secrets.js";
import { S3HandledLog } from "../../aws/s3-handled-log.js";
import { S3Store } from "../../aws/s3-store.js";
import { awsDefaultSettings } from "../../controllers/settings.js";
import type { Events } from "../../notify/events.js";
import { deliverQueued, type QueuedDeliveryOptions } from "../../notify/queued-delivery.js";
import { PoisonNotificationError } from "../../notify/queued-notification.js";
import { systemClock, type Clock } from "../../ports/clock.js";
import { powertoolsLog, type Log } from "../../ports/log.js";
import { once } from "../once.js";
import { logEvents, type AwsConfig } from "./config.js";

// The notify function: delivers queued events to the Alerts' Providers, reaching no cluster.

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
