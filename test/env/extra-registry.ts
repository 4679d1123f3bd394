import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { freePort, startProcess, type ServerProcess } from "./process.js";

export interface ExtraRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  /** Its own folder, for the files its configuration names. */
  dir: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

/**
 * Another instance of the test bed's docker-registry (auth or TLS variants), on a free loopback port with storage
 * in a folder of its own. `configure` writes what its configuration names into that folder and returns the extra
 * lines: top-level sections (`auth`) and lines under `http:` (`tls`). The caller waits until it answers.
 */
export async function startExtraRegistry(
  name: string,
  configure: (dir: string) => Promise<{ sections?: string[]; http?: string[] }>,
): Promise<ExtraRegistry> {
  const dir = await mkdtemp(join(tmpdir(), `sluice-${name}-`));
  await mkdir(join(dir, "data"));
  const { sections = [], http = [] } = await configure(dir);
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
      ...sections,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      ...http,
      "",
    ].join("\n"),
  );
  const binary = join(cacheDir(), "registry", "usr", "bin", "docker-registry");
  const registry = startProcess({ name, command: binary, args: ["serve", config], logDir: dir });
  return {
    host: `127.0.0.1:${port}`,
    dir,
    process: registry,
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
