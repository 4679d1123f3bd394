import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { InitializeHandlerOptions, InitializeMiddleware, MetadataBearer } from "@smithy/types";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { stringify } from "yaml";
import { DueIndex } from "../src/aws/due-index.js";
import { getObject } from "../src/apply/objects-api.js";
import { systemClock } from "../src/ports/clock.js";
import { powertoolsLog } from "../src/ports/log.js";
import { logEvents, queueClients, type AwsConfig } from "../src/runtime/lambda/config.js";
import { handleTick } from "../src/runtime/lambda/tick.js";
import { handleWebhook, webhookPorts } from "../src/runtime/lambda/webhook.js";
import { awsClients, awsRuntime, handleWorkerEvent } from "../src/runtime/lambda/worker.js";
import { applyToStore } from "../src/store/objects.js";
import { adminCluster, configMap } from "../test/apply/helpers.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { freshNamespace } from "../test/env/kube-client.js";
import { startKubelet } from "../test/env/kubelet.js";
import type { Testbed } from "../test/env/testbed.js";
import { distinctMetrics, type Measured, type OperationCost, type WorkerOperation } from "./aws-cost-model.js";
import { summarize } from "./stats.js";

// Measures, on moto and the test bed's kube-apiserver and Git server, what each serverless operation costs: the
// worker reconciling a GitRepository and a Kustomization (no-op interval, new commit, apply of a change), the
// tick (idle, per due request, per delayed requeue) and the webhook (one delivery). Each runs through the
// function's own handler with the clients the function builds; an SDK middleware on those clients counts every
// request by operation (SQS per 64 KiB chunk) and the bytes put to S3; stdout is captured for what CloudWatch
// Logs would ingest and for the EMF metrics.

type Sample = { ms: number; requests: Record<string, number>; logBytes: number; putBytes: number };

/** Counts requests by "Service:Operation" and records the messages sent, through a middleware on each client. */
class Meter {
  requests: Record<string, number> = {};
  putBytes = 0;
  sent: { queueUrl: string; body: string }[] = [];

  attach(client: { middlewareStack: { add: (m: never, o: InitializeHandlerOptions) => void } }, service: string) {
    const middleware: InitializeMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      const operation = (context.commandName ?? "Unknown").replace(/Command$/, "");
      if (service === "SQS") {
        const queueUrl = String(input.QueueUrl ?? "");
        // SQS bills each 64 KiB chunk of a request's payload as one request.
        const chunks = Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(input)) / 65_536));
        this.bump(`${queueUrl.endsWith(".fifo") ? "SQS-FIFO" : "SQS"}:${operation}`, chunks);
        const bodies =
          operation === "SendMessageBatch"
            ? ((input.Entries as { MessageBody?: string }[] | undefined) ?? []).map((e) => e.MessageBody ?? "")
            : operation === "SendMessage"
              ? [String(input.MessageBody ?? "")]
              : [];
        for (const body of bodies) this.sent.push({ queueUrl, body });
      } else {
        this.bump(`${service}:${operation}`, 1);
      }
      if (service === "S3" && operation === "PutObject") this.putBytes += byteLength(input.Body);
      return next(args);
    };
    client.middlewareStack.add(middleware as never, { step: "initialize", name: "costMeter" });
  }

  private bump(name: string, n: number) {
    this.requests[name] = (this.requests[name] ?? 0) + n;
  }
}

function byteLength(body: unknown): number {
  if (typeof body === "string") return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
}

/** stdout while an operation runs: its bytes (what Logs ingests) and EMF records; kept off the terminal. */
class StdoutCapture {
  bytes = 0;
  emf: Record<string, unknown>[] = [];
  private capturing = false;
  private readonly write = process.stdout.write.bind(process.stdout);

  install() {
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (!this.capturing) return this.write(chunk, ...rest);
      const text = chunk.toString();
      this.bytes += Buffer.byteLength(text);
      for (const line of text.split("\n"))
        if (line.startsWith('{"_aws"')) this.emf.push(JSON.parse(line) as Record<string, unknown>);
      return true;
    }) as typeof process.stdout.write;
  }

  async during<T>(run: () => Promise<T>): Promise<T> {
    this.capturing = true;
    try {
      return await run();
    } finally {
      this.capturing = false;
    }
  }
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([name, n]) => [name, n - (before[name] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
}

/** Median time; mean requests and bytes per operation (a few operations vary, e.g. a token refresh). */
function combine(samples: Sample[]): OperationCost {
  const names = new Set(samples.flatMap((s) => Object.keys(s.requests)));
  const mean = (f: (s: Sample) => number) => samples.reduce((n, s) => n + f(s), 0) / samples.length;
  return {
    ms: summarize(samples.map((s) => s.ms)).median,
    requests: Object.fromEntries([...names].sort().map((name) => [name, mean((s) => s.requests[name] ?? 0)])),
    logBytes: mean((s) => s.logBytes),
    putBytes: mean((s) => s.putBytes),
  };
}

/** Each figure times `factor` (per request of a batch). */
function scale(cost: OperationCost, factor: number): OperationCost {
  return {
    ms: cost.ms * factor,
    requests: Object.fromEntries(Object.entries(cost.requests).map(([name, n]) => [name, n * factor])),
    logBytes: cost.logBytes * factor,
    putBytes: cost.putBytes * factor,
  };
}

/** What `cost` adds to `idle` (figures not below zero). */
function beyond(cost: OperationCost, idle: OperationCost): OperationCost {
  const names = new Set([...Object.keys(cost.requests), ...Object.keys(idle.requests)]);
  return {
    ms: Math.max(0, cost.ms - idle.ms),
    requests: Object.fromEntries(
      [...names].map((n) => [n, Math.max(0, (cost.requests[n] ?? 0) - (idle.requests[n] ?? 0))]).filter(([, v]) => v),
    ),
    logBytes: Math.max(0, cost.logBytes - idle.logBytes),
    putBytes: Math.max(0, cost.putBytes - idle.putBytes),
  };
}

async function coldStartInitMs(name: string): Promise<number> {
  const file = join(import.meta.dirname, "results", `coldstart-${name}.json`);
  const result = JSON.parse(await readFile(file, "utf8")) as {
    subject: { metrics: { importMs?: { median: number } } };
  };
  const ms = result.subject.metrics.importMs?.median;
  if (ms === undefined) throw new Error(`${file} has no importMs: run npm run bench -- coldstart first`);
  return ms;
}

export async function measureAwsCosts(
  testbed: Testbed,
  iterations: number,
  progress: (line: string) => void,
): Promise<Measured> {
  const { aws, kube, git, helmRepo } = testbed.info;
  // Read first: without bench/coldstart's results the run would be wasted.
  const initMs = {
    worker: await coldStartInitMs("worker"),
    tick: await coldStartInitMs("tick"),
    webhook: await coldStartInitMs("webhook"),
  };
  const id = randomBytes(3).toString("hex");
  const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  // Set-up and inspection through clients of their own, so only the functions' requests are counted.
  const s3 = new S3Client({ ...base, forcePathStyle: true });
  const sqs = new SQSClient(base);
  const sm = new SecretsManagerClient(base);
  const ns = await freshNamespace(kube, "cost");
  const bucket = `cost-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const queue = async (name: string, fifo: boolean) =>
    (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: fifo ? { FifoQueue: "true" } : undefined })))
      .QueueUrl!;
  const token = randomBytes(16).toString("hex");
  await sm.send(new CreateSecretCommand({ Name: `sluice/cluster-${id}`, SecretString: kube.kubeconfig }));
  await sm.send(
    new CreateSecretCommand({
      Name: `sluice/${ns.name}/git-auth`,
      SecretString: JSON.stringify({ username: git.username, password: git.password }),
    }),
  );
  await sm.send(
    new CreateSecretCommand({ Name: `sluice/${ns.name}/hook-token`, SecretString: JSON.stringify({ token }) }),
  );
  const config: AwsConfig = {
    region: aws.region,
    bucket,
    fifoUrl: await queue(`cost-${id}.fifo`, true),
    delayUrl: await queue(`cost-delay-${id}`, false),
    notifyUrl: await queue(`cost-notify-${id}.fifo`, true),
    cluster: `kubeconfig:sluice/cluster-${id}`,
    endpoint: aws.endpoint,
    credentials,
    settings: { allowPrivateNetworks: true }, // the test bed's Git server is on loopback
  };
  const clients = awsClients(config);
  config.kmsKeyId = (await clients.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId;

  const meter = new Meter();
  meter.attach(clients.s3, "S3");
  meter.attach(clients.sqs, "SQS");
  meter.attach(clients.secretsManager, "SecretsManager");
  meter.attach(clients.kms, "KMS");
  const tickClients = queueClients(config);
  meter.attach(tickClients.s3, "S3");
  meter.attach(tickClients.sqs, "SQS");
  const stdout = new StdoutCapture();
  stdout.install();

  // The functions as deployed: Powertools at its default level (INFO), metrics in the Sluice namespace.
  const logger = new Logger({ serviceName: "sluice-worker" });
  const metrics = new Metrics({ namespace: "Sluice", serviceName: "sluice-worker" });
  const webhookLogger = new Logger({ serviceName: "sluice-webhook" });
  const runtime = await awsRuntime(config, clients, powertoolsLog(logger), logEvents(logger), systemClock);
  const webhook = webhookPorts(config, powertoolsLog(webhookLogger), tickClients);

  const measure = async (run: () => Promise<unknown>): Promise<Sample> => {
    const before = { requests: { ...meter.requests }, putBytes: meter.putBytes, logBytes: stdout.bytes };
    const start = performance.now();
    await stdout.during(run);
    return {
      ms: performance.now() - start,
      requests: difference(meter.requests, before.requests),
      logBytes: stdout.bytes - before.logBytes,
      putBytes: meter.putBytes - before.putBytes,
    };
  };
  const record = (body: string): SQSRecord => ({
    messageId: randomUUID(),
    receiptHandle: "handle",
    body,
    attributes: { MessageGroupId: (JSON.parse(body) as { key: string }).key } as never,
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
    awsRegion: aws.region,
  });
  const work = (body: string) =>
    measure(async () => {
      const answer = await handleWorkerEvent({ Records: [record(body)] } as SQSEvent, { runtime, metrics, logger });
      if (answer.batchItemFailures.length > 0) throw new Error(`the worker failed ${body}`);
    });
  /** The last request sent for `key` to a queue: the interval requeue (Delayed) or a dependent's wake-up (Jobs). */
  const lastSent = (queueUrl: string, key: string) => {
    const found = meter.sent.findLast((m) => m.queueUrl === queueUrl && m.body.includes(`"key":"${key}"`));
    if (!found) throw new Error(`nothing was sent for ${key} to ${queueUrl}`);
    return found.body;
  };

  const repo = `${ns.name}-cost`;
  const url = await createRepo(git, repo);
  const files = (value: string) => ({
    "deploy/cm.yaml": stringify(configMap("settings", { value }, { namespace: ns.name })),
  });
  await pushTree(git, repo, { files: files("v0") });
  const keys = {
    git: `GitRepository/${ns.name}/app`,
    kustomization: `Kustomization/${ns.name}/app`,
    receiver: `Receiver/${ns.name}/hook`,
  };
  await applyToStore(runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: "app", namespace: ns.name },
    spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  await applyToStore(runtime.store, {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: "app", namespace: ns.name },
    spec: { interval: "10m", path: "./deploy", prune: true, sourceRef: { kind: "GitRepository", name: "app" } },
  });
  await applyToStore(runtime.store, {
    apiVersion: "notification.toolkit.fluxcd.io/v1",
    kind: "Receiver",
    metadata: { name: "hook", namespace: ns.name },
    spec: { type: "generic", secretRef: { name: "hook-token" }, resources: [{ kind: "GitRepository", name: "app" }] },
  });
  for (const key of [keys.receiver, keys.git, keys.kustomization])
    await work(JSON.stringify({ key, reason: "created" }));
  const receiver = await runtime.store.get({ kind: "Receiver", namespace: ns.name, name: "hook" });
  const hookPath = (receiver?.object.status as { webhookPath?: string } | undefined)?.webhookPath;
  if (!hookPath) throw new Error("the Receiver published no webhook path");
  const admin = await adminCluster(kube);
  const liveValue = async () => {
    const cm = await getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, "settings");
    return (cm?.data as { value?: string } | undefined)?.value;
  };
  if ((await liveValue()) !== "v0") throw new Error("the Kustomization did not apply its first revision");

  const samples: Record<WorkerOperation | "webhook", Sample[]> = {
    gitNoop: [],
    gitNewCommit: [],
    kustomizationNoop: [],
    kustomizationApply: [],
    helmRepositoryNoop: [],
    helmChartNoop: [],
    helmReleaseNoop: [],
    webhook: [],
  };
  // Round 0 warms the container (first connection, token, caches) and is not kept, as Lambda reuses it.
  for (let round = 0; round <= iterations; round++) {
    progress(`aws-cost: worker and webhook, round ${round}/${iterations}`);
    const keep = <T>(list: T[], sample: T) => round > 0 && list.push(sample);
    keep(samples.gitNoop, await work(lastSent(config.delayUrl, keys.git)));
    keep(samples.kustomizationNoop, await work(lastSent(config.delayUrl, keys.kustomization)));
    const value = `v${round + 1}`;
    await pushTree(git, repo, { files: files(value) });
    const delivery = await measure(async () => {
      const answer = await handleWebhook(
        { path: hookPath, method: "POST", headers: {}, body: "", isBase64Encoded: false },
        webhook,
      );
      if (answer.status !== 202) throw new Error(`the webhook answered ${answer.status}`);
    });
    keep(samples.webhook, delivery);
    keep(samples.gitNewCommit, await work(lastSent(config.fifoUrl, keys.git)));
    keep(samples.kustomizationApply, await work(lastSent(config.fifoUrl, keys.kustomization)));
    if ((await liveValue()) !== value) throw new Error(`round ${round}: ${value} was not applied`);
  }

  // A HelmRelease (the test bed's podinfo chart, pods made Ready by the kubelet stand-in): installed by following
  // every request its reconciles send, delays cut short, then its source chain's and its own no-op intervals.
  const kubelet = await startKubelet(kube, { namespaces: [ns.name] });
  try {
    await applyToStore(runtime.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmRepository",
      metadata: { name: "podinfo", namespace: ns.name },
      spec: { interval: "10m", url: helmRepo.url },
    });
    await applyToStore(runtime.store, {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "podinfo", namespace: ns.name },
      spec: {
        interval: "10m",
        chart: { spec: { chart: "podinfo", version: "6.9.x", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
      },
    });
    const helmKeys = { repository: `HelmRepository/${ns.name}/podinfo`, release: `HelmRelease/${ns.name}/podinfo` };
    const pending = [helmKeys.repository, helmKeys.release].map((key) => JSON.stringify({ key, reason: "created" }));
    const ready = async () => {
      const stored = await runtime.store.get({ kind: "HelmRelease", namespace: ns.name, name: "podinfo" });
      const conditions = (stored?.object.status as { conditions?: { type: string; status: string }[] } | undefined)
        ?.conditions;
      return conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    };
    for (let step = 0; !(await ready()); step++) {
      if (step > 60 || pending.length === 0) throw new Error("the HelmRelease did not become Ready");
      progress(`aws-cost: installing the HelmRelease, step ${step + 1}`);
      const from = meter.sent.length;
      await work(pending.shift()!);
      for (const sent of meter.sent.slice(from))
        if (/"key":"Helm/.test(sent.body) && !pending.includes(sent.body)) pending.push(sent.body);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the kubelet stand-in's turn
    }
    const chartKey = (
      JSON.parse(meter.sent.findLast((m) => m.body.includes('"key":"HelmChart/'))!.body) as { key: string }
    ).key;
    for (let round = 0; round <= iterations; round++) {
      progress(`aws-cost: HelmRelease no-ops, round ${round}/${iterations}`);
      const keep = (list: Sample[], sample: Sample) => round > 0 && list.push(sample);
      keep(samples.helmRepositoryNoop, await work(lastSent(config.delayUrl, helmKeys.repository)));
      keep(samples.helmChartNoop, await work(lastSent(config.delayUrl, chartKey)));
      keep(samples.helmReleaseNoop, await work(lastSent(config.delayUrl, helmKeys.release)));
    }
  } finally {
    await kubelet.stop();
  }

  // The tick: idle minutes, then minutes with due requests, then a batch of delayed requeues to forward.
  const index = new DueIndex(s3, bucket);
  let now = Date.now() + 3_600_000; // past every schedule the rounds made
  const tick = (event: Parameters<typeof handleTick>[0]) =>
    measure(() => handleTick(event, tickClients, config, now, metrics));
  await tick({ source: "aws.events" }); // sets the cursor
  const idle: Sample[] = [];
  const due: Sample[] = [];
  const delayed: Sample[] = [];
  const DUE = 10;
  const delayedBodies = meter.sent.filter((m) => m.queueUrl === config.delayUrl).map((m) => m.body);
  for (let round = 0; round < iterations; round++) {
    progress(`aws-cost: tick, round ${round + 1}/${iterations}`);
    now += 60_000;
    idle.push(await tick({ source: "aws.events" }));
    now += 60_000;
    for (let i = 0; i < DUE; i++)
      await index.schedule({ key: `Kustomization/${ns.name}/app-${i}`, reason: "interval" }, now);
    due.push(await tick({ source: "aws.events" }));
    const batch = delayedBodies.slice(0, DUE).map((body) => ({ body }) as SQSRecord);
    delayed.push(await tick({ Records: batch } as SQSEvent));
  }
  const tickIdle = combine(idle);

  const sizes = async (prefix: string) => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const objects = listed.Contents ?? [];
    return objects.reduce((n, o) => n + (o.Size ?? 0), 0) / Math.max(1, objects.length);
  };
  await ns.remove();
  return {
    measuredOn: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}, moto ${aws.version}, kube-apiserver ${kube.version}`,
    iterations,
    worker: {
      gitNoop: combine(samples.gitNoop),
      gitNewCommit: combine(samples.gitNewCommit),
      kustomizationNoop: combine(samples.kustomizationNoop),
      kustomizationApply: combine(samples.kustomizationApply),
      helmRepositoryNoop: combine(samples.helmRepositoryNoop),
      helmChartNoop: combine(samples.helmChartNoop),
      helmReleaseNoop: combine(samples.helmReleaseNoop),
    },
    tickIdle,
    tickPerDue: scale(beyond(combine(due), tickIdle), 1 / DUE),
    tickPerDelayed: scale(combine(delayed), 1 / DUE),
    webhook: combine(samples.webhook),
    customMetrics: distinctMetrics(stdout.emf),
    storeObjectBytes: await sizes("store/"),
    artifactBytes: await sizes("artifacts/"),
    initMs,
  };
}
