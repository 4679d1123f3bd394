import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statePaths } from "../src/runtime/state-paths.js";
import { FileStore } from "../src/store/fs-store.js";

/** `sluice run` in its own process, for measures that belong to that process alone (peak RSS, CPU). */
export interface SluiceProcess {
  /** The Store of its state folder: what is registered here it notices within its 1 s Store watch. */
  store: FileStore;
  stateDir: string;
  /** Resident set size now (VmRSS), in MiB. */
  rssMiB(): Promise<number>;
  /** Peak RSS (VmHWM) and CPU seconds of the process, and of the children it waited for (helm, kubectl). */
  usage(): Promise<{ peakRssMiB: number; cpuSeconds: number; cpuChildrenSeconds: number }>;
  stop(): Promise<void>;
}

/**
 * Starts `sluice run` as `npx sluice run` starts it (bin/sluice.js: the bundled CLI) on a fresh state
 * folder and the given kubeconfig, and resolves once it says it is reconciling. The folder (its
 * sluice.log has every reconcile's timing) is removed on stop unless SLUICE_BENCH_KEEP_STATE is set. `entry`: a
 * bundle's sluice.mjs to run instead (what bin/sluice.js imports), e.g. one built from another commit.
 */
export async function startSluiceProcess(
  kubeconfigPath: string,
  concurrency: number,
  entry = join(import.meta.dirname, "..", "bin", "sluice.js"),
): Promise<SluiceProcess> {
  const stateDir = await mkdtemp(join(tmpdir(), "sluice-bench-run-"));
  const child = spawn(
    process.execPath,
    [
      // e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (Node refuses --cpu-prof in NODE_OPTIONS).
      ...(process.env.SLUICE_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      entry,
      ...["run", "--state-dir", stateDir, "--kubeconfig", kubeconfigPath],
      ...["--concurrency", String(concurrency), "--port", "0", "--metrics-addr", "127.0.0.1:0"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let said = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      said = (said + chunk.toString("utf8")).slice(-4_096);
      if (said.includes("✔ reconciling")) resolve();
    });
    void exited.then(() => reject(new Error(`sluice run exited before reconciling:\n${said}`)));
  });
  const pid = child.pid!;
  return {
    store: new FileStore(statePaths(stateDir).store),
    stateDir,
    async rssMiB() {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
    },
    async usage() {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const hwmKiB = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
      // After "pid (comm) ": utime, stime, cutime, cstime (stat fields 14-17) at 11-14, in ticks of 1/100 s.
      const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ").map(Number);
      return {
        peakRssMiB: hwmKiB / 1024,
        cpuSeconds: (fields[11]! + fields[12]!) / 100,
        cpuChildrenSeconds: (fields[13]! + fields[14]!) / 100,
      };
    },
    async stop() {
      child.kill("SIGTERM");
      await exited;
      if (!process.env.SLUICE_BENCH_KEEP_STATE) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
