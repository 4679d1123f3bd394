import { mkdtemp, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { KubeObject } from "../src/apply/object.js";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";
import { startBenchPlane, stopBenchPlane, type BenchPlane } from "./local-plane.js";

// Cost of the tenancy authorization step (issue 11): a fleet of tenant Kustomizations, 10 per
// tenant namespace, each with its tenant's own GitRepository and rendering two ConfigMaps and one
// child Kustomization, so registering the child in the Store is authorized. Subject: every
// Kustomization runs as the tenant's service account (bound to cluster-admin in its namespace, as
// `flux create tenant` does): workloads applied impersonating it, the child's registration asked
// with a SubjectAccessReview. Baseline: the same fleet without serviceAccountName (the control
// plane's identity, no reviews). Timed: registration → every tenant Kustomization and its child
// Ready. Each run gets fresh namespaces and repositories, prepared untimed in setup.
// Size from the command line: `npm run bench -- tenancy 500` (default 500; 10 per namespace).

export const cleanup = stopBenchPlane;

const PER_TENANT = 10;
const SERVICE_ACCOUNT = "tenant";
const ITERATIONS = 3;
const WARMUP = 1;

/** One run's fleet: its tenant namespaces, each with a Git repository already pushed. */
interface Fleet {
  namespaces: string[];
  urls: string[];
  identity: boolean;
}

function tenantRbac(namespace: string, git: { username: string; password: string }): KubeObject[] {
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SERVICE_ACCOUNT, namespace } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${SERVICE_ACCOUNT}-reconciler`, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT, namespace }],
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "git-auth", namespace },
      stringData: { username: git.username, password: git.password },
    },
  ];
}

/** A tenant's repository: per app, two ConfigMaps and a child Kustomization (apps/), and the child's ConfigMap (children/). */
function tenantFiles(namespace: string, identity: boolean): Record<string, string> {
  const serviceAccount = identity ? SERVICE_ACCOUNT : undefined;
  const configMap = (name: string): KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data: { app: name },
  });
  const files: Record<string, string> = {};
  for (let i = 0; i < PER_TENANT; i++) {
    const child = kustomizationManifest(`app-${i}-child`, namespace, {
      source: "tenant",
      path: `./children/app-${i}`,
      prune: true,
      interval: "1h",
      serviceAccount,
    });
    files[`apps/app-${i}/objects.yaml`] = [child, configMap(`app-${i}-a`), configMap(`app-${i}-b`)]
      .map((o) => stringify(o))
      .join("---\n");
    files[`children/app-${i}/objects.yaml`] = stringify(configMap(`app-${i}-child`));
  }
  return files;
}

/** Creates the namespaces, RBAC and repositories of one run (untimed). */
async function prepare(
  { testbed, kubectl }: BenchPlane,
  id: string,
  tenants: number,
  identity: boolean,
): Promise<Fleet> {
  const { git } = testbed.info;
  const namespaces = Array.from({ length: tenants }, (_, t) => `${id}-t${t}`);
  const file = join(await mkdtemp(join(tmpdir(), "sluice-bench-tenancy-")), "tenants.yaml");
  await writeFile(
    file,
    namespaces
      .flatMap((ns) => tenantRbac(ns, git))
      .map((o) => stringify(o))
      .join("---\n"),
  );
  await kubectl("apply", "--server-side", "-f", file);
  const urls = [];
  for (const ns of namespaces) {
    urls.push(await createRepo(git, ns));
    await pushTree(git, ns, { files: tenantFiles(ns, identity) });
  }
  return { namespaces, urls, identity };
}

/**
 * The API server's counters so far (its /metrics, read in-process): subject access reviews, all requests, and its CPU
 * seconds, which with this process's CPU time measures the cost on a shared machine better than wall time does.
 */
async function apiServerCounters({
  testbed,
}: BenchPlane): Promise<{ reviews: number; all: number; cpuSeconds: number }> {
  const { server, token, caPem } = testbed.info.kube;
  const text = await new Promise<string>((resolve, reject) => {
    const request = https.get(
      `${server}/metrics`,
      { ca: caPem, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        const chunks: Buffer[] = [];
        response
          .on("data", (chunk: Buffer) => chunks.push(chunk))
          .on("end", () => resolve(Buffer.concat(chunks).toString()))
          .on("error", reject);
      },
    );
    request.on("error", reject);
  });
  const counts = text.split("\n").filter((line) => line.startsWith("apiserver_request_total{"));
  const sum = (lines: string[]) =>
    lines.reduce((total, line) => total + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
  const cpuSeconds = sum(text.split("\n").filter((line) => line.startsWith("process_cpu_seconds_total ")));
  return {
    reviews: sum(counts.filter((line) => line.includes('resource="subjectaccessreviews"'))),
    all: sum(counts),
    cpuSeconds,
  };
}

const isReady = (object: KubeObject) =>
  (object.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
    (c) => c.type === "Ready" && c.status === "True",
  );

/** Registers a fleet and waits until every tenant Kustomization and its child is Ready. */
async function converge(bench: BenchPlane, fleet: Fleet): Promise<Metrics> {
  const { store } = bench.plane.runtime;
  const { queue } = bench.plane;
  const before = await apiServerCounters(bench);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const [t, namespace] of fleet.namespaces.entries()) {
    await applyToStore(
      store,
      gitRepositoryManifest("tenant", namespace, {
        url: fleet.urls[t]!,
        branch: "main",
        interval: "1h",
        secretRef: "git-auth",
      }),
    );
    for (let i = 0; i < PER_TENANT; i++) {
      const serviceAccount = fleet.identity ? SERVICE_ACCOUNT : undefined;
      await applyToStore(
        store,
        kustomizationManifest(`app-${i}`, namespace, {
          source: "tenant",
          path: `./apps/app-${i}`,
          prune: true,
          interval: "1h",
          serviceAccount,
        }),
      );
      await queue.enqueue({ key: `Kustomization/${namespace}/app-${i}`, reason: "created" });
    }
    await queue.enqueue({ key: `GitRepository/${namespace}/tenant`, reason: "created" });
  }
  const total = fleet.namespaces.length * PER_TENANT;
  // Tenant Kustomizations Ready per namespace; a namespace leaves `pending` once its children are Ready too.
  const tenantsReady = new Map(fleet.namespaces.map((namespace) => [namespace, 0]));
  const pending = new Set(fleet.namespaces);
  let secondsToTenantsReady = 0;
  while (pending.size > 0) {
    await new Promise((r) => setTimeout(r, 250));
    for (const namespace of pending) {
      const ready = (await store.list({ kind: "Kustomization", namespace }))
        .filter((s) => isReady(s.object))
        .map((s) => s.object.metadata.name);
      tenantsReady.set(namespace, ready.filter((name) => !name.endsWith("-child")).length);
      if (ready.length === 2 * PER_TENANT) pending.delete(namespace);
    }
    const ready = [...tenantsReady.values()].reduce((a, b) => a + b, 0);
    if (ready === total && !secondsToTenantsReady) secondsToTenantsReady = (performance.now() - start) / 1000;
    process.stderr.write(
      `\r\x1b[K  ${ready}/${total} tenant Kustomizations Ready, ${fleet.namespaces.length - pending.size} namespaces with children Ready, ${((performance.now() - start) / 1000).toFixed(0)} s`,
    );
  }
  const seconds = (performance.now() - start) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  const after = await apiServerCounters(bench);
  return {
    secondsToTenantsReady,
    secondsToAllReady: seconds,
    sluiceCpuSeconds: (user + system) / 1e6,
    apiServerCpuSeconds: after.cpuSeconds - before.cpuSeconds,
    subjectAccessReviews: after.reviews - before.reviews,
    apiRequests: after.all - before.all,
  };
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const sizes = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  const bench = await startBenchPlane({ concurrency: 8 });
  return (sizes.length > 0 ? sizes : [500]).map((n) => {
    const tenants = Math.ceil(n / PER_TENANT);
    const fleets = { subject: [] as Fleet[], baseline: [] as Fleet[] };
    return defineBenchmark({
      name: `tenancy-${tenants * PER_TENANT}`,
      iterations: ITERATIONS,
      warmup: WARMUP,
      setup: async () => {
        for (let round = 0; round < ITERATIONS + WARMUP; round++) {
          process.stderr.write(
            `\r\x1b[K  preparing round ${round + 1}/${ITERATIONS + WARMUP}: ${2 * tenants} namespaces and repositories`,
          );
          fleets.subject.push(await prepare(bench, `s${n}-${round}`, tenants, true));
          fleets.baseline.push(await prepare(bench, `b${n}-${round}`, tenants, false));
        }
      },
      subject: {
        name: "tenants with serviceAccountName (impersonation + SubjectAccessReviews)",
        run: () => converge(bench, fleets.subject.shift()!),
      },
      baseline: {
        name: "same fleet without serviceAccountName (control plane identity)",
        run: () => converge(bench, fleets.baseline.shift()!),
      },
    });
  });
}
