import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { KubeObject } from "../src/apply/object.js";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { defineBenchmark, type Benchmark } from "./harness.js";
import { startBenchPlane, stopBenchPlane } from "./local-plane.js";

// Fleet scale, shaped like fluxcd/flux-benchmark: N apps, each a Deployment scaled to 0, a
// ServiceAccount, a Service and an Ingress, each app its own Kustomization with prune, wait and a
// 1m timeout. Measured: registration → every Kustomization Ready, and peak RSS. Baseline: one
// `kubectl apply --server-side` of all objects (the floor: no per-app reconcile, no health wait). Then the same
// fleet written with targetNamespace (each app a plain folder namespaced in-process, as kustomize would) against
// that fast path, alternating.
// Sizes from the command line: `npm run bench -- fleet 100 500 1000` (default 100 500 1000).

export const cleanup = stopBenchPlane;

/** App i's four objects, in namespace `ns`, or in none (for a Kustomization's targetNamespace to set). */
export function appObjects(ns: string | undefined, i: number): KubeObject[] {
  const name = `app-${i}`;
  const labels = { app: name };
  const metadata = { name, ...(ns !== undefined && { namespace: ns }) };
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata,
      spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata,
      spec: {
        replicas: 0,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            containers: [{ name: "app", image: "ghcr.io/stefanprodan/podinfo:6.9.2" }],
          },
        },
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata,
      spec: {
        rules: [
          {
            host: `${name}.example.com`,
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }] },
          },
        ],
      },
    },
  ];
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const sizes = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  const { testbed, plane, kubectl, gitSecret } = await startBenchPlane({ concurrency: 8 });
  const { git } = testbed.info;
  const { runtime, queue } = plane;
  let round = 0;

  /**
   * Registers a fleet of n apps and waits until every Kustomization is Ready. `fast`: the objects carry their
   * namespace (a plain folder, read without kustomize); `targetNamespace`: they carry none and each Kustomization
   * sets it, as users write it (namespaced in-process by kustomize's rules: still no kustomize process).
   */
  const fleet = async (n: number, shape: "fast" | "targetNamespace") => {
    const id = `f${n}-${round++}`;
    await kubectl("create", "namespace", id);
    const files = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        `apps/app-${i}/app.yaml`,
        appObjects(shape === "fast" ? id : undefined, i)
          .map((o) => stringify(o))
          .join("---\n"),
      ]),
    );
    const url = await createRepo(git, id);
    await pushTree(git, id, { files });
    const start = performance.now();
    await applyToStore(
      runtime.store,
      gitRepositoryManifest(id, "flux-system", { url, branch: "main", interval: "10m", secretRef: gitSecret }),
    );
    for (let i = 0; i < n; i++) {
      await applyToStore(
        runtime.store,
        kustomizationManifest(`${id}-app-${i}`, "flux-system", {
          source: id,
          path: `./apps/app-${i}`,
          ...(shape === "targetNamespace" && { targetNamespace: id }),
          prune: true,
          wait: true,
          interval: "10m",
          healthCheckTimeout: "1m",
        }),
      );
      await queue.enqueue({ key: `Kustomization/flux-system/${id}-app-${i}`, reason: "created" });
    }
    await queue.enqueue({ key: `GitRepository/flux-system/${id}`, reason: "created" });
    const builds = runtime.renders.counters.builds;
    let ready = 0;
    while (ready < n) {
      await new Promise((r) => setTimeout(r, 500));
      const all = await runtime.store.list({ kind: "Kustomization", namespace: "flux-system" });
      ready = all.filter(
        (s) =>
          s.object.metadata.name.startsWith(`${id}-`) &&
          (s.object.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
            (c) => c.type === "Ready" && c.status === "True",
          ),
      ).length;
      process.stderr.write(`\r\x1b[K  ${ready}/${n} Ready after ${((performance.now() - start) / 1000).toFixed(0)} s`);
    }
    const secondsToAllReady = (performance.now() - start) / 1000;
    return {
      secondsToAllReady,
      secondsPerReconcile: (secondsToAllReady * 8) / n,
      renders: runtime.renders.counters.builds - builds,
      rssMiB: process.memoryUsage().rss / 1024 / 1024,
    };
  };

  return (sizes.length > 0 ? sizes : [100, 500, 1000]).flatMap((n) => [
    defineBenchmark({
      name: `fleet-${n}-apps`,
      iterations: 1,
      warmup: 0,
      subject: {
        name: "sluice run: registration → all Kustomizations Ready (objects carry their namespace: no kustomize)",
        run: () => fleet(n, "fast"),
      },
      baseline: {
        name: "kubectl apply --server-side of all objects at once",
        run: async () => {
          const id = `k${n}-${round++}`;
          await kubectl("create", "namespace", id);
          const file = join(await mkdtemp(join(tmpdir(), "sluice-bench-fleet-k-")), "all.yaml");
          await writeFile(
            file,
            Array.from({ length: n }, (_, i) => appObjects(id, i))
              .flat()
              .map((o) => stringify(o))
              .join("---\n"),
          );
          const start = performance.now();
          await kubectl("apply", "--server-side", "-f", file);
          return { secondsToAllReady: (performance.now() - start) / 1000 };
        },
      },
    }),
    defineBenchmark({
      name: `fleet-${n}-apps-targetNamespace`,
      iterations: 1,
      warmup: 0,
      subject: {
        name: "sluice run: the same fleet written with targetNamespace (namespaced in-process) → all Ready",
        run: () => fleet(n, "targetNamespace"),
      },
      baseline: { name: "the fast path: objects carry their namespace", run: () => fleet(n, "fast") },
    }),
  ]);
}
