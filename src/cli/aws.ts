import { CloudFormationClient, paginateDescribeStacks } from "@aws-sdk/client-cloudformation";
import { S3Client } from "@aws-sdk/client-s3";
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { awsClientOptions } from "../aws/clients.js";
import { S3BundleChannel } from "../aws/s3-bundle-channel.js";
import { SecretsManagerSecrets } from "../aws/secrets-manager.js";
import { S3Store } from "../aws/s3-store.js";
import { storeChanges as pollStoreChanges } from "../aws/s3-store-changes.js";
import { sendFifo } from "../aws/sqs-queue.js";
import type { ReconcileRequest } from "../queue/queue.js";
import type { Store } from "../store/store.js";

// The CLI's AWS mode (--aws-bucket, --aws-queue-url), imported only then: loading the AWS SDK is most of a local
// command's start-up. Our own module rather than `import("@aws-sdk/…")` where needed, because a bundle's
// code-split CommonJS package offers only its default export to a dynamic import.

type ClientOptions = ReturnType<typeof awsClientOptions>;

/** The deployed control plane's Store, in its bucket. */
export function s3Store(bucket: string, client: ClientOptions): Store {
  return new S3Store(new S3Client(client), bucket);
}

/** Puts a reconcile request on the deployed control plane's FIFO queue. */
export async function enqueue(queueUrl: string, request: ReconcileRequest, client: ClientOptions): Promise<void> {
  await sendFifo(new SQSClient(client), queueUrl, request);
}

/** Calls a listener whenever the deployed Store changes, listing it every `everyMs` while anyone listens. */
export function storeChanges(
  bucket: string,
  client: ClientOptions,
  everyMs: number,
  onError: (error: unknown) => void,
) {
  return pollStoreChanges(new S3Client(client), bucket, everyMs, onError);
}

/** Reads agents' heartbeats (last contact, revision, bundles) from the control plane's bucket. */
export function heartbeatReader(bucket: string, client: ClientOptions) {
  const s3 = new S3Client(client);
  return (cluster: string) => new S3BundleChannel(s3, bucket, cluster).heartbeat();
}

/**
 * The `WebhookUrl` output of the deployed stack whose `BucketName` output is `bucket` (infra/stack.ts's outputs);
 * undefined when no stack has it.
 */
export async function stackWebhookUrl(bucket: string, client: ClientOptions): Promise<string | undefined> {
  return (await stackOutputs(bucket, client)).get("WebhookUrl");
}

/** The outputs of the deployed stack whose `BucketName` output is `bucket`; empty when no stack has it. */
export async function stackOutputs(bucket: string, client: ClientOptions): Promise<Map<string, string>> {
  for await (const page of paginateDescribeStacks({ client: new CloudFormationClient(client) }, {})) {
    for (const stack of page.Stacks ?? []) {
      const outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""]));
      if (outputs.get("BucketName") === bucket) return outputs;
    }
  }
  return new Map();
}

/** Who the CLI's AWS credentials are: the ARN STS GetCallerIdentity names. */
export async function callerArn(client: ClientOptions): Promise<string> {
  const { Arn } = await new STSClient(client).send(new GetCallerIdentityCommand({}));
  if (!Arn) throw new Error("STS GetCallerIdentity named no ARN for these credentials");
  return Arn;
}

/** The Secrets the deployed worker resolves secretRefs from (Secrets Manager, `sluice/<namespace>/<name>`). */
export function secretsManagerSecrets(client: ClientOptions): SecretsManagerSecrets {
  return new SecretsManagerSecrets(new SecretsManagerClient(client));
}

/** On AWS, secretRefs resolve from Secrets Manager: `sluice/<namespace>/<name>`, a JSON object of keys. Returns its id. */
export async function putSecret(
  namespace: string,
  name: string,
  data: Record<string, string>,
  client: ClientOptions,
): Promise<string> {
  const secrets = new SecretsManagerClient(client);
  const SecretId = `sluice/${namespace}/${name}`;
  await secrets
    .send(new PutSecretValueCommand({ SecretId, SecretString: JSON.stringify(data) }))
    .catch(async (error: unknown) => {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      await secrets.send(new CreateSecretCommand({ Name: SecretId, SecretString: JSON.stringify(data) }));
    });
  return SecretId;
}
