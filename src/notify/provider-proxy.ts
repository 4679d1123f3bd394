import type { Provider } from "../api/provider.js";
import type { HttpProxy } from "../sources/http-proxy.js";
import { ProviderConfigError } from "./provider-config-error.js";

// A Provider's forward proxy, read as notification-controller v1.9.3's createNotifier reads it: the
// deprecated spec.proxy, then the deprecated `proxy` key of spec.secretRef, then spec.proxySecretRef
// (fluxcd/pkg/runtime's ProxyURLFromSecret: `address`, with `username` and `password`), the last
// one set winning. Flux accepts http, https and socks5 proxies; Sluice sends through the first two.

/** fluxcd/pkg/runtime's MaxProxyURLLength. */
const MAX_PROXY_URL_LENGTH = 2048;
const FLUX_SCHEMES = ["http", "https", "socks5"];

/** The proxy and the secret values it holds (the credentials, and the address when a secret holds it). */
export interface ResolvedProxy {
  proxy?: HttpProxy;
  secretValues: string[];
}

/**
 * The Provider's proxy, or none. `secret` is spec.secretRef's data (its deprecated `proxy` key) and
 * `read` reads a Secret of the Provider's namespace.
 */
export async function resolveProviderProxy(
  provider: Provider,
  secret: Record<string, string>,
  read: (name: string) => Promise<Record<string, string>>,
): Promise<ResolvedProxy> {
  const namespace = provider.metadata.namespace ?? "default";
  const ref = provider.spec.proxySecretRef?.name;
  if (ref) {
    const data = await read(ref);
    const where = `secret '${namespace}/${ref}'`;
    if (data.address === undefined)
      throw new ProviderConfigError(`failed to get proxy URL: ${where}: key 'address' not found (spec.proxySecretRef)`);
    if (data.address === "") throw new ProviderConfigError(`failed to get proxy URL: ${where}: proxy address is empty`);
    const url = parseProxyUrl(data.address, `the 'address' key of ${where} (spec.proxySecretRef)`);
    const { username, password } = data;
    const proxy = withCredentials(url, username, username === undefined ? undefined : (password ?? ""));
    return { proxy, secretValues: [data.address, username ?? "", password ?? ""].filter(Boolean) };
  }
  const deprecated = secret.proxy?.trim();
  if (deprecated) {
    const where = `the 'proxy' key of secret '${namespace}/${provider.spec.secretRef?.name}'`;
    const url = parseProxyUrl(deprecated, where);
    return { proxy: fromUserInfo(url), secretValues: [deprecated, ...userInfoOf(url)] };
  }
  if (provider.spec.proxy) {
    const url = parseProxyUrl(provider.spec.proxy, "spec.proxy");
    return { proxy: fromUserInfo(url), secretValues: userInfoOf(url) };
  }
  return { secretValues: [] };
}

function parseProxyUrl(address: string, where: string): URL {
  if (address.length > MAX_PROXY_URL_LENGTH)
    throw new ProviderConfigError(`invalid proxy in ${where}: longer than ${MAX_PROXY_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ProviderConfigError(`invalid proxy in ${where}: not an absolute URL`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (!FLUX_SCHEMES.includes(scheme))
    throw new ProviderConfigError(
      `invalid proxy in ${where}: proxy URL must use one of the supported schemes (${FLUX_SCHEMES.join(", ")}), got '${scheme}'`,
    );
  if (scheme === "socks5")
    throw new ProviderConfigError(
      `invalid proxy in ${where}: a SOCKS5 proxy is not supported by Sluice yet; use an http or https proxy`,
    );
  if (!url.hostname) throw new ProviderConfigError(`invalid proxy in ${where}: no host`);
  return url;
}

/** The proxy with the URL's own user information as its credentials (Go's url.Parse keeps them; its Transport sends them). */
function fromUserInfo(url: URL): HttpProxy {
  const [username, password] = url.username || url.password ? userInfoOf(url, true) : [];
  return withCredentials(url, username, password);
}

function userInfoOf(url: URL, keepEmpty = false): string[] {
  const values = [decodeURIComponent(url.username), decodeURIComponent(url.password)];
  return keepEmpty ? values : values.filter(Boolean);
}

/** Go's Transport sends `Basic base64(username:password)` whenever the proxy URL has a user, a password or not. */
function withCredentials(url: URL, username: string | undefined, password: string | undefined): HttpProxy {
  const bare = new URL(url.href);
  bare.username = "";
  bare.password = "";
  if (username === undefined) return { url: bare };
  return {
    url: bare,
    authorization: `Basic ${Buffer.from(`${username}:${password ?? ""}`).toString("base64")}`,
  };
}
