import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { kmsPublicKey } from "../../src/aws/kms.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import type { AwsConfig } from "../../src/runtime/lambda/config.js";
import { awsClients, awsRuntime } from "../../src/runtime/lambda/worker.js";
import type { AwsInfo } from "../env/aws.js";

/**
 * An AWS control plane on moto that serves agent clusters: its bucket, a KMS signing key, its queues. Its own
 * cluster does not exist (EKS would answer ResourceNotFound): it is connected lazily, and an agent cluster must never
 * need it. Private networks are allowed, as the test bed's Git server and Helm repository are on loopback.
 */
export async function agentControlPlane(aws: AwsInfo, name: string, log: Log, emit: (event: FluxEvent) => void) {
  const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  const clients = awsClients(base as AwsConfig);
  await clients.s3.send(new CreateBucketCommand({ Bucket: name }));
  const keyId = (await clients.kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" })))
    .KeyMetadata!.KeyId!;
  const fifo = await clients.sqs.send(
    new CreateQueueCommand({ QueueName: `${name}.fifo`, Attributes: { FifoQueue: "true" } }),
  );
  const delay = await clients.sqs.send(new CreateQueueCommand({ QueueName: `${name}-delay` }));
  const config: AwsConfig = {
    ...base,
    bucket: name,
    fifoUrl: fifo.QueueUrl!,
    delayUrl: delay.QueueUrl!,
    cluster: `eks:no-such-cluster-${name}`,
    bundleKey: `kms:${keyId}`,
    settings: { allowPrivateNetworks: true },
  };
  const runtime = await awsRuntime(config, clients, log, { emit: async (e) => void emit(e) }, systemClock);
  return { config, clients, runtime, keyId, publicKey: await kmsPublicKey(clients.kms, keyId) };
}
