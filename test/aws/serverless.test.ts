import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { stringify } from "yaml";
import { DueIndex } from "../../src/aws/due-index.js";
import type { SqsQueue } from "../../src/aws/sqs-queue.js";
import { getObject, jsonPatch } from "../../src/apply/objects-api.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import type { WebhookPorts } from "../../src/notify/deliveries.js";
import { type AwsConfig, logEvents } from "../../src/runtime/lambda/config.js";
import { handleTick } from "../../src/runtime/lambda/tick.js";
import { webhookPorts, handleWebhook } from "../../src/runtime/lambda/webhook.js";
import { awsClients, awsRuntime, type AwsClients, handleWorkerEvent } from "../../src/runtime/lambda/worker.js";
import { systemClock } from "../../src/ports/clock.js";
import { powertoolsLog } from "../../src/ports/log.js";
import { applyToStore } from "../../src/store/objects.js";
import { adminCluster, configMap } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { freshNamespace } from "../env/kube-client.js";
import { startKubelet } from "../env/kubelet.js";
import { pushOciArtifact } from "../env/oci.js";

const run = promisify(execFile);
const { aws, kube, git, helmRepo, registry } = inject("testbed");
const id = randomBytes(3).toString("hex");
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
let config: AwsConfig;
let clients: AwsClients;
let runtime: ReconcilerPorts & { queue: SqsQueue };
/** The webhook function's ports: S3 and SQS only. */
let webhook: WebhookPorts;
let dlqUrl: string;
let ns: { name: string; remove(): Promise<void> };
const logger = new Logger({ serviceName: "sluice-test", logLevel: "WARN" });
const metrics = new Metrics({ namespace: "SluiceTest", serviceName: "sluice-test" });
const token = "github-webhook-secret";
let reconciles = 0;
/** EMF lines Powertools Metrics writes to stdout, as CloudWatch would ingest them. */
const emf: Record<string, unknown>[] = [];

beforeAll(async () => {
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array, encoding?: BufferEncoding) => {
    const text = chunk.toString();
    if (!text.startsWith('{"_aws"')) return write(chunk, encoding);
    emf.push(JSON.parse(text) as Record<string, unknown>);
    return true;
  });
  ns = await freshNamespace(kube, "aws");
  const base = { region: aws.region, endpoint: aws.endpoint, credentials };
  const s3 = new S3Client({ ...base, forcePathStyle: true });
  const sqs = new SQSClient(base);
  const sm = new SecretsManagerClient(base);
  const bucket = `sluice-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: `sluice-dlq-${id}.fifo`, Attributes: { FifoQueue: "true" } }),
  );
  dlqUrl = dlq.QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] })))
    .Attributes!.QueueArn!;
  const fifo = await sqs.send(
    new CreateQueueCommand({
      QueueName: `sluice-${id}.fifo`,
      Attributes: {
        FifoQueue: "true",
        VisibilityTimeout: "30",
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
      },
    }),
  );
  const delay = await sqs.send(new CreateQueueCommand({ QueueName: `sluice-delay-${id}` }));
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
  config = {
    region: aws.region,
    bucket,
    fifoUrl: fifo.QueueUrl!,
    delayUrl: delay.QueueUrl!,
    cluster: `kubeconfig:sluice/cluster-${id}`,
    endpoint: aws.endpoint,
    credentials,
    settings: { healthPollMs: 1_000, allowPrivateNetworks: true },
  }; // the test bed's Git server is on loopback
  clients = awsClients(config);
  runtime = await awsRuntime(config, clients, powertoolsLog(logger), logEvents(logger), systemClock);
  webhook = webhookPorts(config, powertoolsLog(logger));
});

afterAll(async () => {
  await ns?.remove();
});

/** What Lambda's SQS event source does: receive up to 10, invoke, delete what succeeded; failures return after their visibility timeout (shortened here). */
async function pollOnce(): Promise<number> {
  const { Messages = [] } = await clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: config.fifoUrl,
      MaxNumberOfMessages: 10,
      AttributeNames: ["All"],
      VisibilityTimeout: 30,
    }),
  );
  if (Messages.length > 0) {
    const records = Messages.map((m): SQSRecord => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      attributes: m.Attributes as never,
      messageAttributes: {},
      md5OfBody: m.MD5OfBody!,
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:sluice.fifo",
      awsRegion: aws.region,
    }));
    const response = await handleWorkerEvent({ Records: records } as SQSEvent, {
      runtime,
      metrics,
      logger,
      deadLetters: { sqs: clients.sqs, url: dlqUrl },
    });
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    reconciles += records.length - failed.size;
    for (const m of Messages) {
      if (failed.has(m.MessageId!))
        await clients.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: config.fifoUrl,
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: 0,
          }),
        );
      else
        await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: config.fifoUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  // The tick function as the delay queue's consumer: forward what is due (delays here are a few seconds).
  const delayed = await clients.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: config.delayUrl, MaxNumberOfMessages: 10 }),
  );
  for (const m of delayed.Messages ?? []) {
    await handleTick({ Records: [{ body: m.Body! } as SQSRecord] }, clients, config, Date.now());
    await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: config.delayUrl, ReceiptHandle: m.ReceiptHandle! }));
  }
  return Messages.length;
}

async function drainUntil(what: string, done: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if ((await pollOnce()) === 0) await new Promise((r) => setTimeout(r, 200));
  }
}

const statusOf = async (kind: string, name: string) =>
  ((await runtime.store.get({ kind, namespace: ns.name, name }))?.object.status ?? {}) as {
    lastAppliedRevision?: string;
    webhookPath?: string;
    conditions?: { type: string; status: string }[];
  };
const app = (value: string) => ({
  "deploy/cm.yaml": stringify(configMap("settings", { value }, { namespace: ns.name })),
});
const liveValue = async () => {
  const admin = await adminCluster(kube);
  const cm = await getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, "settings");
  return (cm?.data as { value?: string } | undefined)?.value;
};
const signedPush = (sha: string, delivery: string) => {
  const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
  return {
    path: "",
    method: "POST",
    isBase64Encoded: false,
    body,
    headers: {
      "x-github-event": "push",
      "x-github-delivery": delivery,
      "x-hub-signature-256": `sha256=${createHmac("sha256", token).update(body).digest("hex")}`,
    },
  };
};

describe(`serverless runtime: webhook → SQS FIFO → worker, S3 state (${aws.version}, kube-apiserver ${kube.version})`, () => {
  let repo: string;
  let webhookPath: string;

  it("reconciles registered objects from S3 through the FIFO queue, with Secrets Manager credentials", async () => {
    // Arrange
    repo = `${ns.name}-aws`;
    const url = await createRepo(git, repo);
    await pushTree(git, repo, { files: app("one") });
    const store = runtime.store;
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "app", namespace: ns.name },
      spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    await applyToStore(store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: ns.name },
      spec: { interval: "10m", path: "./deploy", prune: true, sourceRef: { kind: "GitRepository", name: "app" } },
    });
    await applyToStore(store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1",
      kind: "Receiver",
      metadata: { name: "github", namespace: ns.name },
      spec: {
        type: "github",
        events: ["push"],
        secretRef: { name: "hook-token" },
        resources: [{ kind: "GitRepository", name: "app" }],
      },
    });
    // Act
    for (const kind of ["Receiver/github", "GitRepository/app", "Kustomization/app"])
      await runtime.queue.enqueue({ key: `${kind.split("/")[0]}/${ns.name}/${kind.split("/")[1]}`, reason: "created" });
    await drainUntil(
      "Kustomization Ready",
      async () =>
        (await statusOf("Kustomization", "app")).conditions?.some((c) => c.type === "Ready" && c.status === "True") ??
        false,
    );
    // Assess
    expect(await liveValue()).toBe("one");
    webhookPath = (await statusOf("Receiver", "github")).webhookPath!;
    expect(webhookPath).toMatch(/^\/hook\/[0-9a-f]{64}$/);
  }, 60_000);

  it("applies a signed GitHub push: 202 from the webhook, then fetched and applied by the worker (in a fresh container)", async () => {
    // A new container knows nothing in memory: the source must wake its Kustomization through S3.
    runtime = await awsRuntime(config, clients, powertoolsLog(logger), logEvents(logger), systemClock);
    const sha = await pushTree(git, repo, { files: app("two") });
    const started = Date.now();
    const answer = await handleWebhook({ ...signedPush(sha, `delivery-${id}-1`), path: webhookPath }, webhook);
    expect(answer.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(1_000);
    await drainUntil(
      "the push applied",
      async () => (await statusOf("Kustomization", "app")).lastAppliedRevision === `main@sha1:${sha}`,
    );
    expect(await liveValue()).toBe("two");
  }, 60_000);

  it("answers a redelivered GitHub delivery 200 without enqueueing again, and refuses a bad signature", async () => {
    const before = reconciles;
    const again = await handleWebhook({ ...signedPush("x", `delivery-${id}-1`), path: webhookPath }, webhook);
    const forged = await handleWebhook(
      {
        ...signedPush("x", `delivery-${id}-2`),
        path: webhookPath,
        headers: { ...signedPush("x", "d").headers, "x-hub-signature-256": "sha256=00" },
      },
      webhook,
    );
    await pollOnce();
    expect(again).toEqual({ status: 200, body: "already handled\n" });
    expect(forged.status).toBe(400);
    expect(reconciles).toBe(before);
  });

  it("reverts drift when the tick brings the object's due requeue", async () => {
    const admin = await adminCluster(kube);
    await jsonPatch(
      admin,
      (await admin.discovery.find("v1", "ConfigMap"))!,
      ns.name,
      "settings",
      [{ op: "replace", path: "/data/value", value: "edited" }],
      "kubectl-edit",
    );
    await new DueIndex(clients.s3, config.bucket).schedule(
      { key: `Kustomization/${ns.name}/app`, reason: "interval" },
      Date.now(),
    );
    const { forwarded } = await handleTick({ source: "aws.events" }, clients, config, Date.now());
    expect(forwarded).toBeGreaterThanOrEqual(1);
    await drainUntil("drift reverted", async () => (await liveValue()) === "two");
    // One EMF record for the reconcile: the dispatcher's figures by kind and result and for all kinds, the outcome's.
    const record = emf.find((e) => e.kind === "Kustomization" && e.DriftCorrected === 1);
    expect(record).toMatchObject({
      result: "requeue_after",
      name: "app",
      namespace: ns.name,
      ObjectsApplied: 1,
      Reconciles: 1,
      ReconcileErrors: 0,
      ReconcileDuration: expect.any(Number),
    });
    const [directive] = (record as { _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: unknown[] }[] } })
      ._aws.CloudWatchMetrics;
    expect(directive!.Dimensions).toEqual([["service", "kind", "result"], ["service"]]);
    expect(directive!.Metrics).toEqual(
      expect.arrayContaining(
        [
          ["ReconcileDuration", "Milliseconds"],
          ["Reconciles", "Count"],
          ["ReconcileErrors", "Count"],
        ].map(([Name, Unit]) => ({ Name, Unit })),
      ),
    );
  }, 60_000);

  it("the tick reports each agent cluster's last contact as EMF, from S3's time of its heartbeat", async () => {
    // Arrange: a heartbeat whose content claims the future (a forged or skewed clock); S3's own time is what counts.
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: `status/edge-${id}/agent.json`,
        Body: JSON.stringify({ cluster: `edge-${id}`, version: "0", lastContact: "2999-01-01T00:00:00Z", bundles: 0 }),
      }),
    );
    const seen = emf.length;
    // Act: the scheduled tick, two minutes later.
    await handleTick(
      { source: "aws.events" },
      clients,
      { ...config, agentClusters: [`edge-${id}`, `never-${id}`] },
      Date.now() + 120_000,
      metrics,
    );
    // Assess
    const contact = emf.slice(seen).filter((e) => "AgentLastContactAge" in e);
    expect(contact).toEqual([expect.objectContaining({ cluster: `edge-${id}`, service: "sluice-test" })]);
    expect(contact[0]!.AgentLastContactAge).toBeGreaterThanOrEqual(115);
    expect(contact[0]!.AgentLastContactAge).toBeLessThanOrEqual(130);
    expect(JSON.stringify(contact[0]!._aws)).toContain('"Name":"AgentLastContactAge","Unit":"Seconds"');
  });

  it("sends a poison message to the FIFO dead-letter queue at once, so the requests behind it in its group go on", async () => {
    // Arrange: the poison message sits in front of a real request of the same group.
    const key = `GitRepository/${ns.name}/app`;
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: config.fifoUrl,
        MessageBody: "not a request",
        MessageGroupId: key,
        MessageDeduplicationId: `poison-${id}`,
      }),
    );
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: config.fifoUrl,
        MessageBody: JSON.stringify({ key, reason: "after-poison" }),
        MessageGroupId: key,
        MessageDeduplicationId: `after-${id}`,
      }),
    );
    const before = reconciles;
    // Act
    await pollOnce();
    // Assess
    const dead = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, AttributeNames: ["All"] }),
    );
    expect(dead.Messages?.map((m) => [m.Body, m.Attributes?.MessageGroupId])).toEqual([["not a request", key]]);
    expect(reconciles - before).toBe(2);
  }, 30_000);

  it("redelivers a request whose worker died mid-reconcile, and converges", async () => {
    const sha = await pushTree(git, repo, { files: app("three") });
    await runtime.queue.enqueue({ key: `GitRepository/${ns.name}/app`, reason: "webhook" });
    // A worker takes the message and dies: no delete, no failure report; the visibility timeout runs out.
    const taken = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: config.fifoUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 2 }),
    );
    expect(taken.Messages).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2_500));
    await drainUntil(
      "the push applied after redelivery",
      async () => (await statusOf("Kustomization", "app")).lastAppliedRevision === `main@sha1:${sha}`,
    );
    expect(await liveValue()).toBe("three");
  }, 60_000);

  it("the CLI registers a fleet in the deployed control plane (--aws-bucket, --aws-queue-url) and shows its status", async () => {
    // Arrange
    const fleet = `${ns.name}-cli`;
    const url = await createRepo(git, fleet);
    await pushTree(git, fleet, {
      files: { "clusters/dev/cm.yaml": stringify(configMap("from-cli", { v: "1" }, { namespace: ns.name })) },
    });
    const env = {
      ...process.env,
      SLUICE_AWS_ENDPOINT: aws.endpoint,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
    };
    const sluice = (...args: string[]) =>
      run(
        process.execPath,
        [
          "bin/sluice.js",
          "--aws-bucket",
          config.bucket,
          "--aws-queue-url",
          config.fifoUrl,
          "-n",
          `${ns.name}-fleet`,
          ...args,
        ],
        { env },
      );
    // Act
    await sluice(
      "bootstrap",
      "git",
      "--url",
      url,
      "--branch",
      "main",
      "--path",
      "clusters/dev",
      "--username",
      git.username,
      "--password",
      git.password,
    );
    await drainUntil("the CLI's fleet Ready", async () =>
      (await sluice("get", "kustomizations")).stdout.includes("True"),
    );
    // Assess
    expect((await sluice("get", "kustomizations")).stdout).toMatch(
      /flux-system\s+main@sha1:[0-9a-f]{40}\s+False\s+True\s+Applied revision/,
    );
    const admin = await adminCluster(kube);
    expect(await getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, "from-cli")).toBeDefined();
  }, 90_000);
});

describe(`serverless runtime: a HelmRelease through the worker function (${aws.version}, kube-apiserver ${kube.version})`, () => {
  it("installs Flux's getting-started HelmRelease from S3 state through the FIFO queue, health polled by requeues", async () => {
    // Arrange: the chart from the test bed's Helm repository, pods made Ready by the kubelet stand-in.
    const kubelet = await startKubelet(kube, { namespaces: [ns.name] });
    try {
      const store = runtime.store;
      await applyToStore(store, {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "HelmRepository",
        metadata: { name: "podinfo", namespace: ns.name },
        spec: { interval: "10m", url: helmRepo.url },
      });
      await applyToStore(store, {
        apiVersion: "helm.toolkit.fluxcd.io/v2",
        kind: "HelmRelease",
        metadata: { name: "podinfo", namespace: ns.name },
        spec: {
          interval: "5m",
          chart: {
            spec: { chart: "podinfo", version: "6.9.x", sourceRef: { kind: "HelmRepository", name: "podinfo" } },
          },
          values: { replicaCount: 2 },
          install: { remediation: { retries: 3 } },
        },
      });
      // Act
      for (const key of [`HelmRepository/${ns.name}/podinfo`, `HelmRelease/${ns.name}/podinfo`])
        await runtime.queue.enqueue({ key, reason: "created" });
      await drainUntil(
        "HelmRelease Ready",
        async () =>
          (await statusOf("HelmRelease", "podinfo")).conditions?.some(
            (c) => c.type === "Ready" && c.status === "True",
          ) ?? false,
        60_000,
      );
      // Assess: Helm's storage holds the release the worker made.
      const admin = await adminCluster(kube);
      const secrets = await admin.client.send<{
        items: { metadata: { name: string; labels: Record<string, string> } }[];
      }>({
        method: "GET",
        path: `/api/v1/namespaces/${ns.name}/secrets`,
        query: { labelSelector: "owner=helm,name=podinfo" },
      });
      expect(secrets.items.map((s) => [s.metadata.name, s.metadata.labels.status])).toEqual([
        ["sh.helm.release.v1.podinfo.v1", "deployed"],
      ]);
    } finally {
      await kubelet.stop();
    }
  }, 90_000);
});

describe(`serverless runtime: an OCIRepository through the worker function (${aws.version}, ${registry.version})`, () => {
  it("pulls a pushed artifact into S3 and applies it through a Kustomization, as locally", async () => {
    // Arrange
    const files = {
      "deploy/cm.yaml": stringify(configMap("oci-settings", { value: "from-oci" }, { namespace: ns.name })),
    };
    const digest = await pushOciArtifact(registry.host, `${ns.name}/manifests`, "v1", files);
    await applyToStore(runtime.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "OCIRepository",
      metadata: { name: "manifests", namespace: ns.name },
      spec: { interval: "10m", url: `oci://${registry.host}/${ns.name}/manifests`, ref: { tag: "v1" } },
    });
    await applyToStore(runtime.store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "from-oci", namespace: ns.name },
      spec: { interval: "10m", path: "./deploy", prune: true, sourceRef: { kind: "OCIRepository", name: "manifests" } },
    });
    // Act
    for (const key of [`OCIRepository/${ns.name}/manifests`, `Kustomization/${ns.name}/from-oci`])
      await runtime.queue.enqueue({ key, reason: "created" });
    await drainUntil(
      "Kustomization from-oci Ready",
      async () =>
        (await statusOf("Kustomization", "from-oci")).conditions?.some(
          (c) => c.type === "Ready" && c.status === "True",
        ) ?? false,
    );
    // Assess: the artifact is in S3 under Flux's name, and applied
    const source = (await runtime.store.get({ kind: "OCIRepository", namespace: ns.name, name: "manifests" }))!.object
      .status as { artifact: { path: string; digest: string } };
    expect(source.artifact.path).toBe(`ocirepository/${ns.name}/manifests/${digest}.tar.gz`);
    expect(await runtime.artifacts.get(source.artifact.path, source.artifact.digest)).toBeDefined();
    expect((await statusOf("Kustomization", "from-oci")).lastAppliedRevision).toBe(`v1@${digest}`);
    const admin = await adminCluster(kube);
    const cm = await getObject(admin, (await admin.discovery.find("v1", "ConfigMap"))!, ns.name, "oci-settings");
    expect((cm?.data as { value?: string } | undefined)?.value).toBe("from-oci");
  }, 60_000);
});
