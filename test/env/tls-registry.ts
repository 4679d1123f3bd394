import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { freePort, startProcess, waitUntilReady } from "./process.js";

/**
 * A third instance of the test bed's docker-registry, serving HTTPS only with `certificate` (for
 * 127.0.0.1, from testCertificates) and storage of its own.
 */
export async function startTlsRegistry(pki: { ca: string; serverCert: string; serverKey: string }) {
  const dir = await mkdtemp(join(tmpdir(), "sluice-tls-registry-"));
  await mkdir(join(dir, "data"));
  await writeFile(join(dir, "server.crt"), pki.serverCert);
  await writeFile(join(dir, "server.key"), pki.serverKey);
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
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  tls:",
      `    certificate: ${join(dir, "server.crt")}`,
      `    key: ${join(dir, "server.key")}`,
      "",
    ].join("\n"),
  );
  const binary = join(cacheDir(), "registry", "usr", "bin", "docker-registry");
  const registry = startProcess({ name: "tls-registry", command: binary, args: ["serve", config], logDir: dir });
  const host = `127.0.0.1:${port}`;
  const agent = new Agent({ ca: pki.ca });
  const status = () =>
    new Promise<number>((resolve, reject) =>
      request(`https://${host}/v2/`, { agent }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
        .on("error", reject)
        .end(),
    );
  await waitUntilReady("TLS registry", async () => (await status()) === 200, { process: registry, timeoutMs: 30_000 });
  return {
    host,
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
