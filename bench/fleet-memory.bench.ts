import { execFile } from "node:child_process";
import { mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import type { bundleOptions as BundleOptions } from "../scripts/build.js";
import { stringify } from "yaml";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { appObjects } from "./fleet.bench.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";
import { startSluiceProcess } from "./sluice-process.js";

// Memory of `sluice run` at fleet scale (issue 18 item 2), as users run it: the bundled CLI in its own process.
// Subject: the CLI bundle of this checkout (or of the commit SLUICE_BENCH_SUBJECT names); baseline: the bundle of the
// commit SLUICE_BENCH_BASELINE names (default HEAD), both built here the way scripts/build.ts builds the CLI, run alternately on the same test bed. The fleet is
// fleet.bench's (N apps of four objects, each its own Kustomization with prune, wait, a 1m timeout), in two shapes:
// `namespaced` (objects carry their namespace: no kustomize runs) and `targetNamespace` (as users write it, as in
// flux-baseline.bench). Per run: objects registered → every Kustomization Ready, peak RSS (VmHWM) of the process,
// its RSS once started (code and start-up, nothing reconciled yet) and its CPU seconds. helm and kubectl children
// are not counted (none run in these shapes except kustomize's kubectl for targetNamespace).
// `npm run bench -- fleet-memory 100 1000` (default 100); SLUICE_BENCH_SHAPES=namespaced,targetNamespace (default).

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const CONCURRENCY = 4;
const SHAPES = (process.env.SLUICE_BENCH_SHAPES ?? "namespaced,targetNamespace").split(",");

let testbed: Testbed | undefined;
export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

/** The CLI bundle of `tree` (its own scripts/build.ts options, code-split as buildCli splits it) in `outdir`. */
async function buildBundle(tree: string, outdir: string): Promise<string> {
  const { bundleOptions } = (await import(join(tree, "scripts", "build.ts"))) as {
    bundleOptions: typeof BundleOptions;
  };
  await build({
    ...(await bundleOptions()),
    entryPoints: { sluice: join(tree, "src", "cli", "main.ts") },
    outdir,
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    absWorkingDir: tree,
  });
  return join(outdir, "sluice.mjs");
}

/** A folder beside a link to this checkout's node_modules (where a bundle finds the packages it leaves out). */
async function folderWithModules(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `sluice-bench-${name}-`));
  await symlink(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** The bundle of commit `ref`, built from its exported tree. */
async function bundleOfCommit(ref: string): Promise<string> {
  const tree = await folderWithModules("baseline");
  await run("sh", ["-c", `git -C "${root}" archive "$0" | tar -x -C "${tree}"`, ref]);
  return buildBundle(tree, join(tree, "bundle"));
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const sizes = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  const baselineRef = process.env.SLUICE_BENCH_BASELINE ?? "HEAD";
  const subjectRef = process.env.SLUICE_BENCH_SUBJECT;
  const subjectEntry = subjectRef
    ? await bundleOfCommit(subjectRef)
    : await buildBundle(root, join(await folderWithModules("subject"), "bundle"));
  const baselineEntry = await bundleOfCommit(baselineRef);
  testbed = await startTestbed({ only: ["kube", "git"] });
  const { kube, git } = testbed.info;
  const { kubectl: kubectlPath } = await resolveTools({ cacheDir: cacheDir() });
  const kubectl = (...args: string[]) => run(kubectlPath, ["--kubeconfig", kube.kubeconfigPath, ...args]);
  let counter = 0;

  /** One round: a fresh Git repository of N apps and namespaces, `sluice run` from `entry` until all are Ready. */
  const fleetRound = async (entry: string, n: number, shape: string): Promise<Metrics> => {
    const id = `fm${n}-${counter++}`;
    const sources = `${id}-flux`;
    await kubectl("create", "namespace", id);
    await kubectl("create", "namespace", sources);
    await kubectl(
      ...["-n", sources, "create", "secret", "generic", "git"],
      ...[`--from-literal=username=${git.username}`, `--from-literal=password=${git.password}`],
    );
    const namespaced = shape === "namespaced";
    const files = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        `apps/app-${i}/app.yaml`,
        appObjects(namespaced ? id : undefined, i)
          .map((o) => stringify(o))
          .join("---\n"),
      ]),
    );
    const url = await createRepo(git, `${id}-fleet`);
    await pushTree(git, `${id}-fleet`, { files });
    const sluice = await startSluiceProcess(kube.kubeconfigPath, CONCURRENCY, entry);
    try {
      const startedRssMiB = await sluice.rssMiB();
      const start = performance.now();
      await applyToStore(
        sluice.store,
        gitRepositoryManifest("fleet", sources, { url, branch: "main", interval: "10m", secretRef: "git" }),
      );
      for (let i = 0; i < n; i++)
        await applyToStore(
          sluice.store,
          kustomizationManifest(`app-${i}`, sources, {
            source: "GitRepository/fleet",
            path: `./apps/app-${i}`,
            ...(!namespaced && { targetNamespace: id }),
            prune: true,
            wait: true,
            interval: "10m",
            healthCheckTimeout: "1m",
          }),
        );
      for (let ready = 0; ready < n;) {
        await new Promise((r) => setTimeout(r, 500));
        ready = (await sluice.store.list({ kind: "Kustomization", namespace: sources })).filter((s) =>
          (s.object.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
            (c) => c.type === "Ready" && c.status === "True",
          ),
        ).length;
        process.stderr.write(
          `\r\x1b[K  ${ready}/${n} Ready after ${((performance.now() - start) / 1000).toFixed(0)} s`,
        );
      }
      const secondsToAllReady = (performance.now() - start) / 1000;
      const { peakRssMiB, cpuSeconds } = await sluice.usage();
      return { secondsToAllReady, peakRssMiB, startedRssMiB, cpuSeconds };
    } finally {
      await sluice.stop();
      // Not waited for: the next round's namespaces are new, and the apiserver deletes in the background.
      await kubectl("delete", "namespace", id, sources, "--wait=false");
    }
  };

  return (sizes.length > 0 ? sizes : [100]).flatMap((n) =>
    SHAPES.map((shape) =>
      defineBenchmark({
        name: `fleet-memory-${n}-apps-${shape}`,
        iterations: 1,
        warmup: 0,
        subject: {
          name: `sluice run, ${subjectRef ?? "this checkout"}'s CLI bundle`,
          run: () => fleetRound(subjectEntry, n, shape),
        },
        baseline: { name: `sluice run, ${baselineRef}'s CLI bundle`, run: () => fleetRound(baselineEntry, n, shape) },
      }),
    ),
  );
}
