import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateKeyCommand, KMSClient, SignCommand, VerifyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { describe, expect, inject, it } from "vitest";

const aws = inject("testbed").aws;
const config = {
  endpoint: aws.endpoint,
  region: aws.region,
  credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
};
const unique = () => randomBytes(4).toString("hex");

describe(`AWS emulator (${aws.version})`, () => {
  const sqs = new SQSClient(config);

  async function fifoQueue(attributes: Record<string, string> = {}): Promise<string> {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `q-${unique()}.fifo`, Attributes: { FifoQueue: "true", ...attributes } }),
    );
    return QueueUrl!;
  }
  const receive = async (url: string, visibility?: number) =>
    (
      await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: visibility,
        }),
      )
    ).Messages ?? [];

  it("SQS FIFO drops a message whose deduplication id was already seen", async () => {
    // Prepare
    const url = await fifoQueue();
    // Act
    for (const [body, dedup] of [
      ["first", "same"],
      ["duplicate", "same"],
      ["second", "other"],
    ]) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: body,
          MessageGroupId: "g",
          MessageDeduplicationId: dedup,
        }),
      );
    }
    // Assess
    expect((await receive(url)).map((m) => m.Body)).toEqual(["first", "second"]);
  });

  it("SQS FIFO hands out no message of a group while another of that group is in flight", async () => {
    // Prepare
    const url = await fifoQueue();
    for (const body of ["a1", "a2"])
      await sqs.send(
        new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: "A", MessageDeduplicationId: body }),
      );
    await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: "b1", MessageGroupId: "B", MessageDeduplicationId: "b1" }),
    );
    // Act
    const first = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1, VisibilityTimeout: 30 }),
    );
    const second = await receive(url, 30);
    // Assess
    expect(first.Messages?.map((m) => m.Body)).toEqual(["a1"]);
    expect(second.map((m) => m.Body)).toEqual(["b1"]);
  });

  it("SQS FIFO moves a message to its FIFO dead-letter queue after maxReceiveCount receives", async () => {
    // Prepare
    const dlq = await fifoQueue();
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["QueueArn"] }),
    );
    const url = await fifoQueue({
      VisibilityTimeout: "1",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 1 }),
    });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: "poison",
        MessageGroupId: "g",
        MessageDeduplicationId: "p",
      }),
    );
    // Act
    expect((await receive(url)).map((m) => m.Body)).toEqual(["poison"]);
    await sleep(1_500);
    const again = await receive(url);
    // Assess
    expect(again).toEqual([]);
    expect((await receive(dlq)).map((m) => m.Body)).toEqual(["poison"]);
  });

  it("S3 answers 412 to conditional PUTs whose condition fails", async () => {
    // Prepare
    const s3 = new S3Client({ ...config, forcePathStyle: true });
    const Bucket = `b-${unique()}`;
    await s3.send(new CreateBucketCommand({ Bucket }));
    const put = (extra: { IfNoneMatch?: string; IfMatch?: string }) =>
      s3.send(new PutObjectCommand({ Bucket, Key: "state.json", Body: "{}", ...extra }));
    const status = (p: Promise<unknown>) =>
      p.then(
        () => 200,
        (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode,
      );
    // Act
    const created = await put({ IfNoneMatch: "*" });
    const again = await status(put({ IfNoneMatch: "*" }));
    const stale = await status(put({ IfMatch: '"0000"' }));
    const current = await status(put({ IfMatch: created.ETag! }));
    // Assess
    expect(again).toBe(412);
    expect(stale).toBe(412);
    expect(current).toBe(200);
  });

  it("Secrets Manager stores and returns a secret", async () => {
    // Prepare
    const secrets = new SecretsManagerClient(config);
    const Name = `sluice/flux-system/git-auth-${unique()}`;
    // Act
    await secrets.send(
      new CreateSecretCommand({ Name, SecretString: JSON.stringify({ username: "git", password: "pw" }) }),
    );
    const value = await secrets.send(new GetSecretValueCommand({ SecretId: Name }));
    // Assess
    expect(JSON.parse(value.SecretString!)).toEqual({ username: "git", password: "pw" });
  });

  it("KMS signs with an asymmetric key and verifies only the untampered digest", async () => {
    // Prepare
    const kms = new KMSClient(config);
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }));
    const digest = (text: string) => createHash("sha256").update(text).digest();
    const params = {
      KeyId: KeyMetadata!.KeyId!,
      MessageType: "DIGEST" as const,
      SigningAlgorithm: "ECDSA_SHA_256" as const,
    };
    // Act
    const { Signature } = await kms.send(new SignCommand({ ...params, Message: digest("bundle") }));
    const good = await kms.send(new VerifyCommand({ ...params, Message: digest("bundle"), Signature }));
    const tampered = await kms.send(new VerifyCommand({ ...params, Message: digest("bundle!"), Signature })).then(
      (r) => r.SignatureValid,
      (e: Error) => e.name,
    );
    // Assess
    expect(good.SignatureValid).toBe(true);
    expect([false, "KMSInvalidSignatureException"]).toContain(tampered);
  });

  it("STS tells who the caller is", async () => {
    // Act
    const identity = await new STSClient(config).send(new GetCallerIdentityCommand({}));
    // Assess
    expect(identity.Account).toMatch(/^\d{12}$/);
  });
});
