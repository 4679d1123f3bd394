import { readFile } from "node:fs/promises";

// Kustomize and Helm run as child processes on what a tenant wrote; Go's own memory limit (GOMEMLIMIT) is only a
// target for its collector, and a Lambda that runs out of memory is killed with every reconcile of its batch. So the
// child's resident memory is read from /proc while it runs, and the child is stopped once past the limit. Where
// there is no /proc (macOS), nothing is watched.

/** How often the child's memory is read: a Go program allocating fast overshoots by what it allocates in this time. */
const EVERY_MS = 50;

/**
 * Reads the resident memory of process `pid` every EVERY_MS and calls `over` once (then stops) when it passes
 * `maxBytes`. Returns a function that stops watching.
 */
export function watchMemory(pid: number | undefined, maxBytes: number, over: () => void): () => void {
  if (pid === undefined) return () => undefined;
  let stopped = false;
  const timer = setInterval(() => {
    void residentBytes(pid).then((bytes) => {
      if (stopped || bytes === undefined || bytes <= maxBytes) return;
      stop();
      over();
    });
  }, EVERY_MS);
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}

/** VmRSS of `pid` in bytes; undefined when it cannot be read (gone, or no /proc). */
async function residentBytes(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => undefined);
  const kib = status && /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kib ? Number(kib) * 1024 : undefined;
}

/** The message of a child stopped for its memory. */
export function overMemoryMessage(what: string, maxBytes: number): string {
  return `${what} used more than ${maxBytes} bytes of memory, over the limit (renderLimits.maxMemoryBytes)`;
}
