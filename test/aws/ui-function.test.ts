import { randomBytes } from "node:crypto";
import { Logger } from "@aws-lambda-powertools/logger";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cognitoKeys } from "../../src/aws/cognito-token.js";
import { S3Store } from "../../src/aws/s3-store.js";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { Log } from "../../src/ports/log.js";
import { uiFunction, uiPorts, type UiFunction, type UiHttpRequest } from "../../src/runtime/lambda/ui.js";
import { startTestIssuer, type TestIssuer } from "./cognito-issuer.js";

// The UI's API function (functions/ui) against moto: the S3 Store, the Jobs and Notifications FIFO queues, and a
// loopback stand-in for the Cognito pool's keys. Requests arrive as API Gateway hands them over behind CloudFront:
// Host is the API's execute-api name, Origin the page's CloudFront address.

const aws = inject("testbed").aws;
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const base = { region: aws.region, endpoint: aws.endpoint, credentials };
const s3 = new S3Client({ ...base, forcePathStyle: true });
const sqs = new SQSClient(base);
const suffix = randomBytes(3).toString("hex");
const bucket = `ui-${suffix}`;
const page = "https://d111111abcdef8.cloudfront.net";
const apiHost = "abc123.execute-api.eu-west-1.amazonaws.com";
const refusals: Record<string, unknown>[] = [];
const log: Log = {
  info: () => {},
  warn: (fields) => void refusals.push(fields),
  error: () => {},
  child: () => log,
};

let pool: TestIssuer;
let ui: UiFunction;
let jobsUrl: string;
let notifyUrl: string;
const store = new S3Store(s3, bucket);

const request = (path: string, headers: Record<string, string> = {}, method = "GET"): UiHttpRequest => ({
  method,
  rawPath: path,
  rawQueryString: "",
  headers: { host: apiHost, ...headers },
  domainName: apiHost,
});
const kustomization = (name: string) => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "apps" },
  spec: { interval: "10m", path: "./", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } },
  status: {
    conditions: [
      {
        type: "Ready",
        status: "False",
        reason: "BuildFailed",
        message: "kustomize build failed",
        lastTransitionTime: "2026-12-02T04:00:00Z",
      },
    ],
  },
});

beforeAll(async () => {
  pool = await startTestIssuer();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const fifo = (name: string) =>
    sqs.send(new CreateQueueCommand({ QueueName: `${name}-${suffix}.fifo`, Attributes: { FifoQueue: "true" } }));
  jobsUrl = (await fifo("jobs")).QueueUrl!;
  notifyUrl = (await fifo("notify")).QueueUrl!;
  await store.create(kustomization("podinfo"));
  const config = {
    region: aws.region,
    bucket,
    fifoUrl: jobsUrl,
    delayUrl: "",
    cluster: "",
    notifyUrl,
    endpoint: aws.endpoint,
  };
  const ports = uiPorts(
    { ...config, eventsLogGroup: "/aws/lambda/Sluice-Worker" },
    new Logger({ logLevel: "SILENT" }),
    {
      s3,
      sqs,
    },
  );
  const audience = { issuer: pool.issuer, clientId: pool.clientId };
  ui = uiFunction({ aws: config, audience, origin: page }, ports, await cognitoKeys(pool.issuer), log);
});
afterAll(() => pool.close());

describe(`UI API function against ${aws.version}`, () => {
  it("refuses unauthenticated requests with 401 before reading anything: no token, forged, expired, another client", async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      undefined,
      await pool.token("mallory", { key: pool.strangerKey }),
      await pool.token("alice", { claims: { iat: now - 7200, exp: now - 1 } }),
      await pool.token("alice", { claims: { client_id: "someone-elses-app" } }),
    ];
    for (const token of tokens) {
      const answer = await ui.handle(request("/api/v1/objects", token ? { authorization: `Bearer ${token}` } : {}));
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe("Bearer");
      expect(answer.body).not.toContain("podinfo");
    }
    // Logged with the reason, never the token.
    expect(refusals).toHaveLength(4);
    expect(JSON.stringify(refusals)).not.toMatch(/eyJ/);
  });

  it("refuses an unauthenticated action, which changes nothing", async () => {
    const answer = await ui.handle(
      request("/api/v1/objects/Kustomization/apps/podinfo/suspend", { origin: page, "x-sluice-action": "1" }, "POST"),
    );
    expect(answer.status).toBe(401);
    expect(
      (await store.get({ kind: "Kustomization", namespace: "apps", name: "podinfo" }))?.object.spec,
    ).not.toHaveProperty("suspend");
  });

  it("answers an authenticated reader with the overview from the S3 Store", async () => {
    const token = await pool.token("alice");
    const answer = await ui.handle(request("/api/v1/objects", { authorization: `Bearer ${token}` }));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual([
      expect.objectContaining({
        kind: "Kustomization",
        namespace: "apps",
        name: "podinfo",
        ready: "False",
        reason: "BuildFailed",
      }),
    ]);
  });

  it("says where events are on AWS instead of an empty list", async () => {
    const token = await pool.token("alice");
    const answer = await ui.handle(
      request("/api/v1/objects/Kustomization/apps/podinfo", { authorization: `Bearer ${token}` }),
    );
    expect(answer.status).toBe(200);
    const { events } = JSON.parse(answer.body) as { events: { reason: string; message: string }[] };
    expect(events).toEqual([
      expect.objectContaining({
        reason: "EventsInCloudWatchLogs",
        message: expect.stringContaining("/aws/lambda/Sluice-Worker"),
      }),
    ]);
  });

  it("reconciles on an authenticated action from the page: the Store's request, a Jobs message, and an audit event naming the token's user", async () => {
    const token = await pool.token("alice");
    const headers = {
      authorization: `Bearer ${token}`,
      origin: page,
      "sec-fetch-site": "same-origin",
      "x-sluice-action": "1",
    };
    const answer = await ui.handle(request("/api/v1/objects/Kustomization/apps/podinfo/reconcile", headers, "POST"));
    expect(answer.status).toBe(202);
    const stored = await store.get({ kind: "Kustomization", namespace: "apps", name: "podinfo" });
    expect(stored?.object.metadata.annotations?.[REQUESTED_AT]).toBe(
      (JSON.parse(answer.body) as { token: string }).token,
    );
    const job = await sqs.send(new ReceiveMessageCommand({ QueueUrl: jobsUrl, WaitTimeSeconds: 1 }));
    expect(JSON.parse(job.Messages?.[0]?.Body ?? "{}")).toMatchObject({
      key: "Kustomization/apps/podinfo",
      reason: "requested",
    });
    const audit = await sqs.send(new ReceiveMessageCommand({ QueueUrl: notifyUrl, WaitTimeSeconds: 1 }));
    expect(JSON.parse(audit.Messages?.[0]?.Body ?? "{}")).toMatchObject({
      event: {
        reason: "ReconcileRequested",
        message: expect.stringContaining("cognito:alice"),
        metadata: { "sluice.dev/actor": "cognito:alice" },
      },
    });
  });

  it("refuses an authenticated action from another site's page (the router's origin check still applies)", async () => {
    const token = await pool.token("alice");
    const headers = { authorization: `Bearer ${token}`, origin: "https://evil.example", "x-sluice-action": "1" };
    const answer = await ui.handle(request("/api/v1/objects/Kustomization/apps/podinfo/suspend", headers, "POST"));
    expect(answer.status).toBe(403);
    expect(
      (await store.get({ kind: "Kustomization", namespace: "apps", name: "podinfo" }))?.object.spec,
    ).not.toHaveProperty("suspend");
  });
});
