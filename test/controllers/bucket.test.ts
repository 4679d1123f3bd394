import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Bucket } from "../../src/api/bucket.js";
import { extractArchive } from "../../src/artifacts/extract.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { runtimeAwsIdentity } from "../../src/aws/identity.js";
import { readEvents } from "../../src/notify/file-events.js";
import { bucketS3Client } from "../../src/sources/bucket/s3-client.js";
import { downloadObjects } from "../../src/sources/bucket/download.js";
import { listBucket } from "../../src/sources/bucket/listing.js";
import { applyToStore } from "../../src/store/objects.js";
import { startAuthMoto, type AuthMoto } from "../env/aws-auth.js";
import { front, sourceRuntime } from "../security/source-helpers.js";

// Bucket sources against moto's S3 (the test bed's, which takes any keys, and one that checks them),
// reached directly or through a loopback front that counts and records requests. Reconciled through
// dispatch, as every runtime does.

const aws = inject("testbed").aws;
const motoHost = new URL(aws.endpoint).host;
const s3 = new S3Client({
  endpoint: aws.endpoint,
  region: aws.region,
  forcePathStyle: true,
  credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
});
let ports: ReconcilerPorts;
let eventsFile: string;
const secrets = new Map<string, Record<string, string>>();
const closers: (() => unknown)[] = [];
let serial = 0;

beforeAll(async () => {
  ({ rt: ports, eventsFile } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
  ports.secrets = {
    secret: async ({ namespace, name }) => secrets.get(`${namespace}/${name}`),
    configMap: async () => undefined,
  };
  secrets.set("apps/keys", { accesskey: aws.accessKeyId, secretkey: aws.secretAccessKey });
});
afterAll(async () => {
  for (const close of closers) await close();
  s3.destroy();
});

type Status = NonNullable<Bucket["status"]>;
const condition = (status: Status, type: string) => status.conditions?.find((c) => c.type === type);

/** A new bucket on the test bed's moto holding `objects`. */
async function makeBucket(objects: Record<string, string>, client = s3): Promise<string> {
  const name = `sluice-bucket-${process.pid}-${serial++}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  for (const [key, body] of Object.entries(objects)) await put(name, key, body, client);
  return name;
}

const put = (bucket: string, key: string, body: string, client = s3) =>
  client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

async function reconcile(name: string, spec: Partial<Bucket["spec"]> & { bucketName: string }, generation = 1) {
  await applyToStore(ports.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "Bucket",
    metadata: { name, namespace: "apps", generation },
    spec: { interval: "5m", endpoint: motoHost, insecure: true, secretRef: { name: "keys" }, ...spec },
  });
  const outcome = await dispatch(ports, { key: `Bucket/apps/${name}`, reason: "interval" });
  const status = outcome!.status as Status;
  const events = (await readEvents(eventsFile)).filter(
    (e) => e.involvedObject.kind === "Bucket" && e.involvedObject.name === name,
  );
  return { status, events };
}

/** The files of a stored artifact, path → content. */
async function filesOf(status: Status): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-bucket-out-"));
  await extractArchive((await ports.artifacts.get(status.artifact!.path))!, dir);
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files[path.slice(dir.length + 1)] = await readFile(path, "utf8");
    }
  return files;
}

/** Flux's revision, computed here from moto's own listing: sha256 over sorted `<key> <etag>\n` lines. */
async function fluxRevision(bucket: string, keys: string[]): Promise<string> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const etags = new Map((listed.Contents ?? []).map((o) => [o.Key!, o.ETag!.replaceAll('"', "")]));
  const lines = [...keys].sort().map((key) => `${key} ${etags.get(key)}\n`);
  return `sha256:${createHash("sha256").update(lines.join("")).digest("hex")}`;
}

/** A counting front before moto that keeps each request's method, path and headers. */
async function countingFront() {
  const seen: { method: string; url: string; headers: IncomingMessage["headers"] }[] = [];
  const proxy = await front(aws.endpoint, (req) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    return false;
  });
  closers.push(proxy.close);
  return { endpoint: `127.0.0.1:${proxy.port}`, seen };
}

const CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n";

describe(`Bucket (source-controller's Bucket on moto's S3, ${aws.version})`, () => {
  describe("a hostile bucket", () => {
    it.each([
      ["../escape.yaml", "a '..' segment"],
      ["deploy/../../escape.yaml", "a '..' segment"],
      ["/etc/cron.d/evil", "an absolute path"],
      ["deploy//cm.yaml", "an empty segment ('//')"],
      ["deploy/./cm.yaml", "a '.' segment"],
      ["deploy\\..\\escape.yaml", "a backslash"],
      ["deploy/\u0000cm.yaml", "a control character"],
    ])("refuses the key %j before downloading anything: nothing stored, Ready=False", async (key, why) => {
      // Prepare
      const bucket = await makeBucket({ "deploy/cm.yaml": CONFIG_MAP, [key]: "kind: Secret\n" });
      const { endpoint, seen } = await countingFront();
      // Act
      const { status, events } = await reconcile(`hostile-${serial}`, { bucketName: bucket, endpoint });
      // Assess
      const message = condition(status, "Ready")!.message;
      expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "BucketOperationFailed" });
      expect(message).toContain(`of '${bucket}' bucket: ${why}`);
      expect(condition(status, "FetchFailed")).toMatchObject({ status: "True", reason: "BucketOperationFailed" });
      expect(status.artifact).toBeUndefined();
      expect(seen.map((r) => r.method)).toEqual(["GET"]); // the listing, no object
      expect(events.at(-1)).toMatchObject({ severity: "error", reason: "BucketOperationFailed" });
    });

    it("refuses keys that would be both a file and a folder of the artifact (`app` and `app/cm.yaml`)", async () => {
      const bucket = await makeBucket({ app: "a file", "app/cm.yaml": CONFIG_MAP });
      const { status } = await reconcile("collide", { bucketName: bucket });
      expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "BucketOperationFailed" });
      expect(condition(status, "Ready")!.message).toBe(`keys 'app/cm.yaml' and 'app' of '${bucket}' bucket collide`);
      expect(status.artifact).toBeUndefined();
    });

    it("refuses a bucket over the object or byte bounds from its listing alone, and bounds the bytes received", async () => {
      // Prepare
      const bucket = await makeBucket({ "a.yaml": "a".repeat(600), "b.yaml": "b".repeat(600), "c.yaml": "c" });
      const { endpoint, seen } = await countingFront();
      const credentials = { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey };
      const client = bucketS3Client({ endpoint, insecure: true, credentials, network: { allowPrivateNetworks: true } });
      closers.push(() => client.destroy());
      const list = (limits: { maxListed: number; maxObjects: number; maxBytes: number }) =>
        listBucket(client, `bounds/${bucket}`, {
          bucketName: bucket,
          signal: AbortSignal.timeout(10_000),
          limits,
          ignoreCache: new Map(),
        });
      // Act
      const failure = (limits: Parameters<typeof list>[0]) =>
        list(limits).then(
          () => "listed",
          (e: Error) => e.message,
        );
      const objects = await failure({ maxListed: 100, maxObjects: 2, maxBytes: 1 << 20 });
      const bytes = await failure({ maxListed: 100, maxObjects: 10, maxBytes: 1000 });
      const listed = await failure({ maxListed: 2, maxObjects: 10, maxBytes: 1 << 20 });
      // Assess
      expect(objects).toBe(`bucket '${bucket}' holds more than 2 objects to fetch`);
      expect(bytes).toBe(`objects of '${bucket}' bucket exceed 1000 bytes`);
      expect(listed).toBe(`listing of '${bucket}' bucket exceeds 2 keys`);
      // The bytes received are bounded too, whatever the listing said: all downloads draw on one budget.
      const listing = await list({ maxListed: 100, maxObjects: 10, maxBytes: 1 << 20 });
      const limits = { maxListed: 100, maxObjects: 10, maxBytes: 1000 };
      const received = await downloadObjects(client, bucket, listing, {
        signal: AbortSignal.timeout(10_000),
        limits,
      }).then(
        () => "downloaded",
        (e: Error) => e.message,
      );
      expect(received).toMatch(
        new RegExp(`^fetch from bucket '${bucket}' failed: reading '[abc]\\.yaml' went past 1000 bytes$`),
      );
      expect(seen.filter((r) => !r.url.includes("list-type=2")).length).toBeLessThanOrEqual(3); // only the download's
    });
  });

  it("stores the objects under prefix as Flux does: .sourceignore and spec.ignore applied, revision = Flux's digest", async () => {
    // Prepare
    const bucket = await makeBucket({
      ".sourceignore": "*.md\n",
      "apps/deploy/cm.yaml": CONFIG_MAP,
      "apps/deploy/README.md": "ignored by .sourceignore",
      "apps/deploy/secret.enc": "ignored by spec.ignore",
      "apps/folder-marker/": "",
      "other/cm.yaml": "outside the prefix",
    });
    // Act
    const { status, events } = await reconcile("basic", { bucketName: bucket, prefix: "apps/", ignore: "*.enc" });
    // Assess
    const revision = await fluxRevision(bucket, ["apps/deploy/cm.yaml"]);
    expect(condition(status, "Ready")).toMatchObject({
      status: "True",
      reason: "Succeeded",
      message: `stored artifact: revision '${revision}'`,
    });
    expect(condition(status, "ArtifactInStorage")).toMatchObject({ status: "True", reason: "Succeeded" });
    expect(status.artifact).toMatchObject({ revision, path: `bucket/apps/basic/${revision.slice(7)}.tar.gz` });
    expect(status.observedIgnore).toBe("*.enc");
    expect(await filesOf(status)).toEqual({ ".sourceignore": "*.md\n", "apps/deploy/cm.yaml": CONFIG_MAP });
    expect(events.at(-1)).toMatchObject({
      severity: "info",
      reason: "NewArtifact",
      message: `stored artifact with 1 fetched files from '${bucket}' bucket`,
    });
  });

  it("costs one listing request when nothing changed, then fetches every object once something did", async () => {
    // Prepare
    const bucket = await makeBucket({
      ".sourceignore": "*.md\n",
      "deploy/cm.yaml": CONFIG_MAP,
      "deploy/two.yaml": CONFIG_MAP.replace("app", "two"),
    });
    const { endpoint, seen } = await countingFront();
    const first = await reconcile("noop", { bucketName: bucket, endpoint });
    const fetched = seen.length;
    // Act
    const again = await reconcile("noop", { bucketName: bucket, endpoint });
    const noop = seen.slice(fetched);
    await put(bucket, "deploy/cm.yaml", CONFIG_MAP.replace("app", "changed"));
    const before = seen.length;
    const changed = await reconcile("noop", { bucketName: bucket, endpoint });
    // Assess
    expect(fetched).toBe(4); // the listing, .sourceignore, two objects
    expect(noop.map((r) => `${r.method} ${r.url.split("?")[0]}`)).toEqual([`GET /${bucket}/`]);
    expect(again.status.artifact).toEqual(first.status.artifact);
    expect(again.events).toHaveLength(first.events.length); // no event for an unchanged bucket
    expect(seen.length - before).toBe(3); // the listing and both objects; .sourceignore's ETag is unchanged
    expect(changed.status.artifact!.revision).toBe(await fluxRevision(bucket, ["deploy/cm.yaml", "deploy/two.yaml"]));
    expect(changed.status.artifact!.revision).not.toBe(first.status.artifact!.revision);
    expect((await filesOf(changed.status))["deploy/cm.yaml"]).toContain("name: changed");
    expect(changed.events.at(-1)).toMatchObject({ reason: "NewArtifact" });
  });

  it("with a prefix, asks for the root .sourceignore with its ETag (304) besides the listing", async () => {
    const bucket = await makeBucket({ ".sourceignore": "*.md\n", "apps/cm.yaml": CONFIG_MAP });
    const { endpoint, seen } = await countingFront();
    await reconcile("prefixed", { bucketName: bucket, endpoint, prefix: "apps/" });
    const before = seen.length;
    const { status } = await reconcile("prefixed", { bucketName: bucket, endpoint, prefix: "apps/" });
    const noop = seen.slice(before);
    expect(noop.map((r) => `${r.method} ${r.url.split("?")[0]}`)).toEqual([
      `GET /${bucket}/`,
      `GET /${bucket}/.sourceignore`,
    ]);
    expect(noop[1]!.headers["if-none-match"]).toMatch(/^"[0-9a-f]+"$/);
    expect(condition(status, "Ready")?.status).toBe("True");
  });

  it("drops an object deleted from the bucket from the next artifact", async () => {
    const bucket = await makeBucket({ "a.yaml": CONFIG_MAP, "b.yaml": CONFIG_MAP });
    await reconcile("deleted", { bucketName: bucket });
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "b.yaml" }));
    const { status } = await reconcile("deleted", { bucketName: bucket });
    expect(Object.keys(await filesOf(status))).toEqual(["a.yaml"]);
    expect(status.artifact!.revision).toBe(await fluxRevision(bucket, ["a.yaml"]));
  });

  it("sends no credentials at all without a secretRef (generic provider: anonymous, as minio-go)", async () => {
    // Prepare: S3 serves an object to anonymous readers only when its ACL says so.
    const bucket = await makeBucket({});
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cm.yaml", Body: CONFIG_MAP, ACL: "public-read" }));
    const { endpoint, seen } = await countingFront();
    // Act
    const { status } = await reconcile("anonymous", { bucketName: bucket, endpoint, secretRef: undefined });
    // Assess
    expect(condition(status, "Ready")).toMatchObject({ status: "True" });
    expect(seen.length).toBe(2);
    for (const request of seen) expect(request.headers.authorization).toBeUndefined();
  });

  it("reads with the runtime's AWS identity for provider aws without a secretRef, and fails clearly without one", async () => {
    // Prepare
    const bucket = await makeBucket({ "cm.yaml": CONFIG_MAP });
    const { endpoint, seen } = await countingFront();
    const spec = { bucketName: bucket, endpoint, provider: "aws" as const, secretRef: undefined };
    // Act
    const without = await reconcile("aws-none", spec);
    // The runtimes' adapter, its SDK credentials chain given the runtime's role as the Lambda's would be.
    ports.awsIdentity = runtimeAwsIdentity({
      credentials: async () => ({
        accessKeyId: "AKIARUNTIME",
        secretAccessKey: aws.secretAccessKey,
        sessionToken: "t0k",
      }),
    });
    const withIdentity = await reconcile("aws-runtime", spec).finally(() => delete ports.awsIdentity);
    // Assess
    expect(condition(without.status, "Ready")).toMatchObject({
      status: "False",
      reason: "AuthenticationFailed",
      message: "AWS authentication failed: this runtime has no AWS identity to read the bucket with",
    });
    expect(condition(withIdentity.status, "Ready")?.status).toBe("True");
    expect(seen.map((r) => r.headers.authorization)).toEqual([
      expect.stringContaining("Credential=AKIARUNTIME/"),
      expect.stringContaining("Credential=AKIARUNTIME/"),
    ]);
    expect(seen.map((r) => r.headers["x-amz-security-token"])).toEqual(["t0k", "t0k"]);
  });

  it.each([
    ["a missing secret", "missing", "failed to get secret 'apps/missing': secret not found"],
    ["a secret without secretkey", "half", "invalid 'half' secret data: required fields 'accesskey' and 'secretkey'"],
  ])("fails with AuthenticationFailed on %s", async (_, name, message) => {
    secrets.set("apps/half", { accesskey: "AKIAHALF" });
    const { status } = await reconcile(`auth-${name}`, { bucketName: "any", secretRef: { name } });
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "AuthenticationFailed", message });
    expect(condition(status, "FetchFailed")).toMatchObject({ status: "True", reason: "AuthenticationFailed" });
  });

  it.each([
    ["a scheme", `http://${motoHost}`, "without a scheme"],
    ["a path", `${motoHost}/other`, "without a path"],
  ])(
    "refuses an endpoint with %s as source-controller does (AuthenticationFailed), saying why",
    async (_, endpoint, why) => {
      const { status } = await reconcile(`endpoint-${serial++}`, { bucketName: "any", endpoint });
      expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "AuthenticationFailed" });
      expect(condition(status, "Ready")!.message).toContain(why);
    },
  );

  it("does not reach a loopback endpoint when private networks are refused, and a metadata address never", async () => {
    const bucket = await makeBucket({ "cm.yaml": CONFIG_MAP });
    ports.settings = { ...ports.settings, allowPrivateNetworks: false };
    const loopback = await reconcile("ssrf-loopback", { bucketName: bucket }).finally(
      () => (ports.settings = { ...ports.settings, allowPrivateNetworks: true }),
    );
    const metadata = await reconcile("ssrf-metadata", { bucketName: bucket, endpoint: "169.254.169.254" });
    expect(condition(loopback.status, "Ready")!.message).toContain("private address 127.0.0.1");
    expect(condition(metadata.status, "Ready")!.message).toContain("is link-local/metadata and never fetched");
    expect(loopback.status.artifact).toBeUndefined();
  });

  it("reports a missing bucket as Flux does", async () => {
    const { status } = await reconcile("absent", { bucketName: "sluice-no-such-bucket" });
    expect(condition(status, "Ready")).toMatchObject({
      status: "False",
      reason: "BucketOperationFailed",
      message: "bucket 'sluice-no-such-bucket' not found",
    });
  });

  it("feeds a HelmChart: the chart folder packaged, reconcileStrategy Revision adding the digest's first 12 hex", async () => {
    // Prepare
    const bucket = await makeBucket({
      "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
      "charts/app/values.yaml": "greeting: app\n",
      "charts/app/templates/cm.yaml": CONFIG_MAP,
    });
    const source = await reconcile("charts", { bucketName: bucket });
    // Act
    await applyToStore(ports.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmChart",
      metadata: { name: "app", namespace: "apps", generation: 1 },
      spec: {
        interval: "5m",
        chart: "charts/app",
        sourceRef: { kind: "Bucket", name: "charts" },
        reconcileStrategy: "Revision",
      },
    });
    const outcome = await dispatch(ports, { key: "HelmChart/apps/app", reason: "interval" });
    // Assess
    const digest = source.status.artifact!.revision.slice("sha256:".length);
    const chart = outcome!.status as Status;
    expect(condition(chart, "Ready")).toMatchObject({ status: "True", reason: "ChartPackageSucceeded" });
    expect(chart.artifact?.revision).toBe(`0.1.0+${digest.slice(0, 12)}`);
  });

  describe("against an S3 that checks credentials", () => {
    let moto: AuthMoto;
    let admin: S3Client;
    beforeAll(async () => {
      moto = await startAuthMoto();
      admin = new S3Client({
        endpoint: moto.endpoint,
        region: moto.region,
        forcePathStyle: true,
        credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
      });
    }, 60_000);
    afterAll(async () => {
      admin?.destroy();
      await moto?.stop();
    });

    it("reads with the right keys, and with wrong ones is Ready=False BucketOperationFailed with no secret in status or events", async () => {
      // Prepare
      const bucket = await makeBucket({ "cm.yaml": CONFIG_MAP }, admin);
      const endpoint = new URL(moto.endpoint).host;
      secrets.set("apps/right", { accesskey: moto.accessKeyId, secretkey: moto.secretAccessKey });
      const wrongSecret = "wRoNgSeCrEt0123456789abcdefghijklmnopqrs";
      secrets.set("apps/wrong", { accesskey: "AKIAWRONGWRONGWRONG1", secretkey: wrongSecret });
      secrets.set("apps/badsig", { accesskey: moto.accessKeyId, secretkey: wrongSecret });
      // Act
      const right = await reconcile("keys-right", { bucketName: bucket, endpoint, secretRef: { name: "right" } });
      const wrong = await reconcile("keys-wrong", { bucketName: bucket, endpoint, secretRef: { name: "wrong" } });
      const badsig = await reconcile("keys-badsig", { bucketName: bucket, endpoint, secretRef: { name: "badsig" } });
      // Assess
      expect(condition(right.status, "Ready")?.status).toBe("True");
      for (const { status, events } of [wrong, badsig]) {
        const ready = condition(status, "Ready")!;
        expect(ready).toMatchObject({ status: "False", reason: "BucketOperationFailed" });
        expect(ready.message).toMatch(
          new RegExp(`^failed to confirm existence of '${bucket}' bucket: .+\\(HTTP 403\\)$`),
        );
        const written = JSON.stringify({ status, events });
        expect(written).not.toContain(wrongSecret);
        expect(written).not.toContain(moto.secretAccessKey);
      }
      expect(condition(wrong.status, "Ready")!.message).toContain("Access Key Id you provided does not exist");
      expect(condition(badsig.status, "Ready")!.message).toContain("signature");
    });
  });
});
