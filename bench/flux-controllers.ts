import { access, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir } from "../src/runtime/cache-dir.js";
import {
  freePort,
  MissingPrerequisiteError,
  startProcess,
  waitUntilReady,
  type ServerProcess,
} from "../test/env/process.js";

/** The versions test/env/build-flux-controllers.sh builds (see there why these). */
export const FLUX_SOURCE_CONTROLLER = "v1.9.3";
export const FLUX_KUSTOMIZE_CONTROLLER = "v1.9.4";
const CONTROLLERS = ["source-controller", "kustomize-controller"] as const;

/** Flux's source-controller and kustomize-controller running as processes against one cluster. */
export interface FluxControllers {
  /** Peak RSS (VmHWM) of each controller so far, MiB. */
  peakRssMiB(): Promise<Record<(typeof CONTROLLERS)[number], number>>;
  stop(): Promise<void>;
}

/**
 * Starts both controllers on loopback against the kubeconfig's cluster, all namespaces watched, leader
 * election off (flux's default for a bare binary), `concurrency` reconciles each, source-controller
 * serving artifacts from a fresh storage folder; resolves once both answer /readyz. Their logs go to a
 * temporary folder kept when SLUICE_BENCH_KEEP_STATE is set.
 */
export async function startFluxControllers(kubeconfigPath: string, concurrency: number): Promise<FluxControllers> {
  const binDir = join(cacheDir(), "flux-controllers", `${FLUX_SOURCE_CONTROLLER}-${FLUX_KUSTOMIZE_CONTROLLER}`);
  for (const name of CONTROLLERS)
    await access(join(binDir, name)).catch(() => {
      throw new MissingPrerequisiteError(`Flux's ${name} (${binDir})`, "bash test/env/build-flux-controllers.sh");
    });
  const dir = await mkdtemp(join(tmpdir(), "sluice-bench-flux-"));
  const started: ServerProcess[] = [];
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop()));
    if (!process.env.SLUICE_BENCH_KEEP_STATE) await rm(dir, { recursive: true, force: true });
  };
  try {
    const storage = join(dir, "storage");
    await mkdir(storage); // source-controller refuses a storage path that does not exist
    const storagePort = await freePort();
    const start = async (name: (typeof CONTROLLERS)[number], args: string[]) => {
      const healthPort = await freePort();
      const child = startProcess({
        name,
        command: join(binDir, name),
        args: [
          "--watch-all-namespaces=true",
          `--concurrent=${concurrency}`,
          `--metrics-addr=127.0.0.1:${await freePort()}`,
          `--health-addr=127.0.0.1:${healthPort}`,
          "--enable-leader-election=false",
          "--log-level=error",
          ...args,
        ],
        logDir: dir,
        // No --kubeconfig flag (controller-runtime's is a Go flag they do not parse): its environment variable.
        // RUNTIME_NAMESPACE: the namespace they run in (for events and their own defaults).
        env: { KUBECONFIG: kubeconfigPath, RUNTIME_NAMESPACE: "flux-system" },
      });
      started.push(child);
      await waitUntilReady(`Flux's ${name}`, async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, {
        process: child,
        timeoutMs: 60_000,
      });
      return child;
    };
    const source = await start("source-controller", [
      `--storage-path=${storage}`,
      `--storage-addr=127.0.0.1:${storagePort}`,
      `--storage-adv-addr=127.0.0.1:${storagePort}`,
    ]);
    const kustomize = await start("kustomize-controller", []);
    return {
      async peakRssMiB() {
        const hwm = async (p: ServerProcess) => {
          const status = await readFile(`/proc/${p.child.pid}/status`, "utf8");
          return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
        };
        return { "source-controller": await hwm(source), "kustomize-controller": await hwm(kustomize) };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
