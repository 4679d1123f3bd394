import type { Logger } from "@aws-lambda-powertools/logger";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { awsClientOptions } from "../../aws/clients.js";
import { awsDefaultSettings, defaultServiceAccountFrom, type Settings } from "../../controllers/settings.js";
import type { Events, FluxEvent } from "../../notify/events.js";
import type { ReconcileRequest } from "../../queue/queue.js";
import { defaultRenderLimits, parseRenderLimits } from "../../render/limits.js";

// What every Lambda function reads: its settings from the environment, and the shape of a queued request. Each
// function's own wiring is in its module here (worker, webhook, tick, notify), so a function's bundle holds only
// what its path imports: the webhook never loads the reconcilers.

/** Where the serverless runtime keeps things; read from the function's environment by the handlers. */
export interface AwsConfig {
  region: string;
  bucket: string;
  fifoUrl: string;
  delayUrl: string;
  /** KMS key for artifacts (SSE-KMS); SSE-S3 without. */
  kmsKeyId?: string;
  /**
   * The cluster reconcilers apply to: `eks:<cluster name>` or `kubeconfig:<Secrets Manager secret id>`; empty when
   * every target is an agent cluster or a kubeConfig.secretRef.
   */
  cluster: string;
  /** The FIFO dead-letter queue: poison messages go there at once. */
  deadLetterUrl?: string;
  /** The notify function's FIFO queue: the worker puts events there; without it, events are only logged. */
  notifyUrl?: string;
  /**
   * How bundles for agent clusters are signed: `kms:<asymmetric key id>` or `hmac:<secret id with {cluster}>` (one
   * key per cluster); no agent clusters without.
   */
  bundleKey?: string;
  /** Clusters served by a pull agent, whose last contact the tick reports (`AgentLastContactAge`). */
  agentClusters?: string[];
  /** For tests against an emulator: one endpoint for every AWS service. */
  endpoint?: string;
  credentials?: AwsCredentialIdentityProvider;
  settings?: Partial<Settings>;
}

/** The function's settings from its environment (the CDK app sets them). */
export function configFromEnv(env: NodeJS.ProcessEnv): AwsConfig {
  const need = (name: string) =>
    env[name] ??
    (() => {
      throw new Error(`environment variable ${name} is not set`);
    })();
  return {
    region: need("AWS_REGION"),
    bucket: need("SLUICE_BUCKET"),
    fifoUrl: need("SLUICE_QUEUE_URL"),
    delayUrl: need("SLUICE_DELAY_QUEUE_URL"),
    kmsKeyId: env.SLUICE_KMS_KEY_ID,
    cluster: env.SLUICE_CLUSTER ?? "",
    bundleKey: env.SLUICE_BUNDLE_KEY,
    deadLetterUrl: env.SLUICE_DEAD_LETTER_URL,
    notifyUrl: env.SLUICE_NOTIFY_QUEUE_URL,
    agentClusters: env.SLUICE_AGENT_CLUSTERS?.split(",").filter(Boolean),
    endpoint: env.SLUICE_AWS_ENDPOINT,
    settings: {
      noRemoteBases: !flag(env, "SLUICE_ALLOW_REMOTE_BASES", !awsDefaultSettings.noRemoteBases),
      allowPrivateNetworks: flag(env, "SLUICE_ALLOW_PRIVATE_NETWORKS", awsDefaultSettings.allowPrivateNetworks),
      allowCrossNamespaceReceivers: flag(
        env,
        "SLUICE_ALLOW_CROSS_NAMESPACE_RECEIVERS",
        awsDefaultSettings.allowCrossNamespaceReceivers,
      ),
      noCrossNamespaceRefs: flag(env, "SLUICE_NO_CROSS_NAMESPACE_REFS", awsDefaultSettings.noCrossNamespaceRefs),
      defaultServiceAccount: defaultServiceAccountFrom(
        env.SLUICE_DEFAULT_SERVICE_ACCOUNT,
        "environment variable SLUICE_DEFAULT_SERVICE_ACCOUNT",
      ),
      insecureKubeConfigTLS: flag(env, "SLUICE_INSECURE_KUBECONFIG_TLS", awsDefaultSettings.insecureKubeConfigTLS),
      renderLimits: lambdaRenderLimits(env),
    },
  };
}

/**
 * SLUICE_RENDER_LIMITS; unless it sets maxMemoryBytes, a render may use half the function's memory at most (the
 * default 1 GiB is more than a 1,024 MB worker has beside itself, and Lambda's out-of-memory kills the whole batch).
 */
function lambdaRenderLimits(env: NodeJS.ProcessEnv) {
  const functionMiB = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  const defaults =
    functionMiB > 0
      ? { ...defaultRenderLimits, maxMemoryBytes: Math.min(defaultRenderLimits.maxMemoryBytes, functionMiB * 2 ** 19) }
      : defaultRenderLimits;
  return parseRenderLimits(env.SLUICE_RENDER_LIMITS, "environment variable SLUICE_RENDER_LIMITS", defaults);
}

/**
 * A boolean setting: unset is the AWS default, `false` is off, `true` is on, anything else is refused with its
 * name.
 */
function flag(env: NodeJS.ProcessEnv, name: string, unset: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === "") return unset;
  if (value === "false") return false;
  if (value === "true") return true;
  throw new Error(`environment variable ${name} must be 'true' or 'false', not '${value}'`);
}

/** The clients the webhook and the tick have: S3 and SQS, nothing else. */
export interface QueueClients {
  s3: S3Client;
  sqs: SQSClient;
}

export function queueClients(config: AwsConfig): QueueClients {
  return { s3: new S3Client(awsClientOptions(config)), sqs: new SQSClient(awsClientOptions(config)) };
}

/** Events on AWS: one structured log line each (CloudWatch), with the revision as correlation. */
export function logEvents(logger: Logger): Events {
  return { emit: async (event: FluxEvent) => logger.info("event", { event }) };
}

/** A message that can never be processed (not a reconcile request): left to fail into the DLQ. */
export class PoisonMessageError extends Error {
  override name = "PoisonMessageError";
}

export function parseRequest(body: string): ReconcileRequest {
  try {
    const request = JSON.parse(body) as ReconcileRequest;
    if (typeof request.key !== "string" || typeof request.reason !== "string") throw new Error("missing key or reason");
    return request;
  } catch (error) {
    throw new PoisonMessageError(`not a reconcile request: ${(error as Error).message}`, { cause: error });
  }
}
