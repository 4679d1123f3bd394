import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { applyAll } from "../src/apply/apply.js";
import type { KubeObject } from "../src/apply/object.js";
import { openCluster, type Cluster } from "../src/cluster/cluster.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { systemClock } from "../src/ports/clock.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

// The apply engine against `kubectl apply --server-side` of the same objects, on the test bed's
// real kube-apiserver: creating N ConfigMaps, re-applying them unchanged, and a 50-object app with
// a CRD. Subject metrics: API requests per object, writes, objects/s.

const run = promisify(execFile);
const owner = { name: "bench", namespace: "flux-system" };
let testbed: Testbed | undefined;

export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["kube"] });
  const kube = testbed.info.kube;
  const kubectl = (await resolveTools({ cacheDir: cacheDir() })).kubectl;
  const dir = await mkdtemp(join(tmpdir(), "sluice-bench-apply-"));
  const cluster = await openCluster({ kubeconfig: kube.kubeconfig }, systemClock);
  let serial = 0;

  const kubectlApply = async (objects: KubeObject[]): Promise<Metrics> => {
    // kubectl cannot map a custom kind before its CRD is established, so (as a user would) the
    // baseline applies CRDs first, waits for Established, then applies the rest.
    const crds = objects.filter((o) => o.kind === "CustomResourceDefinition");
    const rest = objects.filter((o) => o.kind !== "CustomResourceDefinition");
    const kubectlRun = (...args: string[]) =>
      run(kubectl, ["--kubeconfig", kube.kubeconfigPath, ...args], { maxBuffer: 64 << 20 });
    const applyArgs = ["apply", "--server-side", "--force-conflicts", "--field-manager", "kubectl-bench", "-f"];
    const start = performance.now();
    if (crds.length > 0) {
      await kubectlRun(...applyArgs, await writeSet(crds));
      await kubectlRun(
        "wait",
        "--for",
        "condition=Established",
        "--timeout",
        "60s",
        ...crds.map((c) => `crd/${c.metadata.name}`),
      );
    }
    await kubectlRun(...applyArgs, await writeSet(rest));
    return { objectsPerSecond: objects.length / ((performance.now() - start) / 1000) };
  };
  const writeSet = async (objects: KubeObject[]): Promise<string> => {
    const file = join(dir, `set-${serial++}.yaml`);
    await writeFile(file, objects.map((o) => stringify(o)).join("---\n"));
    return file;
  };
  const sluiceApply = async (objects: KubeObject[], target: Cluster = cluster): Promise<Metrics> => {
    const before = { ...target.client.counts };
    const start = performance.now();
    await applyAll(target, objects, { owner });
    const seconds = (performance.now() - start) / 1000;
    const used = (k: keyof typeof before) => target.client.counts[k] - before[k];
    const requests = used("GET") + used("POST") + used("PATCH") + used("PUT") + used("DELETE") + used("dryRun");
    return {
      objectsPerSecond: objects.length / seconds,
      requestsPerObject: requests / objects.length,
      writes: used("PATCH") + used("POST") + used("PUT") + used("DELETE"),
    };
  };

  const created = (n: number): Benchmark =>
    defineBenchmark({
      name: `apply-create-${n}-configmaps`,
      iterations: n >= 1000 ? 3 : 5,
      warmup: 1,
      subject: { name: "sluice applyAll", run: () => sluiceApply(configMaps(`s-${n}-${serial++}`, n)) },
      baseline: { name: "kubectl apply --server-side", run: () => kubectlApply(configMaps(`k-${n}-${serial++}`, n)) },
    });
  const noop = (n: number): Benchmark => {
    const ours = configMaps(`noop-s-${n}`, n);
    const theirs = configMaps(`noop-k-${n}`, n);
    return defineBenchmark({
      name: `apply-noop-${n}-configmaps`,
      iterations: n >= 1000 ? 3 : 5,
      warmup: 1,
      setup: async () => {
        await sluiceApply(ours);
        await kubectlApply(theirs);
      },
      // A fresh client each run: discovery is part of what a reconcile pays in a new Lambda.
      subject: {
        name: "sluice applyAll (no-op)",
        run: async () => sluiceApply(ours, await openCluster({ kubeconfig: kube.kubeconfig }, systemClock)),
      },
      baseline: { name: "kubectl apply --server-side (no-op)", run: () => kubectlApply(theirs) },
    });
  };
  const app = defineBenchmark({
    name: "apply-create-50-object-app-with-crd",
    iterations: 5,
    warmup: 1,
    subject: { name: "sluice applyAll", run: () => sluiceApply(appWithCrd(`app-s-${serial++}`)) },
    baseline: { name: "kubectl apply --server-side", run: () => kubectlApply(appWithCrd(`app-k-${serial++}`)) },
  });
  return [created(1), created(100), created(1000), noop(1), noop(100), noop(1000), app];
}

function namespace(name: string): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

function configMaps(ns: string, n: number): KubeObject[] {
  return [
    namespace(ns),
    ...Array.from({ length: n }, (_, i): KubeObject => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `cm-${i}`, namespace: ns },
      data: { index: String(i), payload: "x".repeat(256) },
    })),
  ];
}

/** 50 objects: a CRD, a Namespace, and 8 each of ServiceAccount, ConfigMap, Service, Deployment and the custom kind, plus 8 more ConfigMaps. */
function appWithCrd(ns: string): KubeObject[] {
  const group = "bench.sluice.test";
  const crd: KubeObject = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `gadgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "gadgets", singular: "gadget", kind: "Gadget", listKind: "GadgetList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  };
  const objects: KubeObject[] = [crd, namespace(ns)];
  for (let i = 0; i < 8; i++) {
    const labels = { app: `app-${i}` };
    objects.push(
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: `app-${i}`, namespace: ns } },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `app-${i}`, namespace: ns },
        data: { config: `value-${i}` },
      },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `app-${i}-extra`, namespace: ns },
        data: { extra: `value-${i}` },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: `app-${i}`, namespace: ns },
        spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
      },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: `app-${i}`, namespace: ns },
        spec: {
          replicas: 0,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { serviceAccountName: `app-${i}`, containers: [{ name: "app", image: "registry.invalid/app:1" }] },
          },
        },
      },
      {
        apiVersion: `${group}/v1`,
        kind: "Gadget",
        metadata: { name: `gadget-${i}`, namespace: ns },
        spec: { size: i },
      },
    );
  }
  return objects;
}
