import { execFile } from "node:child_process";
import { access, constants, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { helm } from "./charts.js";
import type { Running, RunContext } from "./component.js";
import { podinfoPackages } from "./podinfo.js";
import { MissingPrerequisiteError, freePort, startProcess, waitUntilReady } from "./process.js";

const run = promisify(execFile);

/** How tests reach the OCI registry: plain HTTP on loopback, no auth. */
export interface RegistryInfo {
  /** "127.0.0.1:PORT", as used in `oci://` URLs and `helm push --plain-http`. */
  host: string;
  /** e.g. "docker-registry 2.8.2+ds1" */
  version: string;
  /** "oci://127.0.0.1:PORT/charts/podinfo": podinfo's real chart, both versions of podinfo.ts (flux-benchmark's shape). */
  podinfo: string;
}

/**
 * Starts Debian's docker-registry (the CNCF distribution registry) with storage in the run folder, and
 * pushes podinfo's chart to it with `helm push` (as chart authors publish to OCI).
 */
export async function start(ctx: RunContext): Promise<Running<RegistryInfo>> {
  const binary = join(ctx.cacheDir, "registry", "usr", "bin", "docker-registry");
  if (
    !(await access(binary, constants.X_OK).then(
      () => true,
      () => false,
    ))
  ) {
    throw new MissingPrerequisiteError(
      `docker-registry (OCI registry) at ${binary}`,
      "bash test/env/install-registry.sh",
    );
  }
  const charts = await podinfoPackages(ctx.cacheDir);
  const dir = join(ctx.runDir, "registry");
  await mkdir(join(dir, "data"), { recursive: true });
  const port = await freePort();
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "data")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const registry = startProcess({ name: "registry", command: binary, args: ["serve", config], logDir: ctx.logDir });
  const host = `127.0.0.1:${port}`;
  try {
    await waitUntilReady("docker-registry", async () => (await fetch(`http://${host}/v2/`)).status === 200, {
      process: registry,
      timeoutMs: 30_000,
    });
    const { stdout } = await run(binary, ["--version"]);
    const version = `docker-registry ${stdout.trim().split(/\s+/).at(-1)}`;
    const home = join(dir, "helm-home");
    for (const chart of charts) await helm(ctx.cacheDir, ["push", chart, `oci://${host}/charts`, "--plain-http"], home);
    return { info: { host, version, podinfo: `oci://${host}/charts/podinfo` }, stop: () => registry.stop() };
  } catch (error) {
    await registry.stop();
    throw error;
  }
}
