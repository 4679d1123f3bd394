import type { Logger } from "@aws-lambda-powertools/logger";
import { S3DeliveryLog } from "../../aws/s3-delivery-log.js";
import { S3ReceiverIndex } from "../../aws/s3-receiver-index.js";
import { sendFifo } from "../../aws/sqs-queue.js";
import { handleDelivery, type HookResponse, type WebhookPorts } from "../../notify/deliveries.js";
import { powertoolsLog, type Log } from "../../ports/log.js";
import { once } from "../once.js";
import { queueClients, type AwsConfig, type QueueClients } from "./config.js";

// The webhook function: Flux Receiver paths. It reads one receiver record and enqueues: no Store, no Secrets
// Manager, no cluster, none of the reconcilers.

/** What the webhook function runs with: it reads the receiver index, records delivery ids, and enqueues. */
export function webhookPorts(
  config: AwsConfig,
  log: Log,
  { s3, sqs }: QueueClients = queueClients(config),
): WebhookPorts {
  // Deliveries are never delayed, so the FIFO queue alone will do (no schedule tickets, no due index).
  return {
    receivers: new S3ReceiverIndex(s3, config.bucket),
    deliveries: new S3DeliveryLog(s3, config.bucket),
    queue: { enqueue: (request) => sendFifo(sqs, config.fifoUrl, request) },
    log,
  };
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

/** Builds (once per container) the webhook's ports: no Store, no Secrets Manager, no cluster. */
export function lazyWebhook(config: () => AwsConfig, logger: Logger): () => Promise<WebhookPorts> {
  return once(async () => webhookPorts(config(), powertoolsLog(logger)));
}
