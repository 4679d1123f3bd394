import { isIP } from "node:net";

// An `oci://` URL read as go-containerregistry's name.NewRepository reads what follows the scheme
// (source-controller's parseRepository): the registry is the first path segment when it looks like a
// host (a dot, a port or `localhost`), otherwise Docker Hub; the repository must be lowercase
// path components and the URL may not carry a tag or digest.

/** A repository of a registry, and how to reach the registry. */
export interface OciRepositoryRef {
  /** `host[:port]` as written (Docker Hub is `index.docker.io`). */
  registry: string;
  /** `org/app`, without the registry. */
  repository: string;
  /** `https://host[:port]`; see httpFallback. */
  baseUrl: string;
  /**
   * Plain HTTP is tried when HTTPS fails: for `insecure`, and for loopback, RFC 1918 and `.local`
   * registries, as go-containerregistry's Registry.Scheme allows it.
   */
  httpFallback: boolean;
}

/** The URL cannot name a repository (Flux's URLInvalid: it stalls). */
export class OciUrlError extends Error {
  override name = "OciUrlError";
}

const DOCKER_HUB = "index.docker.io";
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** The repository an `oci://` URL names; `insecure` (spec.insecure) reaches the registry over plain HTTP. */
export function parseOciUrl(url: string, insecure = false): OciRepositoryRef {
  if (!url.startsWith("oci://")) throw new OciUrlError("URL must be in format 'oci://<domain>/<org>/<repo>'");
  const rest = url.slice("oci://".length).replace(/\/+$/, "");
  const slash = rest.indexOf("/");
  const first = slash < 0 ? rest : rest.slice(0, slash);
  const isHost = first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[");
  const registry = isHost ? (first === "docker.io" ? DOCKER_HUB : first) : DOCKER_HUB;
  let repository = isHost ? (slash < 0 ? "" : rest.slice(slash + 1)) : rest;
  if (registry === DOCKER_HUB && repository !== "" && !repository.includes("/")) repository = `library/${repository}`;
  const tagged = /:([^:]*)/.exec(repository);
  if (tagged) throw new OciUrlError(`URL must not contain a tag; remove ':${tagged[1]}'`);
  if (repository === "" || !repository.split("/").every((c) => COMPONENT.test(c)))
    throw new OciUrlError(`repository name '${repository}' must be lowercase path components ([a-z0-9._-])`);
  if (!validHost(registry)) throw new OciUrlError(`registry '${registry}' is not a valid host[:port]`);
  return { registry, repository, baseUrl: `https://${registry}`, httpFallback: insecure || isLocal(registry) };
}

/** go-containerregistry's list: `localhost:`, `*.local(:port)`, 127.x, ::1 and RFC 1918 addresses. */
function isLocal(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  if (registry.startsWith("localhost:") || /\.local$/.test(host) || host === "::1") return true;
  const octets = host.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return false;
  const [a = 0, b = 0] = octets;
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

function validHost(registry: string): boolean {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(registry);
  if (bracketed) return isIP(bracketed[1]!) === 6;
  const [host = "", port, extra] = registry.split(":");
  if (extra !== undefined || (port !== undefined && !/^\d{1,5}$/.test(port))) return false;
  return /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/.test(host);
}
