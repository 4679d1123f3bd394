import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { configFromEnv } from "../../src/runtime/lambda/config.js";
import { handleWebhook, lazyWebhook } from "../../src/runtime/lambda/webhook.js";

// Webhook: Flux Receiver paths behind a Lambda Function URL (payload format 2.0).
const logger = new Logger({ serviceName: "sluice-webhook" });
const ports = lazyWebhook(() => configFromEnv(process.env), logger);

export const handler = middy(async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const request = {
    path: event.rawPath,
    method: event.requestContext.http.method,
    headers: event.headers,
    body: event.body ?? "",
    isBase64Encoded: event.isBase64Encoded,
  };
  const answer = await handleWebhook(request, await ports());
  return { statusCode: answer.status, body: answer.body, headers: { "content-type": "text/plain" } };
}).use(injectLambdaContext(logger));
