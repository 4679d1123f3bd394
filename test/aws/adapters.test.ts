import { randomBytes } from "node:crypto";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { eksToken } from "../../src/aws/eks.js";
import { S3ArtifactStore } from "../../src/aws/s3-artifact-store.js";
import { S3Store } from "../../src/aws/s3-store.js";
import { SecretsManagerSecrets } from "../../src/aws/secrets-manager.js";
import { SqsQueue } from "../../src/aws/sqs-queue.js";
import { systemClock } from "../../src/ports/clock.js";
import { ConflictError } from "../../src/store/store.js";

const aws = inject("testbed").aws;
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const base = { region: aws.region, endpoint: aws.endpoint, credentials };
const s3 = new S3Client({ ...base, forcePathStyle: true });
const sqs = new SQSClient(base);
const bucket = `adapters-${randomBytes(3).toString("hex")}`;
const object = (name: string, data: Record<string, unknown>) => ({
  apiVersion: "v1",
  kind: "Thing",
  metadata: { name, namespace: "ns" },
  data,
});

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

describe(`AWS adapters against ${aws.version}`, () => {
  it("S3Store: conditional create and update; of two writers holding the same version exactly one wins", async () => {
    // Arrange
    const store = new S3Store(s3, bucket);
    const created = await store.create(object("a", { n: 0 }));
    // Act
    const results = await Promise.allSettled([
      store.update(object("a", { n: 1 }), created.version),
      store.update(object("a", { n: 2 }), created.version),
    ]);
    // Assess
    await expect(store.create(object("a", {}))).rejects.toBeInstanceOf(ConflictError);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason)).toEqual([
      expect.any(ConflictError),
    ]);
    expect((await store.list({ kind: "Thing" })).map((s) => s.object.metadata.name)).toEqual(["a"]);
  });

  it("S3ArtifactStore: stores encrypted blobs with their digest and verifies it on read", async () => {
    const artifacts = new S3ArtifactStore(s3, bucket);
    const stored = await artifacts.put("gitrepository/ns/app/x.tar.gz", Buffer.from("tarball"));
    expect(stored.url).toBe(`s3://${bucket}/artifacts/gitrepository/ns/app/x.tar.gz`);
    await expect(artifacts.get(stored.path, stored.digest)).resolves.toEqual(Buffer.from("tarball"));
    await expect(artifacts.get(stored.path, "sha256:0")).rejects.toThrow("does not match");
    expect(await artifacts.list("gitrepository/ns/")).toEqual(["gitrepository/ns/app/x.tar.gz"]);
  });

  it("SqsQueue: a burst of the same trigger collapses to one message; requests without a trigger are never dropped", async () => {
    // Arrange
    const fifo = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `adapters-${randomBytes(3).toString("hex")}.fifo`,
          Attributes: { FifoQueue: "true" },
        }),
      )
    ).QueueUrl!;
    const queue = new SqsQueue(sqs, s3, { fifoUrl: fifo, delayUrl: fifo, bucket, clock: systemClock });
    // Act
    for (let i = 0; i < 3; i++)
      await queue.enqueue({ key: "GitRepository/ns/app", reason: "webhook", trigger: "delivery-1" });
    await queue.enqueue({ key: "GitRepository/ns/app", reason: "dependency" });
    await queue.enqueue({ key: "GitRepository/ns/app", reason: "dependency" });
    // Assess
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: fifo, MaxNumberOfMessages: 10, AttributeNames: ["All"] }),
    );
    expect(received.Messages?.map((m) => (JSON.parse(m.Body!) as { reason: string }).reason)).toEqual([
      "webhook",
      "dependency",
      "dependency",
    ]);
    expect(new Set(received.Messages?.map((m) => m.Attributes?.MessageGroupId))).toEqual(
      new Set(["GitRepository/ns/app"]),
    );
  });

  it("SqsQueue: a newer schedule for a key makes the older one stale", async () => {
    // Arrange
    const delayUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `delay-${randomBytes(3).toString("hex")}` })))
      .QueueUrl!;
    const queue = new SqsQueue(sqs, s3, { fifoUrl: "unused", delayUrl, bucket, clock: systemClock });
    const ticket = async () =>
      await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "schedule/Kustomization/ns/app" }))
      ).Body!.transformToString();
    // Act
    await queue.enqueue({ key: "Kustomization/ns/app", reason: "interval" }, { delayMs: 5_000 });
    const first = await ticket();
    await queue.enqueue({ key: "Kustomization/ns/app", reason: "health" }, { delayMs: 2_000 });
    const second = await ticket();
    // Assess
    expect(await queue.isCurrent({ key: "Kustomization/ns/app", reason: "interval", ticket: first })).toBe(false);
    expect(await queue.isCurrent({ key: "Kustomization/ns/app", reason: "health", ticket: second })).toBe(true);
    expect(await queue.isCurrent({ key: "Kustomization/ns/app", reason: "webhook" })).toBe(true);
  });

  it("Secrets Manager: sluice/<namespace>/<name> holds a Secret's keys; a missing one falls back to the cluster", async () => {
    const sm = new SecretsManagerClient(base);
    const name = `git-${randomBytes(3).toString("hex")}`;
    await sm.send(
      new CreateSecretCommand({
        Name: `sluice/flux-system/${name}`,
        SecretString: JSON.stringify({ username: "u", password: "p" }),
      }),
    );
    const fallback = { secret: async () => ({ from: "cluster" }), configMap: async () => ({ from: "cluster" }) };
    const secrets = new SecretsManagerSecrets(sm, fallback);
    await expect(secrets.secret({ namespace: "flux-system", name })).resolves.toEqual({ username: "u", password: "p" });
    await expect(secrets.secret({ namespace: "flux-system", name: "absent" })).resolves.toEqual({ from: "cluster" });
  });

  it("EKS token: k8s-aws-v1. + a presigned GetCallerIdentity URL, 60 s, signing x-k8s-aws-id", async () => {
    const token = await eksToken("prod", "eu-west-1", credentials, new Date("2026-11-24T12:00:00Z"));
    expect(token.startsWith("k8s-aws-v1.")).toBe(true);
    expect(token).not.toMatch(/=+$/);
    const url = new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString());
    expect(url.host).toBe("sts.eu-west-1.amazonaws.com");
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: "GetCallerIdentity",
      Version: "2011-06-15",
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Expires": "60",
      "X-Amz-Date": "20261124T120000Z",
      "X-Amz-SignedHeaders": "host;x-k8s-aws-id",
    });
    expect(url.searchParams.get("X-Amz-Credential")).toBe("testing/20261124/eu-west-1/sts/aws4_request");
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
  });
});
