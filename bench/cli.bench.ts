import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { kustomizationManifest } from "../src/cli/manifests.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { statePaths } from "../src/runtime/state-paths.js";
import { FileStore } from "../src/store/fs-store.js";
import { applyToStore, writeStatus } from "../src/store/objects.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

// How long a `sluice` command takes to answer, start to exit, and its peak RSS, against
// `kubectl version --client` (a Go binary's start) in the same run:
// - `sluice --version`: the CLI's floor (goal ≤ 100 ms);
// - `sluice get kustomizations` over a local Store of 50 Kustomizations (goal ≤ 250 ms, ≤ 80 MB);
// - `npx sluice --version`: what typing `npx sluice` adds (npm's own start).
// Each command is a fresh process, timed from spawn to exit; RSS is GNU time's maximum resident size.

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const TIME = "/usr/bin/time";
const KUSTOMIZATIONS = 50;
let stateDir: string | undefined;

export async function cleanup(): Promise<void> {
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
}

/** Runs a command under GNU time; its peak RSS in MiB. */
async function measured(command: string, args: string[]): Promise<Metrics> {
  const { stderr } = await run(TIME, ["-f", "%M", command, ...args], { cwd: root });
  return { peakRssMiB: Number(stderr.trim().split("\n").at(-1)) / 1024 };
}

/** 50 Kustomizations, Ready, written through the Store API as `sluice run` would leave them. */
async function fillStore(dir: string): Promise<void> {
  const store = new FileStore(statePaths(dir).store);
  for (let i = 0; i < KUSTOMIZATIONS; i++) {
    const object = kustomizationManifest(`app-${i}`, "flux-system", {
      source: "GitRepository/fleet",
      path: `./apps/app-${i}`,
      prune: true,
      interval: "10m",
    });
    await applyToStore(store, object);
    const revision = `main@sha1:${"0".repeat(39)}${i % 10}`;
    await writeStatus(
      store,
      { kind: "Kustomization", namespace: "flux-system", name: `app-${i}` },
      {
        lastAppliedRevision: revision,
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "ReconciliationSucceeded",
            message: `Applied revision: ${revision}`,
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    );
  }
}

export default async function (): Promise<Benchmark[]> {
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed to read each process's peak RSS`);
  const { kubectl } = await resolveTools({ cacheDir: cacheDir() });
  const sluice = [join(root, "bin", "sluice.js")];
  const kubectlSide = { name: "kubectl version --client", run: () => measured(kubectl, ["version", "--client"]) };
  return [
    defineBenchmark({
      name: "cli-version",
      // The bundle is built (or found fresh) here, not in a timed run.
      setup: async () => void (await run(process.execPath, [...sluice, "--version"])),
      subject: { name: "sluice --version", run: () => measured(process.execPath, [...sluice, "--version"]) },
      baseline: kubectlSide,
    }),
    defineBenchmark({
      name: `cli-get-kustomizations-${KUSTOMIZATIONS}`,
      setup: async () => {
        stateDir = await mkdtemp(join(tmpdir(), "sluice-bench-cli-"));
        await fillStore(stateDir);
      },
      subject: {
        name: `sluice get kustomizations (${KUSTOMIZATIONS}, local Store)`,
        run: () => measured(process.execPath, [...sluice, "get", "kustomizations", "--state-dir", stateDir!]),
      },
      baseline: kubectlSide,
    }),
    defineBenchmark({
      name: "cli-npx-version",
      subject: { name: "npx sluice --version", run: () => measured("npx", ["--no-install", "sluice", "--version"]) },
      baseline: kubectlSide,
      iterations: 5,
    }),
  ];
}
