import type { Logger } from "@aws-lambda-powertools/logger";
import type { JWTVerifyGetKey } from "jose";
import { cognitoKeys, verifyAccessToken, type CognitoAudience } from "../../aws/cognito-token.js";
import { S3Store } from "../../aws/s3-store.js";
import { QueuedEvents } from "../../aws/sqs-notify-events.js";
import { sendFifo } from "../../aws/sqs-queue.js";
import { formatKey } from "../../api/object-key.js";
import { systemClock } from "../../ports/clock.js";
import { powertoolsLog, type Log } from "../../ports/log.js";
import { uiApi, type UiApiPorts } from "../../ui/api/router.js";
import type { UiResponse } from "../../ui/api/types.js";
import { once } from "../once.js";
import { configFromEnv, logEvents, queueClients, type AwsConfig, type QueueClients } from "./config.js";

// The web UI's API on AWS (functions/ui): the router `sluice run` serves, over the S3 Store, behind API Gateway's
// Cognito JWT authorizer and CloudFront. The function verifies the token again and takes the actor from it.

export interface UiFunctionConfig {
  aws: AwsConfig;
  audience: CognitoAudience;
  /** The page's origin (the CloudFront address): the one origin whose pages may ask for actions. */
  origin: string;
  /** The worker's log group, where events are. */
  eventsLogGroup?: string;
}

export function uiConfigFromEnv(env: NodeJS.ProcessEnv): UiFunctionConfig {
  const need = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`environment variable ${name} is not set`);
    return value;
  };
  return {
    aws: configFromEnv(env),
    audience: { issuer: need("SLUICE_UI_ISSUER"), clientId: need("SLUICE_UI_CLIENT_ID") },
    origin: need("SLUICE_UI_ORIGIN"),
    eventsLogGroup: env.SLUICE_EVENTS_LOG_GROUP,
  };
}

/** One request as API Gateway (HTTP API, payload 2.0) hands it over. */
export interface UiHttpRequest {
  method: string;
  rawPath: string;
  rawQueryString: string;
  /** Header names in lower case, as API Gateway gives them. */
  headers: Record<string, string | undefined>;
  /** The name the API was reached by (its execute-api host, which CloudFront sends as Host). */
  domainName: string;
}

export interface UiFunction {
  handle(request: UiHttpRequest): Promise<UiResponse>;
}

/** The UI's API for one container: every request's token verified, then the shared router. */
export function uiFunction(
  config: UiFunctionConfig,
  ports: Omit<UiApiPorts, "hosts">,
  keys: JWTVerifyGetKey,
  log: Log,
): UiFunction {
  const pageHost = new URL(config.origin).host;
  return {
    async handle(request) {
      const verdict = await verifyAccessToken(request.headers.authorization, config.audience, keys);
      if ("refused" in verdict) {
        log.warn({ path: request.rawPath, reason: verdict.refused }, "UI request refused");
        return {
          status: 401,
          headers: { "content-type": "application/json; charset=utf-8", "www-authenticate": "Bearer" },
          body: JSON.stringify({ error: verdict.refused }),
        };
      }
      // Host is the API's own name (CloudFront forwards to it); Origin, for actions, must be the page's.
      const api = uiApi({ ...ports, hosts: [pageHost, request.domainName.toLowerCase()] });
      return api({
        method: request.method,
        path: request.rawPath,
        query: new URLSearchParams(request.rawQueryString),
        headers: request.headers,
        actor: verdict.actor,
      });
    },
  };
}

/** The ports on AWS: the S3 Store, audit events logged and queued for Alerts, and the Jobs queue for actions. */
export function uiPorts(
  config: AwsConfig & { eventsLogGroup?: string },
  logger: Logger,
  { s3, sqs }: QueueClients = queueClients(config),
): Omit<UiApiPorts, "hosts"> {
  const log = powertoolsLog(logger);
  return {
    store: new S3Store(s3, config.bucket),
    events: config.notifyUrl ? new QueuedEvents(logEvents(logger), sqs, config.notifyUrl, log) : logEvents(logger),
    clock: systemClock,
    announce: (key) =>
      sendFifo(sqs, config.fifoUrl, { key: formatKey(key), reason: "requested", trigger: new Date().toISOString() }),
    readEvents: eventsInCloudWatch(config.eventsLogGroup),
    onError: (error) => log.error({ err: error }, "UI request failed"),
  };
}

/** Builds (once per container) the UI function: its ports and the user pool's keys. */
export function lazyUiFunction(config: () => UiFunctionConfig, logger: Logger): () => Promise<UiFunction> {
  return once(async () => {
    const resolved = config();
    const keys = await cognitoKeys(resolved.audience.issuer);
    const ports = uiPorts({ ...resolved.aws, eventsLogGroup: resolved.eventsLogGroup }, logger);
    return uiFunction(resolved, ports, keys, powertoolsLog(logger));
  });
}

/**
 * Events on AWS are log lines in CloudWatch Logs, which the UI does not read: an object's page shows one note in
 * their place saying where they are, rather than an empty list.
 */
export function eventsInCloudWatch(logGroup: string | undefined): UiApiPorts["readEvents"] {
  const where = logGroup ? `log group ${logGroup}` : "the worker function's log group";
  return async (key) =>
    key
      ? [
          {
            involvedObject: { apiVersion: "", ...key },
            severity: "info",
            reason: "EventsInCloudWatchLogs",
            message: `Events on AWS are in CloudWatch Logs, ${where} (search for the object's name); actions taken here are logged with who asked.`,
            metadata: {},
            reportingController: "sluice-ui",
            timestamp: new Date().toISOString(),
          },
        ]
      : [];
}
