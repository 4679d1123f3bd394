import type { Metrics } from "@aws-lambda-powertools/metrics";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SQSEvent } from "aws-lambda";
import { DueIndex } from "../../aws/due-index.js";
import { channelPrefixes } from "../../aws/s3-bundle-channel.js";
import { sendFifoBatch } from "../../aws/sqs-queue.js";
import type { ReconcileRequest } from "../../queue/queue.js";
import { parseRequest, type AwsConfig, type QueueClients } from "./config.js";

/**
 * The tick: on the schedule, moves what the due index holds for the past minutes into the FIFO
 * queue and reports each agent cluster's last contact; as the delay queue's consumer, forwards
 * delayed requests whose delay ran out.
 */
export async function handleTick(
  event: SQSEvent | { source?: string },
  clients: QueueClients,
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
