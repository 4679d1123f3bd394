import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import { CreateBucketCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { HANDLED_PREFIX } from "../../src/aws/s3-handled-log.js";
import { S3Store } from "../../src/aws/s3-store.js";
import { QueuedEvents } from "../../src/aws/sqs-notify-events.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { Events, FluxEvent } from "../../src/notify/events.js";
import { parseNotificationMessage, handledIdOf } from "../../src/notify/queued-notification.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import { type AwsConfig, logEvents } from "../../src/runtime/lambda/config.js";
import { notifyPorts, handleNotifyEvent, type NotifyDeps } from "../../src/runtime/lambda/notify.js";
import { awsClients, awsRuntime } from "../../src/runtime/lambda/worker.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { recordingServer, type RecordingServer } from "../notify/recording-server.js";

// Alerts on AWS, on moto: the worker's Events put each event on the notify FIFO queue, and the notify
// function's handler — driven here the way Lambda's SQS event source drives it (receive up to 10,
// invoke, delete what did not fail) — delivers it to a loopback endpoint that records every request,
// or publishes it to SNS and EventBridge. Reconciles are real (a GitRepository from the test bed's
// Git server); the Store, the handled log, the queues and the secrets are moto's.

const run = promisify(execFile);
const { aws, git } = inject("testbed");
const id = randomBytes(3).toString("hex");
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const base = { region: aws.region, endpoint: aws.endpoint, credentials };
const s3 = new S3Client({ ...base, forcePathStyle: true });
const sqs = new SQSClient(base);
const bucket = `sluice-notify-${id}`;
const store = new S3Store(s3, bucket);
const logger = new Logger({ serviceName: "sluice-notify-test", logLevel: "CRITICAL" });
let config: AwsConfig;
let server: RecordingServer;
/** Every line the notify handler and the worker log, and every event recorded: none may hold a secret. */
const written: string[] = [];
const recorded: FluxEvent[] = [];
const log: Log = {
  info: (fields, message) => void written.push(JSON.stringify([message, fields])),
  warn: (fields, message) => void written.push(JSON.stringify([message, fields])),
  error: (fields, message) => void written.push(JSON.stringify([message, fields])),
  child: () => log,
};
const sink: Events = { emit: async (e) => void (recorded.push(e), written.push(JSON.stringify(e))) };

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const fifo = await freshQueue("jobs", 5);
  const delay = await sqs.send(new CreateQueueCommand({ QueueName: `sluice-notify-delay-${id}` }));
  config = {
    region: aws.region,
    bucket,
    fifoUrl: fifo.url,
    delayUrl: delay.QueueUrl!,
    cluster: "",
    endpoint: aws.endpoint,
    credentials,
    settings: { allowPrivateNetworks: true }, // the recording server is on loopback
  };
  server = await recordingServer();
});
afterAll(async () => {
  await server?.close();
});

/** A FIFO queue (high-throughput settings, as the CDK app makes it) with its FIFO dead-letter queue. */
async function freshQueue(name: string, maxReceiveCount: number): Promise<{ url: string; deadLetters: string }> {
  const attributes = {
    FifoQueue: "true",
    DeduplicationScope: "messageGroup",
    FifoThroughputLimit: "perMessageGroupId",
  };
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: `sluice-${name}-dlq-${id}.fifo`, Attributes: { FifoQueue: "true" } }),
  );
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl!, AttributeNames: ["QueueArn"] }))
  ).Attributes!.QueueArn!;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `sluice-${name}-${id}.fifo`,
      Attributes: {
        ...attributes,
        VisibilityTimeout: "720",
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    }),
  );
  return { url: queue.QueueUrl!, deadLetters: dlq.QueueUrl! };
}

/** The notify function's dependencies for one queue, logging and recording into this file's sinks. */
function notifyDeps(queueUrl: string): NotifyDeps {
  const { delivery, sqs: client } = notifyPorts({ ...config, notifyUrl: queueUrl }, log, sink, systemClock);
  return { delivery, sqs: client, queueUrl, logger };
}

/** Lambda's SQS event source, once: receive up to 10, invoke the handler, delete what did not fail. */
async function pollNotify(deps: NotifyDeps): Promise<{ received: Message[]; failed: string[]; handlerMs: number }> {
  const { Messages: received = [] } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: deps.queueUrl, MaxNumberOfMessages: 10, AttributeNames: ["All"] }),
  );
  if (received.length === 0) return { received, failed: [], handlerMs: 0 };
  const records = received.map(recordOf);
  const started = performance.now();
  const response = await handleNotifyEvent({ Records: records } as SQSEvent, deps);
  const handlerMs = performance.now() - started;
  const failed = response.batchItemFailures.map((f) => f.itemIdentifier);
  for (const m of received.filter((m) => !failed.includes(m.MessageId!)))
    await sqs.send(new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
  return { received, failed, handlerMs };
}

function recordOf(m: Message): SQSRecord {
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body!,
    attributes: m.Attributes as never,
    messageAttributes: {},
    md5OfBody: m.MD5OfBody!,
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:notify.fifo",
    awsRegion: aws.region,
  };
}

async function pollUntil(deps: NotifyDeps, what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if ((await pollNotify(deps)).received.length === 0) await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each test in its own namespace, so its Alerts take only its events. */
const namespace = (name: string) => `${name}-${id}`;

async function alertTo(ns: string, providerSpec: Record<string, unknown>, alertSpec: Record<string, unknown> = {}) {
  const meta = (name: string) => ({ name, namespace: ns });
  await applyToStore(store, {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Provider",
    metadata: meta("endpoint"),
    spec: providerSpec,
  } as KubeObject);
  await applyToStore(store, {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Alert",
    metadata: meta("on-call"),
    spec: { providerRef: { name: "endpoint" }, eventSources: [{ kind: "GitRepository", name: "*" }], ...alertSpec },
  } as KubeObject);
}

function event(
  ns: string,
  message: string,
  revision = "main@sha1:0123456789abcdef0123456789abcdef01234567",
): FluxEvent {
  return {
    involvedObject: { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: ns, name: "app" },
    severity: "error",
    reason: "GitOperationFailed",
    message,
    metadata: { revision },
    reportingController: "source-controller",
    timestamp: new Date().toISOString(),
  };
}

/** What the worker's Events do with an event on AWS: log it, then one SendMessage to the notify queue. */
const workerEvents = (queueUrl: string) => new QueuedEvents(logEvents(logger), sqs, queueUrl, log);

const requestsFor = (ns: string) =>
  server.requests.filter((r) => r.body.length > 0 && JSON.parse(r.body.toString()).involvedObject?.namespace === ns);

describe(`Alerts on AWS: worker → notify FIFO queue → notify function (${aws.version})`, () => {
  it("a real reconcile's event reaches a generic endpoint through the queue and the notify handler, never during the reconcile", async () => {
    // Arrange: a GitRepository on the test bed's Git server, credentials in Secrets Manager.
    const ns = namespace("reconcile");
    const { url: queueUrl } = await freshQueue("reconcile", 6);
    const repo = `notify-${id}`;
    const url = await createRepo(git, repo);
    const sha = await pushTree(git, repo, { files: { "README.md": "hello\n" } });
    await new SecretsManagerClient(base).send(
      new CreateSecretCommand({
        Name: `sluice/${ns}/git-auth`,
        SecretString: JSON.stringify({ username: git.username, password: git.password }),
      }),
    );
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "app", namespace: ns },
      spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    await alertTo(ns, { type: "generic", address: `${server.url}/hook/${ns}` });
    const worker = { ...config, notifyUrl: queueUrl };
    const runtime = await awsRuntime(worker, awsClients(worker), log, workerEvents(queueUrl), systemClock);
    // Act
    await dispatch(runtime, { key: `GitRepository/${ns}/app`, reason: "created" });
    const duringReconcile = server.requests.filter((r) => r.path === `/hook/${ns}`).length;
    const deps = notifyDeps(queueUrl);
    await pollUntil(deps, "the notification", () => server.requests.some((r) => r.path === `/hook/${ns}`));
    // Assess: Flux's generic payload (the event JSON, gotk-component), sent once.
    expect(duringReconcile).toBe(0);
    const [request, ...more] = server.requests.filter((r) => r.path === `/hook/${ns}`);
    expect(more).toEqual([]);
    expect(request!.headers["gotk-component"]).toBe("source-controller");
    expect(JSON.parse(request!.body.toString())).toMatchObject({
      involvedObject: { kind: "GitRepository", namespace: ns, name: "app" },
      severity: "info",
      reason: "NewArtifact",
      metadata: { revision: `main@sha1:${sha}` },
      reportingController: "source-controller",
    });
  }, 60_000);

  it("an endpoint answering 500 then 200 gets the notification once, and the message is done", async () => {
    const ns = namespace("flaky");
    const { url: queueUrl } = await freshQueue("flaky", 6);
    await alertTo(ns, { type: "generic", address: server.url, timeout: "10s" });
    server.answer({ status: 500, body: "try again" });
    await workerEvents(queueUrl).emit(event(ns, "clone failed"));
    const deps = notifyDeps(queueUrl);
    const { failed } = await pollNotify(deps);
    expect(failed).toEqual([]);
    expect(requestsFor(ns).map((r) => JSON.parse(r.body.toString()).message)).toEqual(["clone failed", "clone failed"]);
    // Nothing comes back: the 200 was recorded as handled and the message deleted.
    expect((await pollNotify(deps)).received).toEqual([]);
  }, 30_000);

  it("an endpoint slower than the Provider's timeout gets the message back later, not dropped", async () => {
    const ns = namespace("slow");
    const { url: queueUrl } = await freshQueue("slow", 6);
    await alertTo(ns, { type: "generic", address: server.url, timeout: "1s" });
    server.answer({ status: 200, delayMs: 3_000 });
    await workerEvents(queueUrl).emit(event(ns, "too slow"));
    const deps = notifyDeps(queueUrl);
    const first = await pollNotify(deps);
    expect(first.failed).toHaveLength(1);
    expect(first.handlerMs).toBeLessThan(2_500); // bounded by the timeout, not by the endpoint
    // Its 30 s back-off, shortened here as time passing would.
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: first.received[0]!.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    expect((await pollNotify(deps)).failed).toEqual([]);
    expect(requestsFor(ns)).toHaveLength(2);
    expect((await pollNotify(deps)).received).toEqual([]);
  }, 30_000);

  it("a 429's Retry-After returns the message to the queue for that long instead of holding the function", async () => {
    const ns = namespace("throttled");
    const { url: queueUrl } = await freshQueue("throttled", 6);
    await alertTo(ns, { type: "generic", address: server.url });
    server.answer({ status: 429, headers: { "retry-after": "3" }, body: "slow down" });
    await workerEvents(queueUrl).emit(event(ns, "rate limited"));
    const deps = notifyDeps(queueUrl);
    // Act: the first attempt is refused with Retry-After: 3.
    const first = await pollNotify(deps);
    expect(first.failed).toHaveLength(1);
    expect(first.handlerMs).toBeLessThan(1_500); // not slept through
    // Not back before its Retry-After…
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await pollNotify(deps)).received).toEqual([]);
    // …then delivered.
    await pollUntil(deps, "the retried notification", () => requestsFor(ns).length === 2, 10_000);
    const [refused, delivered] = requestsFor(ns);
    expect(delivered!.at - refused!.at).toBeGreaterThanOrEqual(2_900);
    expect(recorded).toContainEqual(
      expect.objectContaining({
        involvedObject: expect.objectContaining({ kind: "Alert", namespace: ns }),
        reason: "NotificationDispatchFailed",
        message: expect.stringContaining("status code 429"),
      }),
    );
  }, 30_000);

  it("an endpoint that stays down ends in the dead-letter queue after maxReceiveCount, and the reconcile's emit is not slowed", async () => {
    const ns = namespace("down");
    const { url: queueUrl, deadLetters } = await freshQueue("down", 2);
    const closed = await recordingServer();
    await closed.close(); // nothing listens on its port any more
    await alertTo(ns, { type: "generic", address: closed.url, timeout: "1s" });
    const deps = notifyDeps(queueUrl);
    // The reconcile's side: one SendMessage, however dead the endpoint.
    const started = performance.now();
    await workerEvents(queueUrl).emit(event(ns, "endpoint down"));
    const emitMs = performance.now() - started;
    // Each failure backs the message off (30 s, then 60 s): not back at once. Time passing is
    // simulated by making it visible again; the receive past maxReceiveCount moves it (SQS's redrive).
    for (let receive = 1; receive <= 2; receive++) {
      const attempt = await pollNotify(deps);
      expect(attempt.failed).toHaveLength(1);
      expect((await pollNotify(deps)).received).toEqual([]);
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: attempt.received[0]!.ReceiptHandle!,
          VisibilityTimeout: 0,
        }),
      );
    }
    expect((await pollNotify(deps)).received).toEqual([]);
    const dead = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetters, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(dead.Messages?.map((m) => JSON.parse(m.Body!).event.message)).toEqual(["endpoint down"]);
    expect(emitMs).toBeLessThan(500);
  }, 60_000);

  it("a redelivered message (or a redrive) does not post twice; only the Alert whose endpoint may recover is tried again", async () => {
    const ns = namespace("redelivered");
    const { url: queueUrl } = await freshQueue("redelivered", 6);
    await alertTo(ns, { type: "generic", address: `${server.url}/first` });
    // A second Alert whose endpoint is down at first, then fixed.
    const closed = await recordingServer();
    await closed.close();
    const second = (address: string): KubeObject => ({
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Provider",
      metadata: { name: "second", namespace: ns },
      spec: { type: "generic", address, timeout: "1s" },
    });
    await applyToStore(store, second(closed.url));
    await applyToStore(store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Alert",
      metadata: { name: "second", namespace: ns },
      spec: { providerRef: { name: "second" }, eventSources: [{ kind: "GitRepository", name: "*" }] },
    });
    // A third whose Provider's secret is missing: a failure for good, reported once, never retried.
    await applyToStore(store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Provider",
      metadata: { name: "broken", namespace: ns },
      spec: { type: "generic", secretRef: { name: "missing" } },
    });
    await applyToStore(store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
      kind: "Alert",
      metadata: { name: "broken", namespace: ns },
      spec: { providerRef: { name: "broken" }, eventSources: [{ kind: "GitRepository", name: "*" }] },
    });
    await workerEvents(queueUrl).emit(event(ns, "redelivery"));
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, AttributeNames: ["All"] }),
    );
    expect(Messages).toHaveLength(1);
    const deps = notifyDeps(queueUrl);
    const deliver = () => handleNotifyEvent({ Records: [recordOf(Messages[0]!)] } as SQSEvent, deps);
    // Act: the same message handled three times, as Lambda would after a crash before the delete or a redrive.
    const once = await deliver();
    const again = await deliver();
    await applyToStore(store, second(`${server.url}/second`));
    const third = await deliver();
    const fourth = await deliver();
    // Assess
    expect([once, again, third, fourth].map((r) => r.batchItemFailures.length)).toEqual([1, 1, 0, 0]);
    const paths = server.requests.map((r) => r.path);
    expect(paths.filter((p) => p === "/first")).toHaveLength(1);
    expect(paths.filter((p) => p === "/second")).toHaveLength(1);
    const brokenReports = recorded.filter(
      (e) => e.involvedObject.namespace === ns && e.involvedObject.name === "broken",
    );
    expect(brokenReports.map((e) => e.message)).toEqual([
      `failed to send notification for GitRepository/${ns}/app: failed to get secret '${ns}/missing': secret not found`,
    ]);
    // What the next redelivery would find: all three recorded as handled under hashed ids.
    const { id: notification } = parseNotificationMessage(Messages[0]!.Body!);
    for (const name of ["on-call", "second", "broken"]) {
      const key = `${HANDLED_PREFIX}${handledIdOf(notification, { namespace: ns, name })}`;
      await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).resolves.toBeDefined();
    }
  }, 30_000);

  it("publishes to an SNS topic (generic Provider, topic ARN address) with the event JSON and filterable attributes", async () => {
    const ns = namespace("sns");
    const { url: queueUrl } = await freshQueue("sns", 6);
    const sns = new SNSClient(base);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `deploys-${id}` }));
    const subscriber = await sqs.send(new CreateQueueCommand({ QueueName: `sns-subscriber-${id}` }));
    const subscriberArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: subscriber.QueueUrl!, AttributeNames: ["QueueArn"] }))
    ).Attributes!.QueueArn!;
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: subscriberArn }));
    await alertTo(ns, { type: "generic", address: TopicArn });
    // Act
    await workerEvents(queueUrl).emit(event(ns, "published to SNS"));
    const { failed } = await pollNotify(notifyDeps(queueUrl));
    // Assess: the SNS envelope holds the same JSON a generic webhook gets.
    expect(failed).toEqual([]);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: subscriber.QueueUrl!, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }),
    );
    expect(Messages).toHaveLength(1);
    const envelope = JSON.parse(Messages[0]!.Body!) as {
      TopicArn: string;
      Subject: string;
      Message: string;
      MessageAttributes: Record<string, { Value: string }>;
    };
    expect(envelope.TopicArn).toBe(TopicArn);
    expect(envelope.Subject).toBe(`GitRepository/${ns}/app: GitOperationFailed`);
    expect(JSON.parse(envelope.Message)).toMatchObject({
      involvedObject: { kind: "GitRepository", namespace: ns, name: "app" },
      message: "published to SNS",
      severity: "error",
      reportingController: "source-controller",
    });
    expect(envelope.MessageAttributes.severity?.Value).toBe("error");
    expect(envelope.MessageAttributes.namespace?.Value).toBe(ns);
  }, 30_000);

  it("puts an event on an EventBridge bus (bus ARN address) that a rule on source sluice routes", async () => {
    const ns = namespace("bus");
    const { url: queueUrl } = await freshQueue("bus", 6);
    const events = new EventBridgeClient(base);
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: `ops-${id}` }));
    const target = await sqs.send(new CreateQueueCommand({ QueueName: `bus-target-${id}` }));
    const targetArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: target.QueueUrl!, AttributeNames: ["QueueArn"] }))
    ).Attributes!.QueueArn!;
    await events.send(
      new PutRuleCommand({
        Name: `flux-errors-${id}`,
        EventBusName: `ops-${id}`,
        EventPattern: JSON.stringify({ source: ["sluice"], detail: { severity: ["error"] } }),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: `flux-errors-${id}`,
        EventBusName: `ops-${id}`,
        Targets: [{ Id: "queue", Arn: targetArn }],
      }),
    );
    await alertTo(ns, { type: "generic", address: EventBusArn });
    // Act
    await workerEvents(queueUrl).emit(event(ns, "put on the bus"));
    const { failed } = await pollNotify(notifyDeps(queueUrl));
    // Assess
    expect(failed).toEqual([]);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: target.QueueUrl!, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }),
    );
    expect(Messages.map((m) => JSON.parse(m.Body!))).toEqual([
      expect.objectContaining({
        source: "sluice",
        "detail-type": "Flux event",
        detail: expect.objectContaining({ message: "put on the bus", severity: "error" }),
      }),
    ]);
  }, 30_000);

  it("the same notification within 5 minutes is queued once (SQS FIFO deduplication = Flux's rate limit); a new revision again", async () => {
    const ns = namespace("dedup");
    const { url: queueUrl } = await freshQueue("dedup", 6);
    const events = workerEvents(queueUrl);
    await events.emit(event(ns, "same"));
    await events.emit({ ...event(ns, "same"), timestamp: new Date(Date.now() + 1_000).toISOString() });
    await events.emit(event(ns, "same", "main@sha1:ffffffffffffffffffffffffffffffffffffffff"));
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((m) => JSON.parse(m.Body!).event.metadata.revision).sort()).toEqual([
      "main@sha1:0123456789abcdef0123456789abcdef01234567",
      "main@sha1:ffffffffffffffffffffffffffffffffffffffff",
    ]);
  }, 30_000);

  it("a GitHub commit status through the notify function: a 429 on the status POST returns the message, the retry lists again and posts once (GitHub REST API 'Commit statuses', 'Rate limits')", async () => {
    const ns = namespace("commit-status");
    const { url: queueUrl } = await freshQueue("commit-status", 6);
    const forge = await recordingServer();
    try {
      const token = `ghp_${randomBytes(12).toString("hex")}`;
      await new SecretsManagerClient(base).send(
        new CreateSecretCommand({ Name: `sluice/${ns}/github`, SecretString: JSON.stringify({ token }) }),
      );
      await alertTo(ns, { type: "github", address: `${forge.url}/org/fleet`, secretRef: { name: "github" } });
      const json = { status: 200, headers: { "content-type": "application/json" }, body: "[]" };
      forge.answer(json, { status: 429, headers: { "retry-after": "1" }, body: `limited ${token}` }, json);
      await workerEvents(queueUrl).emit(event(ns, "clone failed"));
      const deps = notifyDeps(queueUrl);
      expect((await pollNotify(deps)).failed).toHaveLength(1);
      await pollUntil(deps, "the status posted", () => forge.requests.length === 4, 10_000);
      const sha = "0123456789abcdef0123456789abcdef01234567";
      expect(forge.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        `GET /api/v3/repos/org/fleet/commits/${sha}/statuses?per_page=50`,
        `POST /api/v3/repos/org/fleet/statuses/${sha}`,
        `GET /api/v3/repos/org/fleet/commits/${sha}/statuses?per_page=50`,
        `POST /api/v3/repos/org/fleet/statuses/${sha}`,
      ]);
      expect(JSON.parse(forge.requests[3]!.body.toString())).toMatchObject({
        state: "failure",
        description: "git operation failed",
        context: expect.stringMatching(/^gitrepository\/app\/[0-9a-f]{8}$/),
      });
      expect((await pollNotify(deps)).received).toEqual([]);
      expect(written.join("\n")).not.toContain(token);
    } finally {
      await forge.close();
    }
  }, 30_000);
});

describe("sluice suspend|resume alert on the deployed control plane (--aws-bucket)", () => {
  it("a suspended Alert sends nothing from the next event on; resumed, it sends again", async () => {
    const ns = namespace("suspend");
    const { url: queueUrl } = await freshQueue("suspend", 6);
    await alertTo(ns, { type: "generic", address: `${server.url}/suspend` });
    const sluice = (...args: string[]) =>
      run(process.execPath, ["bin/sluice.js", "--aws-bucket", bucket, "-n", ns, ...args], {
        env: {
          ...process.env,
          SLUICE_AWS_ENDPOINT: aws.endpoint,
          AWS_REGION: aws.region,
          AWS_ACCESS_KEY_ID: aws.accessKeyId,
          AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
        },
      });
    const deps = notifyDeps(queueUrl);
    const delivered = () => server.requests.filter((r) => r.path === "/suspend").length;
    // Act: suspended, an event goes nowhere…
    const suspended = await sluice("suspend", "alert", "on-call");
    await workerEvents(queueUrl).emit(event(ns, "while suspended"));
    const whileSuspended = await pollNotify(deps);
    // …resumed (not waiting: no worker runs here), the next one is sent.
    await sluice("resume", "alert", "on-call", "--wait=false");
    await workerEvents(queueUrl).emit(event(ns, "after resume"));
    await pollUntil(deps, "the notification after resume", () => delivered() === 1);
    // Assess
    expect(suspended.stderr).toContain("alert suspended");
    expect(whileSuspended.received).toHaveLength(1);
    expect(whileSuspended.failed).toEqual([]); // taken by no Alert: done with, not retried
    const [only] = server.requests.filter((r) => r.path === "/suspend");
    expect(JSON.parse(only!.body.toString()).message).toBe("after resume");
    const alert = await store.get({ kind: "Alert", namespace: ns, name: "on-call" });
    expect((alert?.object.spec as { suspend?: boolean }).suspend).toBeUndefined();
  }, 60_000);
});

describe("hostile input on the notify path", () => {
  it.each([
    ["not JSON", "{"],
    ["no event", JSON.stringify({ hello: "world" })],
    ["an unknown field", JSON.stringify({ event: { ...event("x", "m"), extra: 1 } })],
    ["metadata that is not strings", JSON.stringify({ event: { ...event("x", "m"), metadata: { revision: 1 } } })],
    ["an empty namespace", JSON.stringify({ event: { ...event("", "m") } })],
    ["a severity Flux has not", JSON.stringify({ event: { ...event("x", "m"), severity: "fatal" } })],
  ])(
    "a body with %s is never delivered: visible again at once, so it reaches the dead-letter queue",
    async (_, body) => {
      const { url: queueUrl, deadLetters } = await freshQueue(`poison-${randomBytes(2).toString("hex")}`, 2);
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: body,
          MessageGroupId: "poison",
          MessageDeduplicationId: "poison",
        }),
      );
      const deps = notifyDeps(queueUrl);
      const before = server.requests.length;
      expect((await pollNotify(deps)).failed).toHaveLength(1);
      expect((await pollNotify(deps)).failed).toHaveLength(1); // visible again at once (no 12-minute wait)
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      const dead = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: deadLetters, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      expect(dead.Messages?.map((m) => m.Body)).toEqual([body]);
      expect(server.requests.length).toBe(before);
    },
    30_000,
  );

  it("a Provider address held in Secrets Manager never reaches a log line or event, even when the endpoint echoes it", async () => {
    const ns = namespace("secret");
    const { url: queueUrl } = await freshQueue("secret", 6);
    const secretUrl = `${server.url}/services/T000/B000/${randomBytes(12).toString("hex")}`;
    await new SecretsManagerClient(base).send(
      new CreateSecretCommand({ Name: `sluice/${ns}/webhook`, SecretString: JSON.stringify({ address: secretUrl }) }),
    );
    await alertTo(ns, { type: "generic", secretRef: { name: "webhook" } });
    server.answer({ status: 400, body: `bad request to ${secretUrl}` });
    await workerEvents(queueUrl).emit(event(ns, "secret address"));
    const { failed } = await pollNotify(notifyDeps(queueUrl));
    expect(failed).toEqual([]); // a 400 is final, as in Flux: reported, not retried
    const failure = recorded.find(
      (e) => e.involvedObject.namespace === ns && e.reason === "NotificationDispatchFailed",
    );
    expect(failure?.message).toContain("status code 400: bad request to ***");
    expect(written.join("\n")).not.toContain(secretUrl.split("/").at(-1));
  }, 30_000);
});
