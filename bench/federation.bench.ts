import { CLUSTER_NAMESPACE, newClusterRegistration } from "../src/api/cluster.js";
import { applyAll } from "../src/apply/apply.js";
import type { KubeObject } from "../src/apply/object.js";
import type { Cluster } from "../src/cluster/cluster.js";
import { gitRepositoryManifest } from "../src/cli/manifests.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import type { KubeInfo } from "../test/env/kube.js";
import {
  adminCluster,
  extraCluster,
  kubeconfigFor,
  kubeconfigSecret,
  kustomization,
  silentServer,
} from "../test/federation/clusters.js";
import { defineBenchmark, type Benchmark } from "./harness.js";
import { startBenchPlane, stopBenchPlane } from "./local-plane.js";

// Federation: 20 registered clusters, 5 Kustomizations each (3 ConfigMaps apiece), on the local
// control plane with its default 4 workers. The 20 registrations point at 4 real kube-apiservers
// (the test bed's and 3 more, 5 names each). Subject: cluster 20 is a server that accepts
// connections and never answers (a blackholed API server, the worst kind of dead: nothing is
// refused, everything waits), and its Kustomizations are queued first. Baseline: cluster 20 is
// reachable too. Measured: time until the 19 other clusters' 95 Kustomizations are Ready.
// Goal: subject ≤ 1.1 × baseline. What the dead cluster costs: its first contact holds each worker
// that reaches it for at most the 500 ms grace, then its Kustomizations come back when the 5 s
// connect timeout has passed and fail at once. The machine is shared: 12 iterations per side.

const CLUSTERS = 20;
const PER_CLUSTER = 5;
const REAL_SERVERS = 3;
const ROUNDS = 14; // warm-up + iterations, per side
const extras: Awaited<ReturnType<typeof extraCluster>>[] = [];
const silents: Awaited<ReturnType<typeof silentServer>>[] = [];

export async function cleanup(): Promise<void> {
  await Promise.all(silents.map((s) => s.close()));
  await stopBenchPlane();
  await Promise.all(extras.map((e) => e.stop()));
}

interface Round {
  /** Store namespace of this round's Kustomizations. */
  namespace: string;
  /** The registered name of the cluster that is dead in the subject (reachable in the baseline). */
  last: string;
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const { testbed, plane } = await startBenchPlane();
  const { kube, git } = testbed.info;
  const { runtime, queue } = plane;
  extras.push(...(await Promise.all(Array.from({ length: REAL_SERVERS }, (_, i) => extraCluster(`fed-bench-${i}`)))));
  const servers: KubeInfo[] = [kube, ...extras.map((e) => e.info)];
  const admins: Cluster[] = [plane.cluster, ...(await Promise.all(extras.map((e) => adminCluster(e.info))))];

  // The source: one repository of three ConfigMaps, fetched before anything is timed.
  const configMap = (i: number) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\ndata:\n  index: "${i}"\n`;
  const files = Object.fromEntries([0, 1, 2].map((i) => [`cm-${i}.yaml`, configMap(i)]));
  const url = await createRepo(git, "federation-bench");
  await pushTree(git, "federation-bench", { files });
  await applyToStore(
    runtime.store,
    gitRepositoryManifest("federation", "flux-system", { url, branch: "main", interval: "1h", secretRef: "bench-git" }),
  );
  await queue.enqueue({ key: "GitRepository/flux-system/federation", reason: "created" });
  await applyAll(plane.cluster, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: CLUSTER_NAMESPACE } }]);
  await applyAll(
    plane.cluster,
    servers.map((s, i) => kubeconfigSecret(`real-${i}`, s.kubeconfig)),
    { force: true },
  );

  /** Registers a round's 20 names (the last one dead or alive) and creates their target namespaces on the real servers. */
  const prepare = async (side: "dead" | "alive", index: number): Promise<Round> => {
    const namespace = `fed-${side}-${index}`;
    const names = Array.from({ length: CLUSTERS }, (_, c) => `${namespace}-c${String(c).padStart(2, "0")}`);
    for (const [c, name] of names.entries()) {
      const dead = side === "dead" && c === CLUSTERS - 1;
      let secretName = `real-${c % servers.length}`;
      if (dead) {
        const silent = await silentServer();
        silents.push(silent);
        secretName = `${name}-silent`;
        await applyAll(plane.cluster, [kubeconfigSecret(secretName, kubeconfigFor(silent.server, kube))], {
          force: true,
        });
      }
      await applyToStore(
        runtime.store,
        newClusterRegistration(name, "direct", undefined, { kubeConfig: { secretRef: { name: secretName } } }),
      );
    }
    const namespaceObject = (name: string): KubeObject => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    const namespaces = (s: number) => names.filter((_, c) => c % servers.length === s).map(namespaceObject);
    await Promise.all(admins.map((admin, s) => applyAll(admin, namespaces(s))));
    return { namespace, last: names[CLUSTERS - 1]! };
  };
  const rounds = { dead: [] as Round[], alive: [] as Round[] };
  for (let i = 0; i < ROUNDS; i++) rounds.dead.push(await prepare("dead", i));
  for (let i = 0; i < ROUNDS; i++) rounds.alive.push(await prepare("alive", i));
  await queue.idle();

  /** Registers a round's 100 Kustomizations (the last cluster's first in the queue) and waits until the 95 of the 19 others are Ready. */
  const converge = async (round: Round) => {
    const keys: string[] = [];
    const clusterNames = Array.from(
      { length: CLUSTERS },
      (_, c) => `${round.namespace}-c${String(c).padStart(2, "0")}`,
    ).reverse();
    const start = performance.now();
    for (const cluster of clusterNames) {
      for (let k = 0; k < PER_CLUSTER; k++) {
        const ks = kustomization(
          `${cluster.slice(round.namespace.length + 1)}-${k}`,
          round.namespace,
          "federation",
          cluster,
          cluster,
        );
        (ks.spec as { sourceRef: { namespace?: string } }).sourceRef.namespace = "flux-system";
        (ks.spec as { interval: string }).interval = "1h";
        await applyToStore(runtime.store, ks);
        keys.push(`Kustomization/${round.namespace}/${ks.metadata.name}`);
      }
    }
    for (const key of keys) await queue.enqueue({ key, reason: "created" });
    const others = (CLUSTERS - 1) * PER_CLUSTER;
    for (;;) {
      const listed = await runtime.store.list({ kind: "Kustomization", namespace: round.namespace });
      const ready = listed.filter(
        (s) => s.object.metadata.annotations?.["sluice.dev/cluster"] !== round.last && isReady(s.object),
      );
      if (ready.length >= others) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    return { msToConverge: performance.now() - start };
  };

  let dead = 0;
  let alive = 0;
  return [
    defineBenchmark({
      name: "federation-20-clusters-one-unreachable",
      iterations: ROUNDS - 2,
      warmup: 2,
      subject: {
        name: "19 clusters converge while the 20th never answers (its 5 Kustomizations queued first)",
        run: () => converge(rounds.dead[dead++]!),
      },
      baseline: { name: "the same 19 converge while all 20 answer", run: () => converge(rounds.alive[alive++]!) },
    }),
  ];
}

function isReady(object: KubeObject): boolean {
  const conditions = (object.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
  return Boolean(conditions?.some((c) => c.type === "Ready" && c.status === "True"));
}
