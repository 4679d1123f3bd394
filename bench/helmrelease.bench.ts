import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { RequestCounts } from "../src/cluster/kube-client.js";
import type { ReconcilerPorts } from "../src/controllers/reconciler-ports.js";
import { applyToStore } from "../src/store/objects.js";
import { startKubelet, type Kubelet } from "../test/env/kubelet.js";
import { PODINFO } from "../test/env/podinfo.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";
import { startBenchPlane, stopBenchPlane, type BenchPlane } from "./local-plane.js";
import { startSluiceProcess } from "./sluice-process.js";

// HelmRelease against Helm itself, on the test bed (kube-apiserver + controller manager, the kubelet
// stand-in making Pods Ready, the Helm repository and the OCI registry serving podinfo's real chart).
// 1. and 2. run in this process's control plane, whose helm goes through a counting shim (one `sh` and
// two `date` per call, charged to Sluice): the runs report helm processes and their summed time, the
// plane's Kubernetes requests, and CPU seconds of this process and of helm.
// 1. Install, then upgrade on a values change, of podinfo 6.9.3 (one replica):
//    - "ready": registration → Ready, the rollout included (Sluice's health checks by requeue, first
//      after healthPollMs) vs `helm upgrade --install --wait=watcher` (Helm watches until Ready);
//    - "applied": install/upgrade.disableWait (Ready once applied and stored) vs `helm upgrade --install`
//      with helm v4's default `--wait=hookOnly` (podinfo has no install/upgrade hooks: no waiting).
//    Both sides fetch the chart from the Helm repository (Sluice's install also generates and
//    reconciles the HelmChart; its upgrade reuses it, helm downloads the chart again).
// 2. The no-op interval of released HelmReleases: helm processes and Kubernetes requests per object vs
//    the floor, one LIST of the release's storage Secrets per object.
// 3. A fleet shaped like flux-benchmark's (one HelmRepository of type oci, N HelmReleases of podinfo
//    from it, each with its own releaseName, one replica, serviceAccount, ingress, HPA), reconciled by
//    `sluice run` in its own process (so its peak RSS and CPU are its own, not the harness's): objects
//    written to its Store → all Ready (its Store watch notices them within 1 s), vs `helm upgrade
//    --install --wait=watcher` of the same N releases from the same registry, 8 at a time (the
//    plane's concurrency). Sizes from the command line: `npm run bench -- helmrelease 100 500`.

const run = promisify(execFile);
const CONCURRENCY = 8;
const NAMESPACE = "hr-bench";
const HELM_NAMESPACE = "hr-bench-helm";
const NO_OP_RELEASES = 20;
let kubelet: Kubelet | undefined;

export async function cleanup(): Promise<void> {
  await kubelet?.stop();
  await stopBenchPlane();
}

type Status = {
  observedGeneration?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  history?: { version: number }[];
};
type Wait = "ready" | "applied";

const podinfoValues = (round?: number) => ({
  replicaCount: 1,
  resources: { requests: { cpu: "10m", memory: "16Mi" } },
  ...(round !== undefined && { podAnnotations: { round: String(round) } }),
});

/** flux-benchmark's flux-hr-bench values, with one replica. */
const fleetValues = {
  replicaCount: 1,
  hpa: { enabled: true, maxReplicas: 1, cpu: 99 },
  serviceAccount: { enabled: true },
  ingress: { enabled: true, className: "nginx" },
  resources: { requests: { cpu: "1m", memory: "16Mi" } },
};

/** A helm that appends "<start ns> <end ns>" per call to a log, so calls and their wall time can be read back. */
async function countingHelm(real: string): Promise<HelmShim> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-bench-helm-"));
  const log = join(dir, "calls.log");
  const path = join(dir, "helm");
  await writeFile(log, "");
  await writeFile(
    path,
    `#!/bin/sh\nstart=$(date +%s%N)\n"${real}" "$@"\nrc=$?\necho "$start $(date +%s%N)" >> "${log}"\nexit $rc\n`,
    { mode: 0o755 },
  );
  return {
    path,
    calls: async () =>
      (await readFile(log, "utf8"))
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split(" ").map(Number) as [number, number]),
  };
}

interface HelmShim {
  path: string;
  /** [start, end] in ns of every call so far. */
  calls(): Promise<[number, number][]>;
}

/** CPU seconds of this process and of its ended children (the helm processes), from /proc/self/stat (Linux). */
async function cpuSeconds(): Promise<{ self: number; children: number }> {
  const { user, system } = process.cpuUsage();
  // Fields after "pid (comm) ": cutime and cstime (stat fields 16 and 17) are at 13 and 14, in ticks of 1/100 s.
  const fields = (await readFile("/proc/self/stat", "utf8")).split(") ")[1]!.split(" ");
  return { self: (user + system) / 1e6, children: (Number(fields[13]) + Number(fields[14])) / 100 };
}

const requestsOf = (c: RequestCounts) => c.GET + c.POST + c.PATCH + c.PUT + c.DELETE + c.dryRun;

/**
 * Runs `work` and reports what it cost: helm processes started (and their summed wall seconds),
 * Kubernetes requests of the plane's client, CPU seconds of this process and of helm (its children),
 * and this process's peak RSS (sampled every 100 ms).
 */
async function observe(shim: HelmShim, counts: RequestCounts, work: () => Promise<void>): Promise<Metrics> {
  const calls = (await shim.calls()).length;
  const requests = requestsOf(counts);
  const cpu = await cpuSeconds();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  const added = (await shim.calls()).slice(calls);
  const cpuAfter = await cpuSeconds();
  return {
    helmProcesses: added.length,
    helmSeconds: added.reduce((sum, [start, end]) => sum + (end - start) / 1e9, 0),
    kubeRequests: requestsOf(counts) - requests,
    cpuSelfSeconds: cpuAfter.self - cpu.self,
    cpuHelmSeconds: cpuAfter.children - cpu.children,
    peakRssMiB: Math.max(peakRss, process.memoryUsage().rss) / 1024 / 1024,
  };
}

/** Polls the Store until the HelmRelease's status passes `done`; fails naming its last Ready condition. */
async function until(ports: ReconcilerPorts, namespace: string, name: string, done: (s: Status) => boolean) {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const status = ((await ports.store.get({ kind: "HelmRelease", namespace, name }))?.object.status ?? {}) as Status;
    if (done(status)) return status;
    if (Date.now() > deadline)
      throw new Error(`${namespace}/${name}: not done: ${JSON.stringify(readyOf(status) ?? "no Ready condition")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const readyOf = (s: Status | undefined) => s?.conditions?.find((c) => c.type === "Ready");
const readyAt = (generation: number, version: number) => (s: Status) =>
  readyOf(s)?.status === "True" && s.observedGeneration === generation && s.history?.[0]?.version === version;

export default async function benchmarks(): Promise<Benchmark[]> {
  const sizes = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  const bench: BenchPlane = await startBenchPlane({
    concurrency: CONCURRENCY,
    components: ["kube", "helmRepo", "registry"],
  });
  const { testbed, plane, kubectl } = bench;
  const { kube, helmRepo, registry } = testbed.info;
  kubelet = await startKubelet(kube);
  const { runtime, queue } = plane;
  const realHelm = runtime.tools.helm;
  const shim = await countingHelm(realHelm);
  runtime.tools = { ...runtime.tools, helm: shim.path };
  const { counts } = plane.cluster.client;
  for (const ns of [NAMESPACE, HELM_NAMESPACE]) await kubectl("create", "namespace", ns);

  const helmHome = await mkdtemp(join(tmpdir(), "sluice-bench-helm-home-"));
  /** The shipped helm run directly, with its own empty config, cache and data folders. */
  const helm = async (args: string[]) =>
    run(realHelm, [...args, "--kubeconfig", kube.kubeconfigPath], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: helmHome,
        HELM_CONFIG_HOME: join(helmHome, "config"),
        HELM_CACHE_HOME: join(helmHome, "cache"),
        HELM_DATA_HOME: join(helmHome, "data"),
      },
      maxBuffer: 64 << 20,
    });
  const valuesFile = async (values: unknown) => {
    const file = join(await mkdtemp(join(tmpdir(), "sluice-bench-values-")), "values.yaml");
    await writeFile(file, stringify(values));
    return file;
  };
  const waitFlags = (wait: Wait) => (wait === "ready" ? ["--wait=watcher", "--timeout", "1m"] : []);
  const helmFromRepo = async (name: string, values: unknown, wait: Wait) => {
    const file = await valuesFile(values);
    await helm([
      "upgrade",
      "--install",
      name,
      PODINFO.chart,
      ...["--repo", helmRepo.url, "--version", PODINFO.upgradeVersion],
      ...["-n", HELM_NAMESPACE, "-f", file],
      ...waitFlags(wait),
    ]);
  };

  const put = (kind: string, namespace: string, name: string, spec: Record<string, unknown>) =>
    applyToStore(runtime.store, { apiVersion: apiVersionOf(kind), kind, metadata: { name, namespace }, spec });
  const generationOf = async (name: string, namespace = NAMESPACE) =>
    (await runtime.store.get({ kind: "HelmRelease", namespace, name }))!.object.metadata.generation ?? 1;
  const releaseSpec = (values: unknown, wait: Wait) => ({
    interval: "10m",
    timeout: "1m",
    chart: {
      spec: {
        chart: PODINFO.chart,
        version: PODINFO.upgradeVersion,
        sourceRef: { kind: "HelmRepository", name: "podinfo" },
      },
    },
    values,
    ...(wait === "applied" && { install: { disableWait: true }, upgrade: { disableWait: true } }),
  });
  /** Registers (or changes) a HelmRelease, asks for its reconcile and waits for its `version` to be Ready. */
  const sluiceRelease = async (name: string, values: unknown, wait: Wait, version: number) => {
    await put("HelmRelease", NAMESPACE, name, releaseSpec(values, wait));
    await queue.enqueue({ key: `HelmRelease/${NAMESPACE}/${name}`, reason: "changed" });
    await until(runtime, NAMESPACE, name, readyAt(await generationOf(name), version));
  };

  await put("HelmRepository", NAMESPACE, "podinfo", { interval: "60m", url: helmRepo.url });
  await queue.enqueue({ key: `HelmRepository/${NAMESPACE}/podinfo`, reason: "created" });
  await queue.idle();

  const cost = (work: () => Promise<void>) => observe(shim, counts, work);
  /** A baseline's own cost: the CPU of the helm processes it ran (this process's children). */
  const helmCpu = async (work: () => Promise<void>) => ({ cpuHelmSeconds: (await cost(work)).cpuHelmSeconds! });

  let serial = 0;
  const installs = (wait: Wait) =>
    defineBenchmark({
      name: `helmrelease-install-${wait}`,
      iterations: 5,
      warmup: 1,
      subject: {
        name: `sluice: HelmRelease registered → Ready (${wait === "ready" ? "rollout included" : "disableWait"})`,
        run: () => cost(() => sluiceRelease(`install-${wait}-${++serial}`, podinfoValues(), wait, 1)),
      },
      baseline: {
        name: `helm upgrade --install${wait === "ready" ? " --wait=watcher" : " (waits for hooks only: none)"}`,
        run: () => helmCpu(() => helmFromRepo(`install-${wait}-${++serial}`, podinfoValues(), wait)),
      },
    });
  const upgrades = (wait: Wait) => {
    const sluiceName = `upgrade-${wait}`;
    const helmName = `upgrade-${wait}-helm`;
    let version = 1;
    let helmRound = 0;
    return defineBenchmark({
      name: `helmrelease-upgrade-${wait}`,
      iterations: 5,
      warmup: 1,
      setup: async () => {
        await sluiceRelease(sluiceName, podinfoValues(0), wait, 1);
        await helmFromRepo(helmName, podinfoValues(0), wait);
      },
      subject: {
        name: `sluice: values changed → upgraded and Ready (${wait === "ready" ? "rollout included" : "disableWait"})`,
        run: () => cost(() => sluiceRelease(sluiceName, podinfoValues(++version), wait, version)),
      },
      baseline: {
        name: `helm upgrade --install, values changed${wait === "ready" ? ", --wait=watcher" : ""}`,
        run: () => helmCpu(() => helmFromRepo(helmName, podinfoValues(++helmRound), wait)),
      },
    });
  };

  const noOpNames = Array.from({ length: NO_OP_RELEASES }, (_, i) => `noop-${i}`);
  const perObject = (metrics: Metrics): Metrics => ({
    helmProcessesPerObject: metrics.helmProcesses! / NO_OP_RELEASES,
    kubeRequestsPerObject: metrics.kubeRequests! / NO_OP_RELEASES,
  });
  const noOp = defineBenchmark({
    name: `helmrelease-no-op-${NO_OP_RELEASES}`,
    iterations: 5,
    warmup: 1,
    setup: async () => {
      for (const name of noOpNames) {
        await put("HelmRelease", NAMESPACE, name, releaseSpec(podinfoValues(), "ready"));
        await queue.enqueue({ key: `HelmRelease/${NAMESPACE}/${name}`, reason: "created" });
      }
      for (const name of noOpNames) await until(runtime, NAMESPACE, name, readyAt(1, 1));
      await queue.idle();
    },
    subject: {
      name: `interval reconcile of ${NO_OP_RELEASES} released HelmReleases, nothing changed`,
      run: async () => {
        const metrics = await cost(async () => {
          for (const name of noOpNames)
            await queue.enqueue({ key: `HelmRelease/${NAMESPACE}/${name}`, reason: "interval" });
          await queue.idle();
        });
        for (const name of noOpNames) await until(runtime, NAMESPACE, name, readyAt(1, 1));
        return perObject(metrics);
      },
    },
    baseline: {
      name: "the floor: one LIST of each release's storage Secrets",
      run: async () =>
        perObject(
          await cost(async () => {
            for (const name of noOpNames)
              await plane.cluster.client.send({
                method: "GET",
                path: `/api/v1/namespaces/${NAMESPACE}/secrets`,
                query: { labelSelector: `owner=helm,name=${name}` },
              });
          }),
        ),
    },
  });

  let fleetRound = 0;
  const fleet = (n: number) =>
    defineBenchmark({
      name: `helmrelease-fleet-${n}`,
      iterations: 1,
      warmup: 0,
      subject: {
        name: "`sluice run` (own process): 1 OCI HelmRepository + N HelmReleases registered → all Ready",
        run: async () => {
          const ns = `hr-fleet-${n}-${fleetRound++}`;
          await kubectl("create", "namespace", ns);
          const sluice = await startSluiceProcess(kube.kubeconfigPath, CONCURRENCY);
          try {
            const start = performance.now();
            const register = (kind: string, name: string, spec: Record<string, unknown>) =>
              applyToStore(sluice.store, {
                apiVersion: apiVersionOf(kind),
                kind,
                metadata: { name, namespace: ns },
                spec,
              });
            await register("HelmRepository", "podinfo", {
              type: "oci",
              interval: "12h",
              timeout: "2m",
              url: `oci://${registry.host}/charts`,
            });
            for (let i = 0; i < n; i++) await register("HelmRelease", `podinfo-${i}`, fleetRelease(`podinfo-${i}`, ns));
            for (let ready = 0; ready < n;) {
              await new Promise((r) => setTimeout(r, 250));
              const all = await sluice.store.list({ kind: "HelmRelease", namespace: ns });
              ready = all.filter((s) => readyOf(s.object.status as Status)?.status === "True").length;
              const seconds = ((performance.now() - start) / 1000).toFixed(0);
              process.stderr.write(`\r\x1b[K  ${ready}/${n} Ready after ${seconds} s`);
            }
            const secondsToAllReady = (performance.now() - start) / 1000;
            const { peakRssMiB, cpuSeconds, cpuChildrenSeconds } = await sluice.usage();
            return { secondsToAllReady, peakRssMiB, cpuSluiceSeconds: cpuSeconds, cpuHelmSeconds: cpuChildrenSeconds };
          } finally {
            await sluice.stop();
          }
        },
      },
      baseline: {
        name: `helm upgrade --install --wait=watcher of N releases from the registry, ${CONCURRENCY} at a time`,
        run: async () => {
          const ns = `hr-fleet-helm-${n}-${fleetRound++}`;
          await kubectl("create", "namespace", ns);
          const file = await valuesFile(fleetValues);
          const start = performance.now();
          let next = 0;
          const worker = async () => {
            for (let i = next++; i < n; i = next++)
              await helm([
                ...["upgrade", "--install", `podinfo-${i}`, registry.podinfo],
                ...["--version", PODINFO.upgradeVersion, "--plain-http", "-n", ns, "-f", file],
                ...waitFlags("ready"),
              ]);
          };
          const metrics = await helmCpu(
            async () => void (await Promise.all(Array.from({ length: CONCURRENCY }, worker))),
          );
          return { secondsToAllReady: (performance.now() - start) / 1000, ...metrics };
        },
      },
    });

  return [
    installs("applied"),
    installs("ready"),
    upgrades("applied"),
    upgrades("ready"),
    noOp,
    ...(sizes.length > 0 ? sizes : [100]).map(fleet),
  ];
}

/** flux-benchmark's HelmRelease (flux-hr-bench), targeting and storing in its own namespace. */
function fleetRelease(name: string, namespace: string): Record<string, unknown> {
  return {
    releaseName: name,
    targetNamespace: namespace,
    storageNamespace: namespace,
    interval: "60m",
    chart: {
      spec: {
        chart: PODINFO.chart,
        version: PODINFO.upgradeVersion,
        sourceRef: { kind: "HelmRepository", name: "podinfo" },
        interval: "600m",
      },
    },
    install: { crds: "Create" },
    upgrade: { crds: "CreateReplace" },
    values: fleetValues,
  };
}

function apiVersionOf(kind: string): string {
  return kind === "HelmRelease" ? "helm.toolkit.fluxcd.io/v2" : "source.toolkit.fluxcd.io/v1";
}
