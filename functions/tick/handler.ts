import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import type { SQSEvent } from "aws-lambda";
import { configFromEnv, queueClients } from "../../src/runtime/lambda/config.js";
import { handleTick } from "../../src/runtime/lambda/tick.js";

// Tick: every minute (EventBridge) moves due requeues into the FIFO queue; as the delay queue's
// consumer, forwards delayed requeues; reports agent clusters' last contact (EMF). Needs no cluster access.
const logger = new Logger({ serviceName: "sluice-tick" });
const metrics = new Metrics({ namespace: "Sluice", serviceName: "sluice-tick" });
const config = configFromEnv(process.env);
const clients = queueClients(config);

export const handler = middy(async (event: SQSEvent | { source?: string }) => {
  const result = await handleTick(event, clients, config, Date.now(), metrics);
  logger.info("forwarded", result);
  return result;
}).use(injectLambdaContext(logger));
