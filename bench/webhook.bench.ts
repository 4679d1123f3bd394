import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { KubeObject } from "../src/apply/object.js";
import { gitRepositoryManifest } from "../src/cli/manifests.js";
import { dispatch } from "../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../src/controllers/reconciler-ports.js";
import type { AwsConfig } from "../src/runtime/lambda/config.js";
import { webhookPorts, handleWebhook } from "../src/runtime/lambda/webhook.js";
import { awsClients, awsRuntime } from "../src/runtime/lambda/worker.js";
import { systemClock } from "../src/ports/clock.js";
import type { Log } from "../src/ports/log.js";
import { startWebhookServer } from "../src/runtime/webhook-server.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";
import { startBenchPlane, stopBenchPlane } from "./local-plane.js";

// A webhook burst: N generic-Receiver deliveries for one GitRepository, 50 in flight at a time, as
// a Git host's retries or a monorepo's pushes would send them. Measured per delivery: the answer's
// status (anything but 2xx is an error) and its latency (p50, p99, max). Goal: 0 errors, p99 ≤ 1 s.
// - local: POSTs to `sluice run`'s webhook server (loopback), its control plane reconciling meanwhile.
//   Baseline: a bare HTTP server that reads the body and answers 202 (the transport's floor).
// - aws: the webhook function's handler on moto (S3 receiver record, SQS FIFO). Baseline: the
//   enqueue alone, one SQS SendMessage per delivery (the floor any webhook on SQS pays).
// Sizes from the command line: `npm run bench -- webhook 1000 10000` (default 1000 10000).

const CONCURRENCY = 50;
const silent: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => silent };
let awsTestbed: Testbed | undefined;
let bare: Server | undefined;
let webhook: Awaited<ReturnType<typeof startWebhookServer>> | undefined;

export async function cleanup(): Promise<void> {
  bare?.closeAllConnections();
  bare?.close();
  await webhook?.close();
  await awsTestbed?.stop();
  await stopBenchPlane();
}

/** Sends `n` deliveries, `CONCURRENCY` at a time; errors are non-2xx answers and exceptions. */
async function burst(n: number, deliver: () => Promise<number>): Promise<Metrics> {
  const latencies: number[] = [];
  let errors = 0;
  let started = 0;
  const sender = async () => {
    while (started++ < n) {
      const start = performance.now();
      const status = await deliver().catch(() => 0);
      latencies.push(performance.now() - start);
      if (status < 200 || status > 299) errors++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, sender));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { errors, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: latencies.at(-1)! };
}

const receiver = (token: string): KubeObject => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1",
  kind: "Receiver",
  metadata: { name: "bench-hook", namespace: "flux-system" },
  spec: { type: "generic", secretRef: { name: token }, resources: [{ kind: "GitRepository", name: "bench-app" }] },
});

/** Registers the Receiver and its GitRepository, reconciles the Receiver, returns its webhook path. */
async function receiverPath(
  runtime: ReconcilerPorts,
  gitUrl: string,
  secretRef: string | undefined,
  tokenSecret: string,
): Promise<string> {
  await applyToStore(
    runtime.store,
    gitRepositoryManifest("bench-app", "flux-system", { url: gitUrl, branch: "main", interval: "10m", secretRef }),
  );
  await applyToStore(runtime.store, receiver(tokenSecret));
  await dispatch(runtime, { key: "Receiver/flux-system/bench-hook", reason: "created" });
  const path = (
    (await runtime.store.get({ kind: "Receiver", namespace: "flux-system", name: "bench-hook" }))?.object.status as
      { webhookPath?: string } | undefined
  )?.webhookPath;
  if (!path) throw new Error("Receiver/flux-system/bench-hook did not publish a webhook path");
  return path;
}

async function localBenchmarks(sizes: number[]): Promise<Benchmark[]> {
  const { testbed, plane, kubectl, gitSecret } = await startBenchPlane();
  const { git } = testbed.info;
  const url = await createRepo(git, "bench-webhook");
  await pushTree(git, "bench-webhook", {
    files: { "deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\ndata: {}\n" },
  });
  await kubectl(
    "-n",
    "flux-system",
    "create",
    "secret",
    "generic",
    "bench-hook-token",
    "--from-literal=token=bench-token",
  );
  const path = await receiverPath(plane.runtime, url, gitSecret, "bench-hook-token");
  webhook = await startWebhookServer(plane.runtime, 0);
  const webhookUrl = webhook.url;
  bare = createServer(
    (req, res) =>
      void req.resume().on("end", () => res.writeHead(202, { "content-type": "text/plain" }).end("accepted\n")),
  );
  await new Promise<void>((resolve) => bare!.listen(0, "127.0.0.1", resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}`;
  const body = JSON.stringify({ ref: "refs/heads/main" });
  const post = async (base: string) => {
    const answer = await fetch(`${base}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    await answer.arrayBuffer();
    return answer.status;
  };
  return sizes.map((n) =>
    defineBenchmark({
      name: `webhook-local-${n}`,
      iterations: 3,
      warmup: 1,
      subject: {
        name: `sluice run: ${n} deliveries, ${CONCURRENCY} at a time`,
        run: () => burst(n, () => post(webhookUrl)),
      },
      baseline: { name: "bare HTTP server answering 202", run: () => burst(n, () => post(bareUrl)) },
      teardown: async () => plane.queue.idle(),
    }),
  );
}

async function awsBenchmarks(sizes: number[]): Promise<Benchmark[]> {
  awsTestbed = await startTestbed({ only: ["aws"] });
  const { aws } = awsTestbed.info;
  const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  const bucket = `webhook-${randomBytes(3).toString("hex")}`;
  await new S3Client({ ...base, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }));
  await new SecretsManagerClient(base).send(
    new CreateSecretCommand({
      Name: "sluice/flux-system/bench-hook-token",
      SecretString: JSON.stringify({ token: "bench-token" }),
    }),
  );
  const sqs = new SQSClient(base);
  const freshQueue = async () =>
    (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `webhook-${randomBytes(3).toString("hex")}.fifo`,
          Attributes: { FifoQueue: "true" },
        }),
      )
    ).QueueUrl!;
  const delayUrl = (
    await sqs.send(new CreateQueueCommand({ QueueName: `webhook-delay-${randomBytes(3).toString("hex")}` }))
  ).QueueUrl!;
  const config: AwsConfig = {
    region: aws.region,
    bucket,
    fifoUrl: await freshQueue(),
    delayUrl,
    cluster: "",
    endpoint: aws.endpoint,
    credentials,
  };
  // The worker's runtime publishes the receiver record, as it would on its first reconcile.
  const worker = await awsRuntime(config, awsClients(config), silent, { emit: async () => {} }, systemClock);
  const path = await receiverPath(worker, "https://git.example.com/app.git", undefined, "bench-hook-token");
  const body = JSON.stringify({ ref: "refs/heads/main" });
  // A fresh FIFO queue per run: moto checks deduplication against every message it holds.
  let ports = webhookPorts(config, silent);
  let queueUrl = config.fifoUrl;
  return sizes.map((n) =>
    defineBenchmark({
      name: `webhook-aws-${n}`,
      // moto answers a few hundred calls a second: 10,000 deliveries take minutes per side.
      iterations: n >= 10_000 ? 1 : 3,
      warmup: n >= 10_000 ? 0 : 1,
      subject: {
        name: `webhook function on moto: ${n} deliveries, ${CONCURRENCY} at a time`,
        run: async () => {
          ports = webhookPorts({ ...config, fifoUrl: await freshQueue() }, silent);
          return burst(
            n,
            async () =>
              (
                await handleWebhook(
                  {
                    path,
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body,
                    isBase64Encoded: false,
                  },
                  ports,
                )
              ).status,
          );
        },
      },
      baseline: {
        name: "SQS SendMessage alone",
        run: async () => {
          queueUrl = await freshQueue();
          return burst(
            n,
            async () => (
              await sqs.send(
                new SendMessageCommand({
                  QueueUrl: queueUrl,
                  MessageBody: body,
                  MessageGroupId: "GitRepository/flux-system/bench-app",
                  MessageDeduplicationId: randomBytes(16).toString("hex"),
                }),
              ),
              202
            ),
          );
        },
      },
    }),
  );
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const requested = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  const sizes = requested.length > 0 ? requested : [1_000, 10_000];
  return [...(await localBenchmarks(sizes)), ...(await awsBenchmarks(sizes))];
}
