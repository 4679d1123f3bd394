import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { GitRepository } from "../src/api/gitrepository.js";
import type { KubeObject } from "../src/apply/object.js";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { reconcileGitRepository } from "../src/controllers/source/gitrepository.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { checkoutInMemory, type GitRemote } from "../src/sources/git.js";
import { applyToStore } from "../src/store/objects.js";
import { serveRealRepo, type RealRepoName } from "../test/env/real-repos.js";
import { defineBenchmark, type Benchmark } from "./harness.js";
import { startBenchPlane, stopBenchPlane } from "./local-plane.js";

// Real repositories (built by test/env/build-real-repos.sh, served by the test bed's Git server):
// (a) a new commit fetched as a GitRepository reconcile does it (the ref resolved, a depth-1 checkout of the new
//     revision, the artifact archived and stored) against `git fetch --depth 1` of the same commit into a clone;
// (b) a GitRepository's first depth-1 fetch (the tree read into memory for its artifact) against `git clone --depth 1`;
// (c) podinfo's kustomize/ applied by a Kustomization reconcile against `kubectl apply --server-side -k`, each
//     iteration changing a label on every object so that both really write.

const run = promisify(execFile);
export const cleanup = stopBenchPlane;
/** Warm-up and timed rounds: each moves the branch one commit on, so that many commits must remain. */
const WARMUP = 2;
const ITERATIONS = 10;
const NAMESPACE = "flux-system";

export default async function benchmarks(): Promise<Benchmark[]> {
  const { testbed, plane, kubectl, gitSecret } = await startBenchPlane();
  const git = testbed.info.git!;
  const { runtime, queue } = plane;
  const cache = cacheDir();
  const authUrl = (url: string) => url.replace("http://", `http://${git.username}:${git.password}@`);
  const remote = (url: string): GitRemote => ({
    url,
    auth: { username: git.username, password: git.password },
    network: { allowPrivateNetworks: true },
  });
  const rounds = WARMUP + ITERATIONS;

  const newCommit = async (name: RealRepoName): Promise<Benchmark> => {
    // The last commits of the history: successive versions, as a repository moves on.
    const start = -(rounds + 1);
    const ours = await serveRealRepo(git, cache, name, `${name}-fetch-sluice`, start);
    const theirs = await serveRealRepo(git, cache, name, `${name}-fetch-git`, start);
    let object = gitRepositoryManifest(`${name}-fetch`, NAMESPACE, {
      url: ours.url,
      branch: "master",
      interval: "10m",
      secretRef: gitSecret,
    }) as GitRepository;
    object = { ...object, metadata: { ...object.metadata, generation: 1 } };
    const reconcile = async (expected: string) => {
      const outcome = await reconcileGitRepository(runtime, object);
      if (!outcome.status.artifact?.revision.endsWith(expected))
        throw new Error(`${name}: reconcile did not store ${expected}: ${JSON.stringify(outcome.status.conditions)}`);
      object = { ...object, status: outcome.status };
      return { artifactKiB: Math.round(outcome.status.artifact.size! / 1024) };
    };
    const clone = await mkdtemp(join(tmpdir(), `sluice-bench-${name}-clone-`));
    let [oursAt, theirsAt] = [ours.commits.length + start, theirs.commits.length + start];
    return defineBenchmark({
      name: `real-repo-new-commit-${name}`,
      iterations: ITERATIONS,
      warmup: WARMUP,
      setup: async () => {
        await reconcile(ours.commits.at(start)!);
        await run("git", ["clone", "--quiet", "--depth", "1", "--branch", "master", authUrl(theirs.url), clone]);
      },
      teardown: () => rm(clone, { recursive: true, force: true }),
      subject: {
        name: "GitRepository reconcile (ref, depth-1 checkout, archive, store)",
        prepare: () => ours.moveTo(ours.commits[++oursAt]!),
        run: () => reconcile(ours.commits[oursAt]!),
      },
      baseline: {
        name: "git fetch --depth 1 into a clone",
        prepare: async () => {
          const head = (await run("git", ["-C", clone, "rev-parse", "FETCH_HEAD"]).catch(() => ({ stdout: "" })))
            .stdout;
          if (theirsAt !== theirs.commits.length + start && head.trim() !== theirs.commits[theirsAt])
            throw new Error(`${name}: git fetch did not fetch ${theirs.commits[theirsAt]}`);
          await theirs.moveTo(theirs.commits[++theirsAt]!);
        },
        run: async () => void (await run("git", ["-C", clone, "fetch", "--quiet", "--depth", "1", "origin", "master"])),
      },
    });
  };

  const firstCheckout = async (name: RealRepoName): Promise<Benchmark> => {
    const served = await serveRealRepo(git, cache, name, `${name}-clone`, -1);
    const dirs: string[] = [];
    const fresh = async () => {
      await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
      dirs.push(await mkdtemp(join(tmpdir(), `sluice-bench-${name}-`)));
    };
    return defineBenchmark({
      name: `real-repo-first-checkout-${name}`,
      iterations: ITERATIONS,
      warmup: WARMUP,
      teardown: fresh,
      subject: {
        name: "checkoutInMemory (a GitRepository's first fetch: depth 1, the tree read into memory)",
        prepare: fresh,
        run: async () => void (await checkoutInMemory(remote(served.url), { branch: "master" }, dirs[0]!)),
      },
      baseline: {
        name: "git clone --depth 1",
        prepare: fresh,
        run: async () =>
          void (await run("git", [
            ...["clone", "--quiet", "--depth", "1", "--branch", "master", "--single-branch", "--no-tags"],
            ...[authUrl(served.url), join(dirs[0]!, "clone")],
          ])),
      },
    });
  };

  const applyPodinfo = async (): Promise<Benchmark> => {
    const served = await serveRealRepo(git, cache, "podinfo", "podinfo-apply", -1);
    const [oursNs, theirsNs] = ["bench-podinfo-sluice", "bench-podinfo-kubectl"];
    await kubectl("create", "namespace", oursNs);
    await kubectl("create", "namespace", theirsNs);
    await applyToStore(
      runtime.store,
      gitRepositoryManifest("podinfo-apply", NAMESPACE, {
        url: served.url,
        branch: "master",
        interval: "10m",
        secretRef: gitSecret,
      }),
    );
    const kustomization = (iteration: number): KubeObject => {
      const manifest = kustomizationManifest("podinfo-apply", NAMESPACE, {
        source: "podinfo-apply",
        path: "./kustomize",
        prune: true,
        interval: "10m",
        targetNamespace: oursNs,
      });
      const labels = { "bench-iteration": String(iteration) };
      return { ...manifest, spec: { ...(manifest.spec as object), commonMetadata: { labels } } };
    };
    // kubectl's side: the same folder, the same namespace and label through kustomize's own fields.
    const folder = await mkdtemp(join(tmpdir(), "sluice-bench-podinfo-kustomize-"));
    const bare = join(git.root, "podinfo-apply.git");
    await run("sh", ["-c", 'git --git-dir="$0" archive master kustomize | tar -x -C "$1"', bare, folder]);
    const theirs = join(folder, "kustomize");
    const theirKustomization = (iteration: number) =>
      writeFile(
        join(theirs, "kustomization.yaml"),
        [
          "apiVersion: kustomize.config.k8s.io/v1beta1",
          "kind: Kustomization",
          `namespace: ${theirsNs}`,
          "resources: [hpa.yaml, deployment.yaml, service.yaml]",
          "labels:",
          `- pairs: {bench-iteration: "${iteration}"}`,
          "",
        ].join("\n"),
      );
    const applied = async (generation: number) => {
      const key = { kind: "Kustomization", namespace: NAMESPACE, name: "podinfo-apply" };
      for (;;) {
        const status = (await runtime.store.get(key))?.object.status as
          { observedGeneration?: number; conditions?: { type: string; status: string; message: string }[] } | undefined;
        const ready = status?.conditions?.find((c) => c.type === "Ready");
        if ((status?.observedGeneration ?? 0) >= generation && ready?.status === "True") return;
        if ((status?.observedGeneration ?? 0) >= generation && ready?.status === "False")
          throw new Error(`podinfo Kustomization failed: ${ready.message}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    let iteration = 0;
    let generation = 0;
    const ourRound = async () => {
      await applyToStore(runtime.store, kustomization(++iteration));
      generation = (await runtime.store.get({ kind: "Kustomization", namespace: NAMESPACE, name: "podinfo-apply" }))!
        .object.metadata.generation!;
    };
    return defineBenchmark({
      name: "real-repo-apply-podinfo-kustomize",
      iterations: ITERATIONS,
      warmup: WARMUP,
      setup: async () => {
        await ourRound();
        await queue.enqueue({ key: "GitRepository/flux-system/podinfo-apply", reason: "bench" });
        await queue.idle();
        await queue.enqueue({ key: "Kustomization/flux-system/podinfo-apply", reason: "bench" });
        await applied(generation);
      },
      teardown: () => rm(folder, { recursive: true, force: true }),
      subject: {
        name: "Kustomization reconcile (artifact, kustomize build, apply)",
        prepare: ourRound,
        run: async () => {
          await queue.enqueue({ key: "Kustomization/flux-system/podinfo-apply", reason: "bench" });
          await applied(generation);
        },
      },
      baseline: {
        name: "kubectl apply --server-side -k",
        prepare: () => theirKustomization(++iteration),
        run: async () =>
          void (await kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "bench", "-k", theirs)),
      },
    });
  };

  // SLUICE_BENCH_REAL_REPOS=podinfo skips the large repository.
  const names = (process.env.SLUICE_BENCH_REAL_REPOS?.split(",") ?? ["podinfo", "client-go"]) as RealRepoName[];
  return [
    ...(await Promise.all(names.map(newCommit))),
    ...(await Promise.all(names.map(firstCheckout))),
    await applyPodinfo(),
  ];
}
