import { createHmac, randomBytes } from "node:crypto";
import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, DeleteSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { queueClients, type AwsConfig, type QueueClients } from "../../src/runtime/lambda/config.js";
import { webhookPorts, handleWebhook } from "../../src/runtime/lambda/webhook.js";
import { awsClients, awsRuntime } from "../../src/runtime/lambda/worker.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import { applyToStore } from "../../src/store/objects.js";

// The webhook function on moto: what its S3 records hold and how they are protected, and what one
// delivery costs in AWS calls. The worker's runtime (Secrets Manager tokens) publishes the records.

const { aws } = inject("testbed");
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const base = { region: aws.region, endpoint: aws.endpoint, credentials };
const silent: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => silent };
const namespace = `hooks-${randomBytes(3).toString("hex")}`;
const sm = new SecretsManagerClient(base);
const s3 = new S3Client({ ...base, forcePathStyle: true });
let config: AwsConfig;
let worker: ReconcilerPorts;
/** The webhook's clients, each call counted by operation. */
let clients: QueueClients;
const calls: string[] = [];

beforeAll(async () => {
  const bucket = `hooks-${randomBytes(3).toString("hex")}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const key = await new KMSClient(base).send(new CreateKeyCommand({ Description: "sluice test" }));
  const sqs = new SQSClient(base);
  const fifo = await sqs.send(
    new CreateQueueCommand({
      QueueName: `hooks-${randomBytes(3).toString("hex")}.fifo`,
      Attributes: { FifoQueue: "true" },
    }),
  );
  const delay = await sqs.send(new CreateQueueCommand({ QueueName: `hooks-delay-${randomBytes(3).toString("hex")}` }));
  config = {
    region: aws.region,
    bucket,
    fifoUrl: fifo.QueueUrl!,
    delayUrl: delay.QueueUrl!,
    cluster: "",
    endpoint: aws.endpoint,
    credentials,
    kmsKeyId: key.KeyMetadata!.Arn,
  };
  worker = await awsRuntime(config, awsClients(config), silent, { emit: async () => {} }, systemClock);
  clients = queueClients(config);
  clients.s3.middlewareStack.add(
    (next, context) => async (args) => (calls.push(`s3:${context.commandName}`), next(args)),
    { step: "initialize" },
  );
  clients.sqs.middlewareStack.add(
    (next, context) => async (args) => (calls.push(`sqs:${context.commandName}`), next(args)),
    { step: "initialize" },
  );
});

const receiver = (name: string, type: string, resources: unknown[]): KubeObject => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1",
  kind: "Receiver",
  metadata: { name, namespace },
  spec: { type, secretRef: { name }, resources },
});

/** Creates the token, registers the Receiver and runs the worker's reconcile; returns the status. */
async function registered(
  name: string,
  type: string,
  token: string,
  resources: unknown[] = [{ kind: "GitRepository", name: "app" }],
) {
  await sm.send(
    new CreateSecretCommand({ Name: `sluice/${namespace}/${name}`, SecretString: JSON.stringify({ token }) }),
  );
  await applyToStore(worker.store, receiver(name, type, resources));
  await dispatch(worker, { key: `Receiver/${namespace}/${name}`, reason: "created" });
  return statusOf(name);
}
const statusOf = async (name: string) =>
  ((await worker.store.get({ kind: "Receiver", namespace, name }))?.object.status ?? {}) as {
    webhookPath?: string;
    conditions?: { type: string; reason: string }[];
  };
const recordKey = (path: string) => `receivers/${path.slice("/hook/".length)}.json`;
const deliver = (path: string, headers: Record<string, string> = {}, body = "{}") =>
  handleWebhook({ path, method: "POST", headers, body, isBase64Encoded: false }, webhookPorts(config, silent, clients));
const github = (token: string, delivery: string, body: string) => ({
  "X-GitHub-Event": "push",
  "X-GitHub-Delivery": delivery,
  "X-Hub-Signature-256": `sha256=${createHmac("sha256", token).update(body).digest("hex")}`,
});

describe(`the webhook function's receiver records on S3 (${aws.version})`, () => {
  it("keeps a record SSE-KMS encrypted with the stack's key, and deletes it when the token Secret goes: the path answers 404", async () => {
    // Arrange
    const { webhookPath } = await registered("kms", "gitlab", "kms-token");
    const head = await s3.send(new HeadObjectCommand({ Bucket: config.bucket, Key: recordKey(webhookPath!) }));
    expect(head.ServerSideEncryption).toBe("aws:kms");
    expect(head.SSEKMSKeyId).toBe(config.kmsKeyId);
    expect((await deliver(webhookPath!, { "X-Gitlab-Token": "kms-token", "X-Gitlab-Event": "Push Hook" })).status).toBe(
      202,
    );
    // Act
    await sm.send(new DeleteSecretCommand({ SecretId: `sluice/${namespace}/kms`, ForceDeleteWithoutRecovery: true }));
    await dispatch(worker, { key: `Receiver/${namespace}/kms`, reason: "interval" });
    // Assess
    expect((await statusOf("kms")).conditions?.find((c) => c.type === "Ready")?.reason).toBe("TokenNotFound");
    expect(
      await s3
        .send(new HeadObjectCommand({ Bucket: config.bucket, Key: recordKey(webhookPath!) }))
        .catch((e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode),
    ).toBe(404);
    expect(await deliver(webhookPath!, { "X-Gitlab-Event": "Push Hook" })).toEqual({
      status: 404,
      body: "no receiver for this path\n",
    });
  });

  it("answers a delivery with one S3 read and one SQS send (plus one delivery-id write for GitHub), never listing or reading the Store", async () => {
    const { webhookPath } = await registered("cost", "github", "cost-token");
    const body = '{"ref":"refs/heads/main"}';
    calls.length = 0;
    expect((await deliver(webhookPath!, github("cost-token", randomBytes(8).toString("hex"), body), body)).status).toBe(
      202,
    );
    expect(calls.sort()).toEqual(["s3:GetObjectCommand", "s3:PutObjectCommand", "sqs:SendMessageCommand"]);
    calls.length = 0;
    expect((await deliver(`/hook/${"0".repeat(64)}`)).status).toBe(404);
    expect(calls).toEqual(["s3:GetObjectCommand"]);
    calls.length = 0;
    expect((await deliver("/hook/../store/Receiver")).status).toBe(404);
    expect(calls).toEqual([]);
  });

  it("enqueues a delivery id once even when 20 copies race, and stores it only as a per-receiver digest", async () => {
    // Arrange
    const { webhookPath } = await registered("race", "github", "race-token");
    const body = '{"ref":"refs/heads/main"}';
    const id = `${randomBytes(8).toString("hex")}/../${"x".repeat(2_000)}`; // an attacker's id: long, with separators
    // Act
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => deliver(webhookPath!, github("race-token", id, body), body)),
    );
    // Assess
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200 && a.body === "already handled\n")).toHaveLength(19);
    const keys = (
      await s3.send(new ListObjectsV2Command({ Bucket: config.bucket, Prefix: "deliveries/" }))
    ).Contents!.map((o) => o.Key);
    expect(keys.every((k) => /^deliveries\/[0-9a-f]{64}$/.test(k!))).toBe(true);
  });

  it("enqueues named resources directly and one request for a Receiver with label selectors, nothing else", async () => {
    const fifo = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: `only-${randomBytes(3).toString("hex")}.fifo`,
        Attributes: { FifoQueue: "true" },
      }),
    );
    const { webhookPath } = await registered("mixed", "generic", "mixed-token", [
      { kind: "GitRepository", name: "app" },
      { kind: "GitRepository", name: "*", matchLabels: { team: "a" } },
    ]);
    const answer = await handleWebhook(
      { path: webhookPath!, method: "POST", headers: {}, body: "{}", isBase64Encoded: false },
      webhookPorts({ ...config, fifoUrl: fifo.QueueUrl! }, silent, clients),
    );
    expect(answer.status).toBe(202);
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: fifo.QueueUrl!, MaxNumberOfMessages: 10 }),
    );
    expect(
      Messages.map((m) => JSON.parse(m.Body!) as { key: string; reason: string }).sort((x, y) =>
        x.key.localeCompare(y.key),
      ),
    ).toEqual([
      { key: `GitRepository/${namespace}/app`, reason: "webhook" },
      { key: `Receiver/${namespace}/mixed`, reason: "webhook" },
    ]);
  });
});
