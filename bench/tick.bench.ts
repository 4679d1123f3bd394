import { randomBytes } from "node:crypto";
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DueIndex } from "../src/aws/due-index.js";
import type { AwsConfig } from "../src/runtime/lambda/config.js";
import { handleTick } from "../src/runtime/lambda/tick.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

// The tick at 10,000 objects (moto): each object reconciles every 10 minutes, so ~1,000 are due per
// minute. Subject: one tick reading the due index for the past minute and queueing what is due.
// Baseline: a naive tick's first step alone, listing the whole Store (it would still have to read
// every object to learn what is due, so the real cost is higher).

const OBJECTS = 10_000;
const INTERVAL_MINUTES = 10;
let testbed: Testbed | undefined;

export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["aws"] });
  const { aws } = testbed.info;
  const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  let requests = 0;
  const s3 = new S3Client({ ...base, forcePathStyle: true });
  s3.middlewareStack.add((next) => async (args) => (requests++, next(args)), { step: "initialize" });
  const sqs = new SQSClient(base);
  const bucket = `tick-${randomBytes(3).toString("hex")}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const config: AwsConfig = {
    region: aws.region,
    bucket,
    fifoUrl: "per-iteration",
    delayUrl: "unused",
    cluster: "",
    endpoint: aws.endpoint,
    credentials,
  };
  const clients = { s3, sqs };

  // The Store (10,000 objects) and their next due times spread over the interval.
  const start = Date.UTC(2026, 10, 24, 12, 0);
  const index = new DueIndex(s3, bucket);
  for (let batch = 0; batch < OBJECTS; batch += 200) {
    await Promise.all(
      Array.from({ length: 200 }, async (_, j) => {
        const i = batch + j;
        const key = `Kustomization/apps/app-${i}`;
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `store/${key}.json`, Body: "{}", ContentLength: 2 }));
        await index.schedule({ key, reason: "interval" }, start + (i % INTERVAL_MINUTES) * 60_000);
      }),
    );
    process.stderr.write(`\r\x1b[K  seeding ${batch + 200}/${OBJECTS}`);
  }
  await index.takeDue(start - 60_000); // sets the cursor just before the first minute
  let minute = 0;

  const measure = async (work: () => Promise<number>): Promise<Metrics> => {
    const before = requests;
    const due = await work();
    return { s3Requests: requests - before, due };
  };
  return [
    defineBenchmark({
      name: `tick-${OBJECTS}-objects`,
      iterations: 3,
      warmup: 1,
      subject: {
        name: "tick: due index for the past minute",
        run: () =>
          measure(async () => {
            // A fresh FIFO queue each minute: moto checks deduplication against every message held.
            const QueueUrl = (
              await sqs.send(
                new CreateQueueCommand({
                  QueueName: `tick-${randomBytes(3).toString("hex")}.fifo`,
                  Attributes: { FifoQueue: "true" },
                }),
              )
            ).QueueUrl!;
            return (
              await handleTick(
                { source: "aws.events" },
                clients,
                { ...config, fifoUrl: QueueUrl },
                start + minute++ * 60_000,
              )
            ).forwarded;
          }),
      },
      baseline: {
        name: "naive tick: listing the whole Store (before reading any object)",
        run: () =>
          measure(async () => {
            let token: string | undefined;
            let listed = 0;
            do {
              const page = await s3.send(
                new ListObjectsV2Command({ Bucket: bucket, Prefix: "store/", ContinuationToken: token }),
              );
              listed += page.KeyCount ?? 0;
              token = page.NextContinuationToken;
            } while (token);
            return listed;
          }),
      },
    }),
  ];
}
