import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import type { KubeObject } from "../src/apply/object.js";
import { QueuedEvents } from "../src/aws/sqs-notify-events.js";
import { dispatch } from "../src/controllers/dispatch.js";
import { AlertingEvents } from "../src/notify/alert-dispatch.js";
import type { Events, FluxEvent } from "../src/notify/events.js";
import { systemClock } from "../src/ports/clock.js";
import type { Log } from "../src/ports/log.js";
import type { AwsConfig } from "../src/runtime/lambda/config.js";
import { notifyPorts, handleNotifyEvent, type NotifyDeps } from "../src/runtime/lambda/notify.js";
import { awsClients, awsRuntime } from "../src/runtime/lambda/worker.js";
import type { Store } from "../src/store/store.js";
import { FileStore } from "../src/store/fs-store.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { recordingServer, type RecordingServer } from "../test/notify/recording-server.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// Alerts on AWS (moto + the test bed's Git server), two questions:
// - notify-aws-slow-endpoint: does an Alert whose endpoint takes 5 s to answer slow reconciles down?
//   Subject: a GitRepository reconcile (a new commit each time, so each emits NewArtifact) whose
//   events an Alert sends to that endpoint, with the notify handler delivering them meanwhile in
//   this same process (on Lambda it is another function: this is the harder case). Baseline: the
//   same reconcile with no Alert. Reported too: how long the reconcile's emit took (one SendMessage).
// - notify-aws-delivered: event → delivered, through the notify queue and the notify handler
//   (Lambda's event source emulated: a receive, the handler, a delete). Baseline: the same event
//   delivered locally (`sluice run`'s in-process delivery, file Store), to the same endpoint.

const ITERATIONS = 30;
const WARMUP = 2;
const silent: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => silent };
const logger = new Logger({ serviceName: "bench-notify", logLevel: "CRITICAL" });
let testbed: Testbed | undefined;
let slow: Server | undefined;
let recorder: RecordingServer | undefined;
let stopNotify: (() => Promise<void>) | undefined;

export async function cleanup(): Promise<void> {
  await stopNotify?.();
  slow?.closeAllConnections();
  slow?.close();
  await recorder?.close();
  await testbed?.stop();
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["aws", "git"] });
  const { aws, git } = testbed.info;
  const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  const id = randomBytes(3).toString("hex");
  const sqs = new SQSClient(base);
  const bucket = `notify-${id}`;
  await new S3Client({ ...base, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }));
  const fifo = async (name: string) =>
    (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-${id}.fifo`, Attributes: { FifoQueue: "true" } })))
      .QueueUrl!;
  const notifyUrl = await fifo("notify");
  const config: AwsConfig = {
    region: aws.region,
    bucket,
    fifoUrl: await fifo("jobs"),
    delayUrl: (await sqs.send(new CreateQueueCommand({ QueueName: `delay-${id}` }))).QueueUrl!,
    cluster: "",
    endpoint: aws.endpoint,
    credentials,
    notifyUrl,
    settings: { allowPrivateNetworks: true }, // the endpoints are on loopback
  };
  slow = createServer((req, res) => void req.resume().on("end", () => setTimeout(() => res.end("ok"), 5_000)));
  await new Promise<void>((resolve) => slow!.listen(0, "127.0.0.1", resolve));
  const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}`;
  recorder = await recordingServer();

  // What each reconcile emits, and how long the emit took (the only part of delivery a reconcile pays).
  let emitMs = 0;
  const queued = new QueuedEvents({ emit: async () => {} }, sqs, notifyUrl, silent);
  const timedEvents: Events = {
    emit: async (event) => {
      const started = performance.now();
      await queued.emit(event);
      emitMs += performance.now() - started;
    },
  };
  const worker = await awsRuntime(config, awsClients(config), silent, timedEvents, systemClock);
  const deps: NotifyDeps = {
    ...notifyPorts(config, silent, { emit: async () => {} }, systemClock),
    queueUrl: notifyUrl,
    logger,
  };
  stopNotify = notifyLoop(deps, sqs);

  // One branch per reconcile, each with its own commit (pushed now, untimed): every reconcile fetches
  // and emits NewArtifact.
  const repo = `notify-bench-${id}`;
  const url = await createRepo(git, repo);
  const branches = 2 * (ITERATIONS + WARMUP);
  for (let b = 0; b < branches; b++)
    await pushTree(git, repo, { files: { "README.md": `b${b}\n` } }, { branch: `b${b}` });
  let branch = 0;
  for (const ns of ["with-alert", "no-alert"]) {
    await new SecretsManagerClient(base).send(
      new CreateSecretCommand({
        Name: `sluice/${ns}/git-auth`,
        SecretString: JSON.stringify({ username: git.username, password: git.password }),
      }),
    );
  }
  await alert(worker.store, "with-alert", slowUrl);
  const reconcile = (ns: string) => async () => {
    await applyToStore(worker.store, gitRepository(ns, url, `b${branch++}`));
    emitMs = 0;
    await dispatch(worker, { key: `GitRepository/${ns}/app`, reason: "bench" });
    return { emitMs };
  };

  // Event → delivered: the same Alert and Provider in S3 (AWS) and in a file Store (local).
  await alert(worker.store, "delivered", recorder.url);
  const localStore = new FileStore(await mkdtemp(join(tmpdir(), "sluice-bench-notify-")));
  await alert(localStore, "delivered", recorder.url);
  const local = new AlertingEvents(
    { emit: async () => {} },
    {
      store: localStore,
      secrets: { secret: async () => undefined, configMap: async () => undefined },
      clock: systemClock,
      log: silent,
      network: { allowPrivateNetworks: true },
      noCrossNamespaceRefs: false,
    },
  );
  let sent = 0;
  const deliveredThrough = (events: Events) => async () => {
    const message = `bench ${sent++}`;
    await events.emit(event("delivered", message));
    while (!recorder!.requests.some((r) => r.body.toString().includes(`"${message}"`)))
      await new Promise((r) => setTimeout(r, 2));
  };

  return [
    defineBenchmark({
      name: "notify-aws-slow-endpoint",
      iterations: ITERATIONS,
      warmup: WARMUP,
      subject: {
        name: "GitRepository reconcile on moto, its events alerted to a 5 s endpoint",
        run: reconcile("with-alert"),
      },
      baseline: { name: "the same reconcile, no Alert", run: reconcile("no-alert") },
    }),
    defineBenchmark({
      name: "notify-aws-delivered",
      iterations: ITERATIONS,
      warmup: WARMUP,
      subject: {
        name: "event → delivered: notify queue (SQS FIFO on moto) → notify handler → generic endpoint",
        run: deliveredThrough(queued),
      },
      baseline: { name: "event → delivered locally (sluice run, in-process)", run: deliveredThrough(local) },
    }),
  ];
}

/** Lambda's SQS event source for the notify function, until stopped: long-poll, invoke, delete what succeeded. */
function notifyLoop(deps: NotifyDeps, sqs: SQSClient): () => Promise<void> {
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    while (!stopping) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          AttributeNames: ["All"],
        }),
      );
      if (Messages.length === 0) continue;
      // Lambda scales out: a batch stuck on the slow endpoint does not hold up the next one.
      const batch = (async () => {
        const records = Messages.map(
          (m) =>
            ({
              messageId: m.MessageId!,
              receiptHandle: m.ReceiptHandle!,
              body: m.Body!,
              attributes: m.Attributes,
            }) as unknown as SQSRecord,
        );
        const { batchItemFailures } = await handleNotifyEvent({ Records: records } as SQSEvent, deps);
        const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
        for (const m of Messages.filter((m) => !failed.has(m.MessageId!)))
          await sqs.send(new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      })();
      inFlight.add(batch);
      void batch.finally(() => inFlight.delete(batch));
    }
  })();
  return async () => {
    stopping = true;
    await loop;
    await Promise.all([...inFlight]);
  };
}

async function alert(store: Store, ns: string, address: string): Promise<void> {
  const notification = "notification.toolkit.fluxcd.io/v1beta3";
  await applyToStore(store, {
    apiVersion: notification,
    kind: "Provider",
    metadata: { name: "endpoint", namespace: ns },
    spec: { type: "generic", address },
  });
  await applyToStore(store, {
    apiVersion: notification,
    kind: "Alert",
    metadata: { name: "on-call", namespace: ns },
    spec: { providerRef: { name: "endpoint" }, eventSources: [{ kind: "GitRepository", name: "*" }] },
  });
}

function gitRepository(ns: string, url: string, branch: string): KubeObject {
  return {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: "app", namespace: ns },
    spec: { interval: "10m", url, ref: { branch }, secretRef: { name: "git-auth" } },
  };
}

function event(ns: string, message: string): FluxEvent {
  return {
    involvedObject: { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: ns, name: "app" },
    severity: "info",
    reason: "NewArtifact",
    message,
    metadata: {},
    reportingController: "source-controller",
    timestamp: new Date().toISOString(),
  };
}
