import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { lazyUiFunction, uiConfigFromEnv } from "../../src/runtime/lambda/ui.js";

// The web UI's API behind API Gateway's Cognito JWT authorizer (payload format 2.0), reached through the UI's
// CloudFront distribution.
const logger = new Logger({ serviceName: "sluice-ui" });
const ui = lazyUiFunction(() => uiConfigFromEnv(process.env), logger);

export const handler = middy(async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const answer = await (
    await ui()
  ).handle({
    method: event.requestContext.http.method,
    rawPath: event.rawPath,
    rawQueryString: event.rawQueryString,
    headers: event.headers,
    domainName: event.requestContext.domainName,
  });
  return { statusCode: answer.status, headers: answer.headers, body: answer.body };
}).use(injectLambdaContext(logger));
