import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { CloudFormationClient, CreateStackCommand } from "@aws-sdk/client-cloudformation";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import { S3Store } from "../../src/aws/s3-store.js";
import { freePort } from "../env/process.js";

// `sluice ui --aws-bucket` against moto: a real CLI process serving the web UI on loopback over the deployed
// control plane's bucket, with the caller's credentials; the stack's outputs (found by BucketName) name its queue
// and the worker's log group.

const aws = inject("testbed").aws;
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const base = { region: aws.region, endpoint: aws.endpoint, credentials };
const s3 = new S3Client({ ...base, forcePathStyle: true });
const sqs = new SQSClient(base);
const suffix = randomBytes(4).toString("hex");
const bucket = `sluice-ui-${suffix}`;
const store = new S3Store(s3, bucket);
const key = { kind: "Kustomization", namespace: "apps", name: "podinfo" };
let queueUrl: string;
let ui: ChildProcess;
let url: string;
let output = "";

const kustomization = (name: string, ready: "True" | "False") => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "apps" },
  spec: { interval: "10m", path: "./", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } },
  status: {
    conditions: [
      {
        type: "Ready",
        status: ready,
        reason: ready === "True" ? "ReconciliationSucceeded" : "BuildFailed",
        message: "m",
      },
    ],
  },
});

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  queueUrl = (
    await sqs.send(new CreateQueueCommand({ QueueName: `jobs-${suffix}.fifo`, Attributes: { FifoQueue: "true" } }))
  ).QueueUrl!;
  const outputs = { BucketName: bucket, QueueUrl: queueUrl, EventsLogGroup: "/aws/lambda/Sluice-WorkerLogs" };
  await new CloudFormationClient(base).send(
    new CreateStackCommand({
      StackName: `Sluice-${suffix}`,
      TemplateBody: JSON.stringify({
        Resources: { Jobs: { Type: "AWS::SQS::Queue" } },
        Outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { Value: v }])),
      }),
    }),
  );
  await store.create(kustomization("podinfo", "False"));
  await store.create(kustomization("infra", "True"));
  const port = await freePort();
  ui = spawn(process.execPath, ["bin/sluice.js", "--aws-bucket", bucket, "ui", "--ui-address", `127.0.0.1:${port}`], {
    env: {
      ...process.env,
      SLUICE_AWS_ENDPOINT: aws.endpoint,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
    },
  });
  ui.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice ui did not start: ${output}`)), 90_000);
    ui.stderr!.on("data", () => {
      const started = /web UI of s3:\/\/\S+ at (http:\/\/\S+),/.exec(output);
      if (started) resolve((clearTimeout(timer), started[1]!));
    });
    ui.once("exit", (code) => reject(new Error(`sluice ui exited ${code}: ${output}`)));
  });
}, 120_000);
afterAll(() => void ui?.kill("SIGTERM"));

describe(`sluice ui --aws-bucket against ${aws.version}`, () => {
  it("serves on loopback only, the page and the overview of the bucket's Store, failing first", async () => {
    expect(new URL(url).hostname).toBe("127.0.0.1");
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/assets/app.js">');
    const answer = await fetch(`${url}/api/v1/objects`);
    expect(answer.status).toBe(200);
    const rows = (await answer.json()) as { name: string; ready: string }[];
    expect(rows.map((r) => [r.name, r.ready])).toEqual([
      ["podinfo", "False"],
      ["infra", "True"],
    ]);
  });

  it("says where an object's events are (CloudWatch Logs, the stack's log group)", async () => {
    const answer = (await (await fetch(`${url}/api/v1/objects/Kustomization/apps/podinfo`)).json()) as {
      events: { reason: string; message: string }[];
    };
    expect(answer.events).toEqual([
      expect.objectContaining({
        reason: "EventsInCloudWatchLogs",
        message: expect.stringContaining("/aws/lambda/Sluice-WorkerLogs"),
      }),
    ]);
  });

  it("reconciles as the caller's STS identity: requestedAt in S3, a message on the stack's queue, the audit line", async () => {
    const { Arn } = await new STSClient(base).send(new GetCallerIdentityCommand({}));
    const answer = await fetch(`${url}/api/v1/objects/Kustomization/apps/podinfo/reconcile`, {
      method: "POST",
      headers: { origin: url, "x-sluice-action": "1" },
    });
    expect(answer.status).toBe(202);
    const { token } = (await answer.json()) as { token: string };
    expect((await store.get(key))?.object.metadata.annotations?.[REQUESTED_AT]).toBe(token);
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 2 }));
    expect(JSON.parse(received.Messages?.[0]?.Body ?? "{}")).toMatchObject({
      key: "Kustomization/apps/podinfo",
      reason: "requested",
    });
    expect(output).toContain(`Kustomization/apps/podinfo ReconcileRequested: reconcile requested by ${Arn}`);
  });

  it("refuses a page of another name (DNS rebinding) and a cross-site form's POST", async () => {
    const rebound = await new Promise<number>((resolve, reject) =>
      httpRequest(`${url}/api/v1/objects`, { headers: { host: "attacker.example:80" } }, (res) =>
        resolve(res.statusCode!),
      )
        .on("error", reject)
        .end(),
    );
    expect(rebound).toBe(421);
    const form = await fetch(`${url}/api/v1/objects/Kustomization/apps/podinfo/suspend`, {
      method: "POST",
      headers: { origin: "https://attacker.example", "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(403);
    expect((await store.get(key))?.object.spec).not.toHaveProperty("suspend");
  });

  it("tells an open page when the Store in S3 changes (live stream fed by listing the bucket)", async () => {
    const controller = new AbortController();
    const stream = await fetch(`${url}/api/v1/live`, { signal: controller.signal });
    expect(stream.headers.get("content-type")).toBe("text/event-stream");
    const reader = stream.body!.getReader();
    let seen = "";
    const changed = (async () => {
      while (!seen.includes("event: change")) seen += new TextDecoder().decode((await reader.read()).value);
    })();
    // The first listing is the baseline; a change after it is what the page hears about.
    await new Promise((r) => setTimeout(r, 1_500));
    await store.create(kustomization("late", "True"));
    await Promise.race([
      changed,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no change event: ${seen}`)), 30_000)),
    ]);
    controller.abort();
    expect(seen).toContain("event: change");
  });
});
