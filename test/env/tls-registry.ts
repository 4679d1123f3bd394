import { writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { startExtraRegistry } from "./extra-registry.js";
import { waitUntilReady } from "./process.js";

/**
 * A third instance of the test bed's docker-registry, serving HTTPS only with `certificate` (for
 * 127.0.0.1, from testCertificates) and storage of its own.
 */
export async function startTlsRegistry(pki: { ca: string; serverCert: string; serverKey: string }) {
  const registry = await startExtraRegistry("tls-registry", async (dir) => {
    await writeFile(join(dir, "server.crt"), pki.serverCert);
    await writeFile(join(dir, "server.key"), pki.serverKey);
    return { http: ["  tls:", `    certificate: ${join(dir, "server.crt")}`, `    key: ${join(dir, "server.key")}`] };
  });
  const agent = new Agent({ ca: pki.ca });
  const status = () =>
    new Promise<number>((resolve, reject) =>
      request(`https://${registry.host}/v2/`, { agent }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
        .on("error", reject)
        .end(),
    );
  await waitUntilReady("TLS registry", async () => (await status()) === 200, {
    process: registry.process,
    timeoutMs: 30_000,
  });
  return { host: registry.host, stop: registry.stop };
}
