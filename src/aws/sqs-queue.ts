import { createHash, randomUUID } from "node:crypto";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EnqueueOptions, Queue, ReconcileRequest } from "../queue/queue.js";
import type { Clock } from "../ports/clock.js";
import { DueIndex } from "./due-index.js";
import { statusOf } from "./s3-store.js";

/** SQS's longest per-message delay (standard queues only; FIFO queues have none). */
const MAX_DELAY_MS = 900_000;

export interface SqsQueueOptions {
  /** The FIFO queue the worker consumes. */
  fifoUrl: string;
  /** A standard queue for delays up to 15 minutes; the tick function forwards due messages into the FIFO queue. */
  delayUrl: string;
  /** Bucket for the due index (longer delays) and the per-key schedule tickets. */
  bucket: string;
  clock: Clock;
}

/**
 * The Queue on SQS FIFO. MessageGroupId is the object key, so one object reconciles at a time and
 * different objects in parallel. MessageDeduplicationId hashes (key, reason, revision, trigger): a
 * burst of identical triggers collapses; a request without a trigger gets a unique id and is never
 * dropped. FIFO queues cannot delay one message, so a delayed requeue goes to a standard queue
 * (≤ 15 min, per-message DelaySeconds) or to the S3 due index (longer); the tick function moves
 * them into the FIFO queue when due. Each delayed requeue carries a ticket recorded per key, so a
 * schedule superseded by a later one (the object reconciled meanwhile) is recognised and skipped.
 */
export class SqsQueue implements Queue {
  private readonly due: DueIndex;
  constructor(
    private readonly sqs: SQSClient,
    private readonly s3: S3Client,
    private readonly options: SqsQueueOptions,
  ) {
    this.due = new DueIndex(s3, options.bucket);
  }

  async enqueue(request: ReconcileRequest, options: EnqueueOptions = {}): Promise<void> {
    const delayMs = options.delayMs ?? 0;
    if (delayMs < 1_000) return sendFifo(this.sqs, this.options.fifoUrl, request);
    const scheduled = { ...request, ticket: randomUUID(), trigger: `due@${this.options.clock.now() + delayMs}` };
    await this.writeTicket(request.key, scheduled.ticket);
    if (delayMs <= MAX_DELAY_MS) {
      await this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.options.delayUrl,
          MessageBody: JSON.stringify(scheduled),
          DelaySeconds: Math.ceil(delayMs / 1_000),
        }),
      );
    } else {
      await this.due.schedule(scheduled, this.options.clock.now() + delayMs);
    }
  }

  /** Whether a scheduled request is still the latest schedule for its key. */
  async isCurrent(request: ReconcileRequest): Promise<boolean> {
    if (!request.ticket) return true;
    try {
      const answer = await this.s3.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: ticketKey(request.key) }),
      );
      return (await answer.Body!.transformToString()) === request.ticket;
    } catch (error) {
      if (statusOf(error) === 404) return true;
      throw error;
    }
  }

  private async writeTicket(key: string, ticket: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: ticketKey(key), Body: ticket }));
  }
}

/** Sends requests to the FIFO queue ten per call (SQS's batch limit), as {@link sendFifo} would one by one. */
export async function sendFifoBatch(sqs: SQSClient, url: string, requests: ReconcileRequest[]): Promise<void> {
  const batches: ReconcileRequest[][] = [];
  for (let i = 0; i < requests.length; i += 10) batches.push(requests.slice(i, i + 10));
  // Batches go out a few at a time: a minute's due requests arrive in seconds, not one round trip
  // per ten. Order across batches does not matter: a superseded schedule is stale by its ticket.
  let next = 0;
  const sender = async () => {
    for (let batch = batches[next++]; batch; batch = batches[next++]) {
      const entries = batch.map((request, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify(request),
        MessageGroupId: request.key,
        MessageDeduplicationId: deduplicationId(request),
      }));
      const answer = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      if (answer.Failed?.length)
        throw new Error(
          `SQS refused ${answer.Failed.length} of ${entries.length} messages: ${answer.Failed[0]!.Message ?? answer.Failed[0]!.Code}`,
        );
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCHES_AT_ONCE, batches.length) }, sender));
}

const BATCHES_AT_ONCE = 8;

/** Sends one request to the FIFO queue with Sluice's group and deduplication ids. */
export async function sendFifo(sqs: SQSClient, url: string, request: ReconcileRequest): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: JSON.stringify(request),
      MessageGroupId: request.key,
      MessageDeduplicationId: deduplicationId(request),
    }),
  );
}

/** Same (key, reason, revision, trigger) → same id within SQS's 5-minute window; no trigger → unique. */
export function deduplicationId(request: ReconcileRequest): string {
  const identity =
    request.trigger === undefined
      ? randomUUID()
      : JSON.stringify([request.key, request.reason, request.revision ?? "", request.trigger]);
  return createHash("sha256").update(identity).digest("hex");
}

function ticketKey(key: string): string {
  return `schedule/${key}`;
}
