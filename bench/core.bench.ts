import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { KubeObject } from "../src/apply/object.js";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { checkout } from "../src/sources/git.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";
import { startBenchPlane, stopBenchPlane } from "./local-plane.js";

// The core loop in local mode, on the test bed:
// (a) push → applied for a 20-object app, against what a CI job would do for the same push
//     (git clone --depth 1, kubectl apply --server-side of the folder);
// (c) a no-op interval per Kustomization (requests, renders) with the render cache, against the
//     same interval rendering every time, as Flux does;
// (d) isomorphic-git checkout against `git clone --depth 1` of the same repository.

const run = promisify(execFile);
export const cleanup = stopBenchPlane;

const app = (ns: string, replicas: number): Record<string, string> => {
  const objects: KubeObject[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }];
  for (let i = 0; i < 19; i++)
    objects.push({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `cm-${i}`, namespace: ns },
      data: { replicas: String(replicas), index: String(i) },
    });
  return { "app/objects.yaml": objects.map((o) => stringify(o)).join("---\n") };
};

export default async function benchmarks(): Promise<Benchmark[]> {
  const { testbed, plane, gitSecret } = await startBenchPlane({ settings: { healthPollMs: 100 } });
  const { kube, git } = testbed.info;
  const tools = await resolveTools({ cacheDir: cacheDir() });
  const { runtime, queue } = plane;
  const authUrl = (url: string) => url.replace("http://", `http://${git.username}:${git.password}@`);

  // (a) push → applied
  const ours = await createRepo(git, "bench-push");
  const theirs = await createRepo(git, "bench-push-ci");
  let version = 0;
  await pushTree(git, "bench-push", { files: app("bench-push", version) });
  await applyToStore(
    runtime.store,
    gitRepositoryManifest("bench-push", "flux-system", {
      url: ours,
      branch: "main",
      interval: "10m",
      secretRef: gitSecret,
    }),
  );
  await applyToStore(
    runtime.store,
    kustomizationManifest("bench-push", "flux-system", {
      source: "bench-push",
      path: "./app",
      prune: true,
      interval: "10m",
    }),
  );
  await queue.enqueue({ key: "GitRepository/flux-system/bench-push", reason: "bench" });
  await queue.idle();
  const applied = async (name: string, sha: string) => {
    for (;;) {
      const ks = await runtime.store.get({ kind: "Kustomization", namespace: "flux-system", name });
      if ((ks?.object.status as { lastAppliedRevision?: string } | undefined)?.lastAppliedRevision?.endsWith(sha))
        return;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const pushToApplied = defineBenchmark({
    name: "push-to-applied-20-objects",
    iterations: 10,
    warmup: 1,
    subject: {
      name: "sluice run (webhook → fetch → render → apply)",
      run: async () => {
        const sha = await pushTree(git, "bench-push", { files: app("bench-push", ++version) });
        const start = performance.now();
        await queue.enqueue({ key: "GitRepository/flux-system/bench-push", reason: "webhook" });
        await applied("bench-push", sha);
        return { pushToAppliedMs: performance.now() - start };
      },
    },
    baseline: {
      name: "CI job: git clone --depth 1 + kubectl apply --server-side -f",
      run: async () => {
        await pushTree(git, "bench-push-ci", { files: app("bench-push-ci", ++version) });
        const start = performance.now();
        const dir = await mkdtemp(join(tmpdir(), "sluice-bench-ci-"));
        await run("git", [
          "clone",
          "--quiet",
          "--depth",
          "1",
          "--branch",
          "main",
          "--single-branch",
          authUrl(theirs),
          dir,
        ]);
        await run(tools.kubectl, [
          "--kubeconfig",
          kube.kubeconfigPath,
          "apply",
          "--server-side",
          "--force-conflicts",
          "-f",
          join(dir, "app"),
        ]);
        await rm(dir, { recursive: true, force: true });
        return { pushToAppliedMs: performance.now() - start };
      },
    },
  });

  // (c) no-op interval of 50 Kustomizations (one app each, all unchanged)
  const fleetRepo = await createRepo(git, "bench-noop");
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++)
    Object.assign(
      files,
      Object.fromEntries(Object.entries(app(`noop-${i}`, 0)).map(([, v]) => [`apps/app-${i}/objects.yaml`, v])),
    );
  await pushTree(git, "bench-noop", { files });
  await applyToStore(
    runtime.store,
    gitRepositoryManifest("bench-noop", "flux-system", {
      url: fleetRepo,
      branch: "main",
      interval: "10m",
      secretRef: gitSecret,
    }),
  );
  for (let i = 0; i < 50; i++)
    await applyToStore(
      runtime.store,
      kustomizationManifest(`noop-${i}`, "flux-system", {
        source: "bench-noop",
        path: `./apps/app-${i}`,
        prune: true,
        interval: "10m",
      }),
    );
  await queue.enqueue({ key: "GitRepository/flux-system/bench-noop", reason: "bench" });
  await queue.idle();
  const interval = async (): Promise<Metrics> => {
    const counts = { ...plane.cluster.client.counts };
    const renders = plane.runtime.renders.counters.builds;
    for (let i = 0; i < 50; i++)
      await queue.enqueue({ key: `Kustomization/flux-system/noop-${i}`, reason: "interval" });
    await new Promise((r) => setTimeout(r, 1));
    await queue.idle();
    const used = (k: keyof typeof counts) => plane.cluster.client.counts[k] - counts[k];
    return {
      requestsPerKustomization:
        (used("GET") + used("POST") + used("PATCH") + used("PUT") + used("DELETE") + used("dryRun")) / 50,
      writesPerKustomization: (used("POST") + used("PATCH") + used("PUT") + used("DELETE")) / 50,
      rendersPerKustomization: (plane.runtime.renders.counters.builds - renders) / 50,
    };
  };
  const noop = defineBenchmark({
    name: "no-op-interval-50-kustomizations",
    iterations: 5,
    warmup: 1,
    subject: { name: "sluice (render cache)", run: interval },
    baseline: {
      name: "rendering every interval (as Flux does)",
      run: async () => {
        plane.runtime.renders.clear();
        return interval();
      },
    },
  });

  // (d) isomorphic-git vs native git, depth 1, on a 600-file repository
  const big = await createRepo(git, "bench-fetch");
  const bigFiles: Record<string, string> = {};
  for (let i = 0; i < 600; i++)
    bigFiles[`dir-${i % 20}/file-${i}.yaml`] = `index: ${i}\npayload: ${"x".repeat(2048)}\n`;
  await pushTree(git, "bench-fetch", { files: bigFiles });
  const fetch = defineBenchmark({
    name: "git-checkout-depth-1-600-files",
    iterations: 10,
    subject: {
      name: "isomorphic-git (sluice)",
      run: async () => {
        const dir = await mkdtemp(join(tmpdir(), "sluice-bench-iso-"));
        await checkout(
          {
            url: big,
            auth: { username: git.username, password: git.password },
            network: { allowPrivateNetworks: true },
          },
          { branch: "main" },
          dir,
        );
        await rm(dir, { recursive: true, force: true });
      },
    },
    baseline: {
      name: "git clone --depth 1 (native)",
      run: async () => {
        const dir = await mkdtemp(join(tmpdir(), "sluice-bench-git-"));
        await run("git", [
          "clone",
          "--quiet",
          "--depth",
          "1",
          "--branch",
          "main",
          "--single-branch",
          "--no-tags",
          authUrl(big),
          dir,
        ]);
        await rm(dir, { recursive: true, force: true });
      },
    },
  });
  return [pushToApplied, noop, fetch];
}
