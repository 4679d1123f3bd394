import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import type { Readable } from "node:stream";
import { BuildError } from "./build-error.js";
import type { RenderLimits } from "./limits.js";
import { overMemoryMessage, watchMemory } from "./memory-watch.js";

/** kustomize's error text kept for the condition message: what failed comes first, quoted configuration later. */
const STDERR_CHARS = 1024;

/**
 * Runs `kubectl kustomize` on `dir` with the load restrictor on (plugins and Helm stay disabled), in
 * its own process group, killed with SIGKILL (git fetching remote bases included) once over
 * renderLimits.timeoutMs, maxOutputBytes or maxMemoryBytes. It sees only PATH and an empty private HOME: no cloud
 * credentials, no git credentials or config of the host. Returns kustomize's YAML output.
 */
export async function runKustomize(kubectl: string, dir: string, root: string, limits: RenderLimits): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "sluice-kustomize-home-"));
  try {
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
    };
    const args = ["kustomize", dir, "--load-restrictor", "LoadRestrictionsRootOnly"];
    const child = spawn(kubectl, args, { cwd: home, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    return await outputOf(child, root, limits);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** stdout of a kustomize run, or a BuildError (its stderr, paths under `root` made relative). */
function outputOf(
  child: ChildProcessByStdio<null, Readable, Readable>,
  root: string,
  limits: RenderLimits,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = "";
    let failure: BuildError | undefined;
    const stop = (error: BuildError) => {
      failure ??= error;
      // The whole group: kubectl and the git processes it started for remote bases.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    };
    const timeout = new BuildError(
      `kustomize build did not finish within the ${limits.timeoutMs} ms limit (renderLimits.timeoutMs)`,
    );
    const timer = setTimeout(() => stop(timeout), limits.timeoutMs);
    const unwatch = watchMemory(child.pid, limits.maxMemoryBytes, () =>
      stop(new BuildError(overMemoryMessage("kustomize build", limits.maxMemoryBytes))),
    );
    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > limits.maxOutputBytes) {
        stop(
          new BuildError(
            `kustomize output is over the ${limits.maxOutputBytes}-byte limit (renderLimits.maxOutputBytes)`,
          ),
        );
      } else stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length <= STDERR_CHARS) stderr += chunk.toString("utf8");
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      unwatch();
      reject(new BuildError(`kustomize build failed to start: ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      unwatch();
      if (failure) reject(failure);
      else if (code === 0) resolvePromise(Buffer.concat(stdout).toString("utf8"));
      else reject(new BuildError(`kustomize build failed: ${failureText(stderr, root)}`));
    });
  });
}

/** kustomize's message, without its `Error: ` prefix and the private copy's path, cut at STDERR_CHARS. */
function failureText(stderr: string, root: string): string {
  const text = stderr
    .trim()
    .replaceAll(root + sep, "")
    .replace(/^Error: /, "");
  return text.length > STDERR_CHARS ? `${text.slice(0, STDERR_CHARS)}…` : text;
}
