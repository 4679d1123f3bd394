import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout } from "node:timers/promises";
import { promisify } from "node:util";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { Agent } from "../src/agent/agent.js";
import { publicKeyVerifier, sealBundle, type KustomizationBundle } from "../src/bundle/bundle.js";
import { kmsPublicKey, kmsSigner } from "../src/aws/kms.js";
import type { KubeObject } from "../src/apply/object.js";
import { syncObjects } from "../src/pipeline/sync.js";
import { S3BundleChannel } from "../src/aws/s3-bundle-channel.js";
import { openCluster } from "../src/cluster/cluster.js";
import { systemClock } from "../src/ports/clock.js";
import type { Log } from "../src/ports/log.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { buildAll } from "../scripts/build.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { stringify } from "yaml";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");

// The pull agent's path against the worker's direct apply, on the test bed's kube-apiserver and
// moto: a new revision of 50 ConfigMaps (control plane signs and publishes to S3 → agent polls,
// fetches, verifies, applies, reports) versus the worker applying the same change itself; and an
// idle poll (nothing new) versus one plain GET of the index (metric: S3 requests); and the bundled
// agent process starting and applying 501 objects versus kubectl applying them (metric: peak RSS;
// the baseline needs GNU time at /usr/bin/time).

let testbed: Testbed | undefined;
const silent: Log = { info: () => {}, warn: () => {}, error: () => {}, child: () => silent };

export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

/** The owner of the objects the worker applies directly (the baseline). */
const direct = { namespace: "flux-system", name: "direct" };

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["kube", "aws"] });
  const { kube, aws } = testbed.info;
  const config = {
    region: aws.region,
    endpoint: aws.endpoint,
    credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
  };
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  let s3Requests = 0;
  s3.middlewareStack.add((next) => (args) => (s3Requests++, next(args)), { step: "initialize" });
  const kms = new KMSClient(config);
  const bucket = "sluice-bench-agent";
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" })))
    .KeyMetadata!.KeyId!;
  const cluster = await openCluster({ kubeconfig: kube.kubeconfig }, systemClock);
  const channel = new S3BundleChannel(s3, bucket, "bench");
  const publicKey = await kmsPublicKey(kms, keyId);
  const agent = new Agent({
    cluster: "bench",
    inbox: channel,
    verifier: publicKeyVerifier(keyId, publicKey),
    kube: cluster,
    clock: systemClock,
    log: silent,
    version: "bench",
  });
  const options = {
    prune: true,
    force: false,
    wait: false,
    healthChecks: [],
    timeoutMs: 60_000,
    intervalMs: 3_600_000,
    retryMs: 60_000,
    deletionPolicy: "MirrorPrune" as const,
  };
  let revision = 0;
  const content = (ns: string, value: number): KustomizationBundle => ({
    cluster: "bench",
    kustomization: { namespace: "flux-system", name: ns },
    revision: `main@sha1:${value}`,
    sequence: value + 1,
    options,
    objects: configMaps(ns, 50, value),
  });
  const agentEnv = {
    SLUICE_CLUSTER_NAME: "bench",
    SLUICE_BUCKET: bucket,
    AWS_REGION: aws.region,
    AWS_ACCESS_KEY_ID: aws.accessKeyId,
    AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
    SLUICE_AWS_ENDPOINT: aws.endpoint,
    SLUICE_BUNDLE_KEY: `kms:${keyId}`,
    SLUICE_POLL_INTERVAL: "1s",
    SLUICE_HEALTH_PORT: "0",
  };
  const counted = async (work: () => Promise<void>): Promise<Metrics> => {
    const before = s3Requests;
    await work();
    return { s3Requests: s3Requests - before };
  };

  return [
    defineBenchmark({
      name: "agent-new-revision-50-configmaps",
      iterations: 20,
      setup: async () => {
        await syncObjects(
          cluster,
          configMaps("direct", 50, 0),
          undefined,
          { namespace: "flux-system", name: "direct" },
          {
            prune: true,
            force: false,
          },
        );
        await channel.publish(await sealBundle(content("agent", 0), kmsSigner(kms, keyId)), "sha256:0");
        await (
          await agent.tick()
        ).settled;
      },
      subject: {
        name: "sign + publish + agent poll/verify/apply/report",
        run: () =>
          counted(async () => {
            await channel.publish(
              await sealBundle(content("agent", ++revision), kmsSigner(kms, keyId)),
              `sha256:${revision}`,
            );
            await (
              await agent.tick()
            ).settled;
          }),
      },
      baseline: {
        name: "worker applies directly",
        run: async () =>
          void (await syncObjects(cluster, configMaps("direct", 50, ++revision), undefined, direct, {
            prune: true,
            force: false,
          })),
      },
    }),
    defineBenchmark({
      name: "agent-process-start-500-configmaps",
      iterations: 3,
      warmup: 1,
      setup: async () => {
        await buildAll();
        await channel.publish(
          await sealBundle({ ...content("process", 0), objects: configMaps("process", 500, 0) }, kmsSigner(kms, keyId)),
          "sha256:process",
        );
      },
      subject: {
        name: "agent process (bundled): start, verify, apply 501 objects",
        run: () =>
          agentProcess(kube.kubeconfigPath, { ...agentEnv, SLUICE_BUNDLE_PUBLIC_KEY: publicKey.toString("base64") }),
      },
      baseline: {
        name: "kubectl apply --server-side of the same objects",
        run: () => kubectlApply(kube.kubeconfigPath, configMaps("kubectl", 500, ++revision)),
      },
    }),
    defineBenchmark({
      name: "agent-idle-poll",
      iterations: 20,
      subject: {
        name: "agent tick, nothing new",
        run: () => counted(async () => void (await (await agent.tick()).settled)),
      },
      baseline: {
        name: "one GET of the index",
        run: () => counted(async () => void (await channel.current({ namespace: "flux-system", name: "agent" }))),
      },
    }),
  ];
}

/** Runs the bundled agent until it has checked every bundle against the cluster; its peak RSS from /proc. */
async function agentProcess(kubeconfigPath: string, env: Record<string, string>): Promise<Metrics> {
  const child = spawn(process.execPath, [join(root, "dist", "agent", "agent.mjs")], {
    env: { PATH: process.env.PATH, KUBECONFIG: kubeconfigPath, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  while (!output.includes("resumed")) {
    if (child.exitCode !== null) throw new Error(`agent exited: ${output}`);
    await setTimeout(20);
  }
  const peakRssMiB = Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
  child.kill("SIGTERM");
  await once(child, "exit");
  return { peakRssMiB };
}

/** kubectl's own peak RSS, by GNU time (`%M`, KiB). */
async function kubectlApply(kubeconfigPath: string, objects: KubeObject[]): Promise<Metrics> {
  const kubectl = (await resolveTools({ cacheDir: cacheDir() })).kubectl;
  const file = join(await mkdtemp(join(tmpdir(), "sluice-bench-agent-")), "set.yaml");
  await writeFile(file, objects.map((o) => stringify(o)).join("---\n"));
  const { stderr } = await run(
    "/usr/bin/time",
    [
      "-f",
      "%M",
      kubectl,
      "--kubeconfig",
      kubeconfigPath,
      "apply",
      "--server-side",
      "--field-manager",
      "kubectl-bench",
      "-f",
      file,
    ],
    { maxBuffer: 64 << 20 },
  );
  return { peakRssMiB: Number(stderr.trim().split("\n").at(-1)) / 1024 };
}

function configMaps(ns: string, n: number, value: number): KubeObject[] {
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: `bench-${ns}` } },
    ...Array.from({ length: n }, (_, i): KubeObject => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `cm-${i}`, namespace: `bench-${ns}` },
      data: { revision: String(value), payload: "x".repeat(256) },
    })),
  ];
}
