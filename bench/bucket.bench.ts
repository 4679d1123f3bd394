import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { dispatch } from "../src/controllers/dispatch.js";
import { applyToStore } from "../src/store/objects.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { front, sourceRuntime } from "../test/security/source-helpers.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// Bucket against the test bed's moto S3 on loopback, through a front that counts requests.
// 1. A bucket of 1,000 objects (~1 KiB manifests) fetched in full: Sluice's reconcile (listing, keys
//    checked, 1,000 bounded GETs 64 at a time, deterministic archive, store, status) vs an `aws s3
//    sync`-style download in the same process: the listing, then every GetObject 64 in flight with
//    the same SDK, bodies read into memory, no checks, nothing archived or written.
// 2. The no-op check of an unchanged bucket: the reconcile vs one plain ListObjectsV2 (1,000 keys fit
//    one page), requests counted.

const OBJECTS = 1_000;
const CONCURRENCY = 64;
let testbed: Testbed | undefined;
const closers: (() => void)[] = [];

export async function cleanup(): Promise<void> {
  closers.forEach((close) => close());
  await testbed?.stop();
}

function manifest(i: number): string {
  return [
    "apiVersion: v1",
    "kind: ConfigMap",
    `metadata:\n  name: config-${i}\n  namespace: app-${Math.floor(i / 20)}`,
    "data:",
    ...Array.from({ length: 20 }, (_, k) => `  key-${k}: "value ${k} of config ${i}, padded to a realistic size"`),
  ].join("\n");
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["aws"] });
  const aws = testbed.info.aws;
  const counted = await front(aws.endpoint);
  closers.push(counted.close);
  const credentials = { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey };
  const s3 = (endpoint: string) => new S3Client({ endpoint, region: aws.region, forcePathStyle: true, credentials });
  const direct = s3(aws.endpoint);
  const bucket = "bench-fleet";
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));
  const keys = Array.from({ length: OBJECTS }, (_, i) => `apps/app-${Math.floor(i / 20)}/configmap-${i}.yaml`);
  await pool(keys, 32, (key) =>
    direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: manifest(keys.indexOf(key)) })),
  );
  direct.destroy();
  const plain = s3(`http://127.0.0.1:${counted.port}`);
  closers.push(() => plain.destroy());

  const { rt: ports } = await sourceRuntime({ allowPrivateNetworks: true });
  ports.secrets = {
    secret: async () => ({ accesskey: aws.accessKeyId, secretkey: aws.secretAccessKey }),
    configMap: async () => undefined,
  };
  const register = (name: string) =>
    applyToStore(ports.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "Bucket",
      metadata: { name, namespace: "bench" },
      spec: {
        interval: "10m",
        bucketName: bucket,
        endpoint: `127.0.0.1:${counted.port}`,
        insecure: true,
        secretRef: { name: "keys" },
      },
    });
  const reconcile = async (name: string) => {
    const outcome = await dispatch(ports, { key: `Bucket/bench/${name}`, reason: "interval" });
    const status = outcome?.status as { artifact?: { size?: number }; conditions?: { type: string; status: string }[] };
    if (status.conditions?.find((c) => c.type === "Ready")?.status !== "True")
      throw new Error(`${name}: not Ready: ${JSON.stringify(status.conditions)}`);
    return status;
  };
  const requests = async (run: () => Promise<unknown>) => {
    const before = counted.requests();
    await run();
    return { requests: counted.requests() - before };
  };
  await register("unchanged");
  for (let i = 1; i <= 14; i++) await register(`full-${i}`);
  let serial = 0;
  return [
    defineBenchmark({
      name: `bucket-fetch-${OBJECTS}-objects`,
      iterations: 10,
      subject: {
        name: "Bucket reconcile: listing, keys checked, 1,000 GETs, archive, store",
        // A new object each time (registered beforehand, untimed), so nothing is stored yet and every object is fetched.
        run: async () => {
          let artifactKB = 0;
          const counts = await requests(async () => {
            artifactKB = ((await reconcile(`full-${++serial}`)).artifact?.size ?? 0) / 1024;
          });
          return { ...counts, artifactKB };
        },
      },
      baseline: {
        name: `aws s3 sync-style download: ListObjectsV2 + GetObject ×${OBJECTS}, ${CONCURRENCY} in flight (SDK, bodies in memory)`,
        run: () =>
          requests(async () => {
            const listed = await plain.send(new ListObjectsV2Command({ Bucket: bucket }));
            await pool(listed.Contents ?? [], CONCURRENCY, async (object) => {
              const answer = await plain.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
              await answer.Body!.transformToByteArray();
            });
          }),
      },
    }),
    defineBenchmark({
      name: "bucket-no-op-check",
      iterations: 20,
      setup: async () => void (await reconcile("unchanged")),
      subject: { name: "Bucket reconcile, nothing changed", run: () => requests(() => reconcile("unchanged")) },
      baseline: {
        name: "one ListObjectsV2 of the bucket (SDK)",
        run: () => requests(() => plain.send(new ListObjectsV2Command({ Bucket: bucket }))),
      },
    }),
  ];
}
