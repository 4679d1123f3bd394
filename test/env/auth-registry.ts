import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { freePort, startProcess, waitUntilReady } from "./process.js";

/** The one user of the registry below, and a bcrypt hash of its password (cost 4, made once with Python's crypt). */
export const REGISTRY_USER = { username: "puller", password: "s3cret-pass" };
const HTPASSWD = "puller:$2b$04$CZzc7hP28zas6bSJg7VxveFq4VtW/vONyxcg3C/VKOnAJyPJIqQvK\n";

/**
 * A second instance of the test bed's docker-registry, with htpasswd authentication (a `Basic`
 * challenge, as the distribution registry sends it) and storage of its own; `push` credentials as
 * `Authorization` for pushOciArtifact.
 */
export async function startAuthRegistry(): Promise<{ host: string; authorization: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-auth-registry-"));
  await mkdir(join(dir, "data"));
  await writeFile(join(dir, "htpasswd"), HTPASSWD);
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
      "auth:",
      "  htpasswd:",
      "    realm: sluice-test",
      `    path: ${join(dir, "htpasswd")}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const binary = join(cacheDir(), "registry", "usr", "bin", "docker-registry");
  const registry = startProcess({ name: "auth-registry", command: binary, args: ["serve", config], logDir: dir });
  const host = `127.0.0.1:${port}`;
  await waitUntilReady("auth registry", async () => (await fetch(`http://${host}/v2/`)).status === 401, {
    process: registry,
    timeoutMs: 30_000,
  });
  const { username, password } = REGISTRY_USER;
  return {
    host,
    authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`,
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
