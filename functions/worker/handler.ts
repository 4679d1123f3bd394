import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { configFromEnv } from "../../src/runtime/lambda/config.js";
import { handleWorkerEvent, lazyRuntime } from "../../src/runtime/lambda/worker.js";

// Worker: reconciles what the SQS FIFO queue delivers (ReportBatchItemFailures on the event source).
const logger = new Logger({ serviceName: "sluice-worker" });
const metrics = new Metrics({ namespace: "Sluice", serviceName: "sluice-worker" });
const runtime = lazyRuntime(() => configFromEnv(process.env), logger);

export const handler = middy(async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const { runtime: built, clients, config } = await runtime();
  return handleWorkerEvent(event, {
    runtime: built,
    metrics,
    logger,
    deadLetters: config.deadLetterUrl ? { sqs: clients.sqs, url: config.deadLetterUrl } : undefined,
  });
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
