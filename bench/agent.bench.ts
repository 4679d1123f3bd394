import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { Agent } from "../src/agent/agent.js";
import { kmsPublicKey, kmsSigner, publicKeyVerifier, sealBundle, type BundleContent } from "../src/agent/bundle.js";
import type { KubeObject } from "../src/apply/object.js";
import { syncObjects } from "../src/apply/sync.js";
import { S3BundleChannel } from "../src/aws/s3-bundle-channel.js";
import { openCluster } from "../src/cluster/cluster.js";
import { systemClock } from "../src/runtime/clock.js";
import type { Log } from "../src/runtime/log.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

// The pull agent's path against the worker's direct apply, on the test bed's kube-apiserver and
// moto: a new revision of 50 ConfigMaps (control plane signs and publishes to S3 → agent polls,
// fetches, verifies, applies, reports) versus the worker applying the same change itself; and an
// idle poll (nothing new) versus one plain GET of the index. Subject metrics: S3 requests.

let testbed: Testbed | undefined;
const silent: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => silent };

export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["kube", "aws"] });
  const { kube, aws } = testbed.info;
  const config = { region: aws.region, endpoint: aws.endpoint, credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey } };
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  let s3Requests = 0;
  s3.middlewareStack.add((next) => (args) => (s3Requests++, next(args)), { step: "initialize" });
  const kms = new KMSClient(config);
  const bucket = "sluice-bench-agent";
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.KeyId!;
  const cluster = await openCluster({ kubeconfig: kube.kubeconfig }, systemClock);
  const channel = new S3BundleChannel(s3, bucket, "bench");
  const agent = new Agent({ cluster: "bench", inbox: channel, verifier: publicKeyVerifier(keyId, await kmsPublicKey(kms, keyId)), kube: cluster, clock: systemClock, log: silent, version: "bench" });
  const options = { prune: true, force: false, wait: false, healthChecks: [], timeoutMs: 60_000, intervalMs: 3_600_000, retryMs: 60_000, deletionPolicy: "MirrorPrune" as const };
  let revision = 0;
  const content = (ns: string, value: number): BundleContent => ({ cluster: "bench", kustomization: { namespace: "flux-system", name: ns }, revision: `main@sha1:${value}`, sequence: value + 1, options, objects: configMaps(ns, 50, value) });
  const counted = async (work: () => Promise<void>): Promise<Metrics> => {
    const before = s3Requests;
    await work();
    return { s3Requests: s3Requests - before };
  };

  return [
    defineBenchmark({
      name: "agent-new-revision-50-configmaps",
      iterations: 10,
      setup: async () => {
        await syncObjects(cluster, configMaps("direct", 50, 0), undefined, { owner: { namespace: "flux-system", name: "direct" }, prune: true });
        await channel.publish(await sealBundle(content("agent", 0), kmsSigner(kms, keyId)), "sha256:0");
        await (await agent.tick()).settled;
      },
      subject: {
        name: "sign + publish + agent poll/verify/apply/report",
        run: () =>
          counted(async () => {
            await channel.publish(await sealBundle(content("agent", ++revision), kmsSigner(kms, keyId)), `sha256:${revision}`);
            await (await agent.tick()).settled;
          }),
      },
      baseline: { name: "worker applies directly", run: async () => void (await syncObjects(cluster, configMaps("direct", 50, ++revision), undefined, { owner: { namespace: "flux-system", name: "direct" }, prune: true })) },
    }),
    defineBenchmark({
      name: "agent-idle-poll",
      iterations: 20,
      subject: { name: "agent tick, nothing new", run: () => counted(async () => void (await (await agent.tick()).settled)) },
      baseline: { name: "one GET of the index", run: () => counted(async () => void (await channel.current({ namespace: "flux-system", name: "agent" }))) },
    }),
  ];
}

function configMaps(ns: string, n: number, value: number): KubeObject[] {
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: `bench-${ns}` } },
    ...Array.from({ length: n }, (_, i): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm-${i}`, namespace: `bench-${ns}` }, data: { revision: String(value), payload: "x".repeat(256) } })),
  ];
}
