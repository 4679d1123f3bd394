import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import type { Settings } from "../src/controllers/settings.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { systemClock } from "../src/ports/clock.js";
import { startLocal, type LocalControlPlane } from "../src/runtime/local.js";
import { startTestbed, type Testbed, type TestbedInfo } from "../test/env/testbed.js";

const run = promisify(execFile);
let running: { testbed: Testbed; plane?: LocalControlPlane } | undefined;

export interface BenchPlane {
  testbed: Testbed;
  plane: LocalControlPlane;
  kubectl(...args: string[]): Promise<{ stdout: string }>;
  /** The Secret (in flux-system) holding the test bed's Git credentials (when Git was started). */
  gitSecret: string;
}

/**
 * The test bed (kube + Git, or the components named) and a local control plane on it, for benchmarks of
 * the core loop (kube must be among them). `SLUICE_BENCH_LOG=<file>` writes the control plane's JSON log there (per-reconcile timings).
 */
export async function startBenchPlane(
  options: { concurrency?: number; settings?: Partial<Settings>; components?: (keyof TestbedInfo)[] } = {},
): Promise<BenchPlane> {
  const testbed = await startTestbed({ only: options.components ?? ["kube", "git"] });
  running = { testbed };
  const { kube, git } = testbed.info;
  const tools = await resolveTools({ cacheDir: cacheDir() });
  const kubectl = (...args: string[]) =>
    run(tools.kubectl, ["--kubeconfig", kube.kubeconfigPath, ...args], { maxBuffer: 256 << 20 });
  const plane = await startLocal({
    stateDir: await mkdtemp(join(tmpdir(), "sluice-bench-")),
    kubeconfig: kube.kubeconfig,
    clock: systemClock,
    log: pino(
      { level: process.env.SLUICE_BENCH_LOG ? "info" : "warn" },
      pino.destination(process.env.SLUICE_BENCH_LOG ?? 2),
    ),
    concurrency: options.concurrency,
    settings: options.settings,
    // Benchmarks enqueue what they register; the Store watch would only add noise.
    watchIntervalMs: 3_600_000,
  });
  running.plane = plane;
  await kubectl("create", "namespace", "flux-system");
  if (git)
    await kubectl(
      "-n",
      "flux-system",
      "create",
      "secret",
      "generic",
      "bench-git",
      `--from-literal=username=${git.username}`,
      `--from-literal=password=${git.password}`,
    );
  return { testbed, plane, kubectl, gitSecret: "bench-git" };
}

export async function stopBenchPlane(): Promise<void> {
  await running?.plane?.stop();
  await running?.testbed.stop();
}
