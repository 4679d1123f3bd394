import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

/** What a finished helm process left: its exit, the bounded ends of its output and how long it ran. */
export interface HelmProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The first `maxOutputBytes` of stdout. */
  stdout: string;
  /** The last `maxOutputBytes` of stderr, where helm's `Error:` line is. */
  stderr: string;
  durationMs: number;
  /** Killed for running past `timeoutMs`. */
  timedOut: boolean;
}

export interface HelmProcessOptions {
  /** Private folder (see withPrivateDir) for helm's config, cache, data and temporary files. */
  dir: string;
  timeoutMs: number;
  /** @default 1 MiB */
  maxOutputBytes?: number;
  /** Between SIGTERM (helm cancels its action and records it as failed) and SIGKILL. @default 10_000 */
  killGraceMs?: number;
}

/** HELM_PLUGINS of a run in `dir`: empty, or holding only Sluice's own post-renderer (see post-render.ts). */
export function helmPluginsDir(dir: string): string {
  return join(dir, "plugins");
}

/**
 * Runs the helm binary isolated: an environment of its own (no KUBECONFIG, HELM_* or proxy settings of the host),
 * config, cache and data folders in `dir`, plugins off and HELM_PLUGINS an empty folder (no plugin from anywhere may
 * run), no repository configured. Past `timeoutMs` helm gets SIGTERM, then SIGKILL.
 */
export async function runHelm(helm: string, args: string[], options: HelmProcessOptions): Promise<HelmProcessResult> {
  const { dir } = options;
  const home = join(dir, "home");
  const plugins = helmPluginsDir(dir);
  await Promise.all([mkdir(home), mkdir(plugins, { recursive: true })]);
  const env = {
    HOME: home,
    TMPDIR: home,
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_DATA_HOME: join(home, "data"),
    HELM_PLUGINS: plugins,
    HELM_NO_PLUGINS: "1",
    HELM_DRIVER: "secret",
    NO_COLOR: "1",
  };
  const maxOutput = options.maxOutputBytes ?? 1 << 20;
  const started = performance.now();
  const child = spawn(helm, args, { cwd: home, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = Buffer.alloc(0);
  let stderr = Buffer.alloc(0);
  child.stdout.on("data", (chunk: Buffer) => {
    if (stdout.length < maxOutput) stdout = Buffer.concat([stdout, chunk]).subarray(0, maxOutput);
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]);
    if (stderr.length > maxOutput) stderr = stderr.subarray(stderr.length - maxOutput);
  });
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
    killer = setTimeout(() => child.kill("SIGKILL"), options.killGraceMs ?? 10_000);
  }, options.timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    return {
      code,
      signal,
      stdout: stdout.toString("utf8"),
      stderr: stderr.toString("utf8"),
      durationMs: Math.round(performance.now() - started),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(killer);
  }
}

/** helm's message: its last `Error: ` line without the prefix, else its last line of stderr. */
export function helmErrorLine(result: HelmProcessResult): string {
  const lines = result.stderr
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const error = lines.findLast((line) => line.startsWith("Error: "))?.slice("Error: ".length) ?? lines.at(-1);
  return error ?? `helm exited with ${result.code ?? result.signal}`;
}
