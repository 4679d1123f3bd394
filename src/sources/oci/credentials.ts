import type { OciRepositoryRef } from "./reference.js";

// Registry credentials from a Kubernetes Secret, as Flux reads them: a kubernetes.io/dockerconfigjson
// Secret (`.dockerconfigjson`, matched by registry and repository path as the kubelet's keyring
// matches an image), or, for a HelmRepository of type oci, `username` and `password`.

/** Basic credentials for one registry; they go to that registry's token endpoint or the registry itself. */
export interface OciCredentials {
  username: string;
  password: string;
}

/** A Secret's data that cannot be read as registry credentials; the message names the Secret, never a value. */
export class OciCredentialsError extends Error {
  override name = "OciCredentialsError";
}

const DOCKER_HUB_ALIASES = new Set(["index.docker.io", "docker.io", "registry-1.docker.io"]);

interface DockerAuth {
  auth?: string;
  username?: string;
  password?: string;
}

/**
 * The credentials a Secret holds for `ref`: from `.dockerconfigjson` the entry whose registry (and
 * path prefix, the longest first) matches; else `username`/`password` when `allowBasicKeys`.
 * Undefined when the Secret has none for this registry (anonymous access).
 */
export function credentialsFromSecret(
  data: Record<string, string>,
  ref: OciRepositoryRef,
  secret: string,
  allowBasicKeys = false,
): OciCredentials | undefined {
  const config = data[".dockerconfigjson"] ?? data[".dockercfg"];
  if (config !== undefined) return fromDockerConfig(config, ref, secret);
  if (!allowBasicKeys) return undefined;
  const { username = "", password = "" } = data;
  if (username === "" && password === "") return undefined;
  if (username === "" || password === "")
    throw new OciCredentialsError(`invalid '${secret}' secret data: required fields 'username' and 'password'`);
  return { username, password };
}

function fromDockerConfig(text: string, ref: OciRepositoryRef, secret: string): OciCredentials | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new OciCredentialsError(`unable to load Docker config from Secret '${secret}': not valid JSON`);
  }
  const root = (parsed ?? {}) as { auths?: Record<string, DockerAuth> } & Record<string, DockerAuth>;
  const auths: Record<string, DockerAuth> =
    root.auths && typeof root.auths === "object" ? root.auths : (root as Record<string, DockerAuth>);
  const matches = Object.entries(auths)
    .map(([key, auth]) => ({ key: normalizeKey(key), auth }))
    .filter(({ key }) => sameRegistry(key.host, ref.registry) && pathCovers(key.path, ref.repository))
    .sort((a, b) => b.key.path.length - a.key.path.length);
  const found = matches[0]?.auth;
  if (!found || typeof found !== "object") return undefined;
  let { username = "", password = "" } = found;
  if (typeof found.auth === "string" && found.auth !== "") {
    const decoded = Buffer.from(found.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0)
      throw new OciCredentialsError(`unable to load Docker config from Secret '${secret}': malformed 'auth' value`);
    [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  }
  if (typeof username !== "string" || typeof password !== "string" || (username === "" && password === ""))
    return undefined;
  return { username, password };
}

/** `https://host:5000/v1/` → host `host:5000`, path ``; `host/org` → path `org`. */
function normalizeKey(key: string): { host: string; path: string } {
  const bare = key
    .replace(/^[a-z]+:\/\//i, "")
    .replace(/\/+$/, "")
    .replace(/\/v[12]$/, "");
  const slash = bare.indexOf("/");
  return slash < 0
    ? { host: bare.toLowerCase(), path: "" }
    : { host: bare.slice(0, slash).toLowerCase(), path: bare.slice(slash + 1) };
}

function sameRegistry(host: string, registry: string): boolean {
  if (host === registry.toLowerCase()) return true;
  return DOCKER_HUB_ALIASES.has(host) && DOCKER_HUB_ALIASES.has(registry);
}

function pathCovers(prefix: string, repository: string): boolean {
  return prefix === "" || repository === prefix || repository.startsWith(`${prefix}/`);
}
