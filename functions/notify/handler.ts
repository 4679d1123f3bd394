import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { configFromEnv } from "../../src/runtime/lambda/config.js";
import { handleNotifyEvent, lazyNotify } from "../../src/runtime/lambda/notify.js";

// Notify: delivers the events the worker queued to the Alerts that take them (ReportBatchItemFailures).
const logger = new Logger({ serviceName: "sluice-notify" });
const deps = lazyNotify(() => configFromEnv(process.env), logger);

export const handler = middy(async (event: SQSEvent): Promise<SQSBatchResponse> =>
  handleNotifyEvent(event, await deps()),
).use(injectLambdaContext(logger, { resetKeys: true }));
