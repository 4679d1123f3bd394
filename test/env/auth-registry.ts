import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startExtraRegistry } from "./extra-registry.js";
import { waitUntilReady } from "./process.js";

/** The one user of the registry below, and a bcrypt hash of its password (cost 4, made once with Python's crypt). */
export const REGISTRY_USER = { username: "puller", password: "s3cret-pass" };
const HTPASSWD = "puller:$2b$04$CZzc7hP28zas6bSJg7VxveFq4VtW/vONyxcg3C/VKOnAJyPJIqQvK\n";

/**
 * A second instance of the test bed's docker-registry, with htpasswd authentication (a `Basic`
 * challenge, as the distribution registry sends it) and storage of its own; `push` credentials as
 * `Authorization` for pushOciArtifact.
 */
export async function startAuthRegistry(): Promise<{ host: string; authorization: string; stop(): Promise<void> }> {
  const registry = await startExtraRegistry("auth-registry", async (dir) => {
    await writeFile(join(dir, "htpasswd"), HTPASSWD);
    return { sections: ["auth:", "  htpasswd:", "    realm: sluice-test", `    path: ${join(dir, "htpasswd")}`] };
  });
  await waitUntilReady("auth registry", async () => (await fetch(`http://${registry.host}/v2/`)).status === 401, {
    process: registry.process,
    timeoutMs: 30_000,
  });
  const { username, password } = REGISTRY_USER;
  return {
    host: registry.host,
    authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`,
    stop: registry.stop,
  };
}
