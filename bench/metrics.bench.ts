import { stringify } from "yaml";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { dispatch } from "../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../src/controllers/reconciler-ports.js";
import { systemClock } from "../src/ports/clock.js";
import { PrometheusMetrics } from "../src/runtime/prometheus.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { defineBenchmark, type Benchmark } from "./harness.js";
import { startBenchPlane, stopBenchPlane } from "./local-plane.js";

// What /metrics costs a reconcile: the same no-op interval of 50 Kustomizations (one ConfigMap each, unchanged),
// dispatched with the Prometheus recorder (the dispatcher's record and the queue's observer calls, as `sluice run`
// makes them) and without, alternating in one process. A scrape of the whole registry is timed on the side.

export const cleanup = stopBenchPlane;
const FLEET = 50;

export default async function benchmarks(): Promise<Benchmark[]> {
  const { testbed, plane, gitSecret } = await startBenchPlane();
  const { runtime, queue } = plane;
  const repo = await createRepo(testbed.info.git!, "bench-metrics");
  const files: Record<string, string> = {};
  for (let i = 0; i < FLEET; i++)
    files[`apps/app-${i}/cm.yaml`] = stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `metrics-${i}`, namespace: "flux-system" },
      data: { index: String(i) },
    });
  await pushTree(testbed.info.git!, "bench-metrics", { files });
  await applyToStore(
    runtime.store,
    gitRepositoryManifest("bench-metrics", "flux-system", {
      url: repo,
      branch: "main",
      interval: "10m",
      secretRef: gitSecret,
    }),
  );
  const keys: string[] = [];
  for (let i = 0; i < FLEET; i++) {
    await applyToStore(
      runtime.store,
      kustomizationManifest(`metrics-${i}`, "flux-system", {
        source: "bench-metrics",
        path: `./apps/app-${i}`,
        prune: true,
        interval: "10m",
      }),
    );
    keys.push(`Kustomization/flux-system/metrics-${i}`);
  }
  await queue.enqueue({ key: "GitRepository/flux-system/bench-metrics", reason: "bench" });
  await queue.idle();

  const metrics = new PrometheusMetrics({ clock: systemClock, objectState: true });
  const measured: ReconcilerPorts = { ...runtime, metrics };
  const interval = async (ports: ReconcilerPorts, observe: boolean) => {
    for (const key of keys) {
      if (observe) metrics.waiting(key, systemClock.now());
      if (observe) metrics.started(key);
      await dispatch(ports, { key, reason: "interval" });
      if (observe) metrics.finished(key);
    }
  };
  // The recorder alone: the dispatcher's call and the queue's three per reconcile, over 50 objects in steady state.
  const agentLike = new PrometheusMetrics({ clock: systemClock, objectState: false });
  const records = (recorder: PrometheusMetrics) => {
    for (let i = 0; i < 10_000; i++) {
      const key = keys[i % FLEET]!;
      recorder.waiting(key, systemClock.now());
      recorder.started(key);
      recorder.finished(key);
      recorder.reconciled({
        object: {
          apiVersion: "kustomize.toolkit.fluxcd.io/v1",
          kind: "Kustomization",
          metadata: { name: `metrics-${i % FLEET}`, namespace: "flux-system" },
          spec: { sourceRef: { name: "bench-metrics" } },
          status: { conditions: [{ type: "Ready", status: "True" }], lastAppliedRevision: "main@sha1:abc" },
        },
        durationMs: 12,
        result: "requeue_after",
      });
    }
    return Promise.resolve();
  };
  return [
    defineBenchmark({
      name: `metrics-overhead-${FLEET}-noop-reconciles`,
      iterations: 20,
      warmup: 2,
      subject: {
        name: "with the Prometheus recorder",
        run: async () => {
          await interval(measured, true);
          const start = performance.now();
          const text = await metrics.exposition();
          return { scrapeMs: performance.now() - start, exposedKiB: text.length / 1024 };
        },
      },
      baseline: { name: "without metrics", run: () => interval(runtime, false) },
    }),
    defineBenchmark({
      name: "metrics-record-10000",
      iterations: 10,
      warmup: 2,
      subject: {
        name: "10 000 reconciles recorded as sluice run does (object state too)",
        run: () => records(metrics),
      },
      baseline: { name: "as the agent does (no object state)", run: () => records(agentLike) },
    }),
  ];
}
