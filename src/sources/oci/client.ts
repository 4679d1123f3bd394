import { createHash } from "node:crypto";
import type { GitHttpResponse } from "isomorphic-git";
import { z } from "zod";
import { ByteLru } from "../../artifacts/byte-lru.js";
import type { NetworkPolicy } from "../network-guard.js";
import { connectionPool, sourceHttpClient, type ConnectionPool } from "../source-http.js";
import { parseChallenge } from "./challenge.js";
import type { OciCredentials } from "./credentials.js";
import type { OciRepositoryRef } from "./reference.js";

// A small client of the OCI distribution API (v1.1), enough to pull: the tag list (paged), a
// manifest's digest by HEAD, a manifest by GET (image manifests; an index resolved to its
// linux/amd64 image), and blobs. Every request — token endpoint and redirects included — goes
// through the source network guard (source-http.ts); every body is bounded, every manifest and
// blob is checked against its digest before it is used, and a manifest of another media type is refused.

export const MEDIA_TYPE = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;
const IMAGE_TYPES: string[] = [MEDIA_TYPE.ociManifest, MEDIA_TYPE.dockerManifest];
const INDEX_TYPES: string[] = [MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerList];
const ACCEPT = [...IMAGE_TYPES, ...INDEX_TYPES].join(", ");

/** The distribution spec's manifest limit: 4 MiB. */
const MAX_MANIFEST_BYTES = 4 << 20;
/** A tag list page, a token response, an error body. */
const MAX_SMALL_BYTES = 4 << 20;
/** Pages of a tag list followed before giving up (a registry could link to itself forever). */
const MAX_TAG_PAGES = 100;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** A registry answered with an error, something other than the protocol, or content that is not what it claims. */
export class OciError extends Error {
  override name = "OciError";
  constructor(
    message: string,
    /** An authentication failure (401/403, a refused token), as opposed to a transport or content failure. */
    readonly unauthorized = false,
    /** The registry answered 404: the manifest, tag or endpoint does not exist. */
    readonly notFound = false,
  ) {
    super(message);
  }
}

const descriptor = z.object({
  mediaType: z.string(),
  digest: z.string().regex(DIGEST, { message: "must be sha256:<64 hex> or sha512:<128 hex>" }),
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.object({ os: z.string(), architecture: z.string() }).loose().optional(),
});
export type OciDescriptor = z.infer<typeof descriptor>;

const imageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptor,
  layers: z.array(descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type OciImageManifest = z.infer<typeof imageManifest>;

const imageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptor),
});

/** How to reach one repository of a registry. */
export interface OciClientOptions {
  ref: OciRepositoryRef;
  credentials?: OciCredentials;
  network: NetworkPolicy;
  /** Extra CA and a client certificate (`certSecretRef`). */
  caPem?: string;
  clientCert?: { certPem: string; keyPem: string };
  /** Bounds every request of this client (spec.timeout). */
  signal?: AbortSignal;
  /** Tokens are asked for pulling and pushing (`sluice push|tag artifact`), not only pulling. */
  push?: boolean;
}

/** What a request sends beyond its headers, and which answers besides a 2xx it takes. */
export interface OciSendOptions {
  /** A body sent whole (with its Content-Length), again after a 401's challenge is answered. */
  body?: Buffer;
  /** Non-2xx statuses answered to the caller instead of thrown (a HEAD's 404). */
  allow?: number[];
}

/** A pulled image manifest and the digest it was verified against. */
export interface PulledManifest {
  digest: string;
  manifest: OciImageManifest;
}

interface Token {
  value: string;
  expiresAt: number;
}

/** A page of the distribution spec's tag list. */
const tagListPage = z.object({ tags: z.array(z.string()).nullish() });

/** The scheme each registry answered on, once known (see OciRepositoryRef.httpFallback). */
const schemes = new Map<string, "https:" | "http:">();
/**
 * Bearer tokens by realm, service, scope and credentials, so an unchanged source costs one request next time. Bounded
 * by bytes: a token endpoint may answer up to MAX_SMALL_BYTES, and a tenant may name many registries and scopes.
 */
const tokens = new ByteLru<Token>(16 << 20);
/** Where each registry (and credentials) sent us for tokens, to present the cached token on the first request. */
const realms = new Map<string, { realm: string; service?: string }>();

export class OciClient {
  /** HTTP requests made, token requests and redirects' first hops included (for tests and benchmarks). */
  requests = 0;
  private authorization: string | undefined;
  /** Set while a tag listing runs: its pages share connections. */
  private pool: ConnectionPool | undefined;
  private readonly scope: string;
  private readonly who: string;

  constructor(private readonly options: OciClientOptions) {
    this.scope = `repository:${options.ref.repository}:${options.push ? "pull,push" : "pull"}`;
    const { username = "", password = "" } = options.credentials ?? {};
    this.who = `${options.ref.registry}|${createHash("sha256").update(`${username}\0${password}`).digest("hex")}`;
    const known = realms.get(this.who);
    const token = known && tokens.get(this.tokenKey(known));
    if (token && token.expiresAt > Date.now()) this.authorization = `Bearer ${token.value}`;
  }

  /**
   * Every tag of the repository, following `Link` pages on the registry's own origin; `pageSize` asks for
   * pages of that many (`?n=`), and a list longer than `maxTags` is refused.
   */
  async tags(options: { pageSize?: number; maxTags?: number } = {}): Promise<string[]> {
    const { pageSize, maxTags = Infinity } = options;
    const found: string[] = [];
    let next: string | undefined = `${this.repositoryPath()}/tags/list${pageSize ? `?n=${pageSize}` : ""}`;
    // Pages stay on the registry's origin (nextPage): one connection (one TLS handshake) serves them all.
    this.pool = connectionPool(this.options);
    try {
      for (let page = 0; next; page++) {
        if (page === MAX_TAG_PAGES)
          throw new OciError(`tag list of ${this.name()} has more than ${MAX_TAG_PAGES} pages`);
        const response = await this.send("GET", next, { accept: "application/json" });
        const body = await this.read(response, MAX_SMALL_BYTES, `tag list of ${this.name()}`);
        const parsed = tagListPage.safeParse(parseJson(body));
        if (!parsed.success) throw new OciError(`tag list of ${this.name()} is not a tag list`);
        found.push(...(parsed.data.tags ?? []));
        if (found.length > maxTags) throw new OciError(`tag list of ${this.name()} has more than ${maxTags} tags`);
        next = this.nextPage(response.headers?.link);
      }
    } finally {
      this.pool.close();
      this.pool = undefined;
    }
    return found;
  }

  /** The digest of the manifest `reference` (tag or digest) points to, by HEAD; undefined when the registry gives none. */
  async headDigest(reference: string): Promise<string | undefined> {
    const response = await this.send("HEAD", this.manifestPath(reference), { accept: ACCEPT });
    await response.body?.return?.();
    const digest = header(response, "docker-content-digest");
    return digest && DIGEST.test(digest) ? digest : undefined;
  }

  /** The digest `reference` points to: a HEAD, or the manifest's own digest when the HEAD does not say. */
  async resolve(reference: string): Promise<string> {
    return (await this.headDigest(reference).catch(() => undefined)) ?? (await this.fetchManifest(reference)).digest;
  }

  /**
   * The image manifest `reference` points to, verified against its digest. An index is resolved to
   * its linux/amd64 image (or its only one), as go-containerregistry's remote.Image does.
   */
  async manifest(reference: string): Promise<PulledManifest> {
    const fetched = await this.fetchManifest(reference);
    if (IMAGE_TYPES.includes(fetched.mediaType)) return { digest: fetched.digest, manifest: asImage(fetched) };
    const index = imageIndex.safeParse(fetched.json);
    if (!index.success) throw new OciError(`manifest ${fetched.digest} of ${this.name()} is not a valid image index`);
    const images = index.data.manifests.filter((m) => IMAGE_TYPES.includes(m.mediaType));
    const picked =
      images.find((m) => m.platform?.os === "linux" && m.platform.architecture === "amd64") ??
      (images.length === 1 ? images[0] : undefined);
    if (!picked) throw new OciError(`image index ${fetched.digest} of ${this.name()} has no linux/amd64 image`);
    const child = await this.fetchManifest(picked.digest);
    if (!IMAGE_TYPES.includes(child.mediaType))
      throw new OciError(
        `manifest ${picked.digest} of ${this.name()} has media type '${child.mediaType}', not an image`,
      );
    return { digest: child.digest, manifest: asImage(child) };
  }

  /** The image manifest `reference` names, verified against its digest; an index is refused, not resolved. */
  async imageManifest(reference: string): Promise<PulledManifest> {
    const fetched = await this.fetchManifest(reference);
    if (!IMAGE_TYPES.includes(fetched.mediaType))
      throw new OciError(`manifest ${reference} of ${this.name()} has media type '${fetched.mediaType}', not an image`);
    return { digest: fetched.digest, manifest: asImage(fetched) };
  }

  /**
   * The manifests that name `digest` as their subject: the referrers API (OCI distribution v1.1), or,
   * where the registry has none, the image index tagged `sha256-<hex>` (the spec's referrers tag
   * schema), as go-containerregistry's remote.Referrers does. None when neither exists.
   */
  async referrers(digest: string): Promise<OciDescriptor[]> {
    if (!DIGEST.test(digest)) throw new OciError(`'${digest}' is not a digest`);
    const what = `referrers of ${digest} in ${this.name()}`;
    let json: unknown;
    try {
      const response = await this.send("GET", `${this.repositoryPath()}/referrers/${digest}`, {
        accept: MEDIA_TYPE.ociIndex,
      });
      const contentType = header(response, "content-type")?.split(";")[0]?.trim();
      const body = await this.read(response, MAX_MANIFEST_BYTES, what);
      json = contentType === MEDIA_TYPE.ociIndex ? parseJson(body) : undefined;
    } catch (error) {
      if (!(error instanceof OciError) || !error.notFound) throw error;
    }
    if (json === undefined) {
      try {
        json = (await this.fetchManifest(digest.replace(":", "-"))).json;
      } catch (error) {
        if (error instanceof OciError && error.notFound) return [];
        throw error;
      }
    }
    const index = imageIndex.safeParse(json);
    if (!index.success) throw new OciError(`${what} are not an image index`);
    return index.data.manifests;
  }

  /** A blob's bytes, refused when larger than its descriptor says (or `maxBytes`) or not of its digest. */
  async blob(blob: OciDescriptor, maxBytes: number): Promise<Buffer> {
    if (blob.size > maxBytes)
      throw new OciError(`layer ${blob.digest} is ${blob.size} bytes, over the limit of ${maxBytes} bytes`);
    const response = await this.send("GET", `${this.repositoryPath()}/blobs/${blob.digest}`, {}, blob.size);
    const length = Number(header(response, "content-length"));
    if (Number.isFinite(length) && length > blob.size) {
      await response.body?.return?.();
      throw new OciError(`blob ${blob.digest} is served with ${length} bytes, its descriptor says ${blob.size}`);
    }
    const data = await this.read(response, blob.size, `blob ${blob.digest}`);
    if (data.length !== blob.size)
      throw new OciError(`blob ${blob.digest} has ${data.length} bytes, its descriptor says ${blob.size}`);
    const actual = digestOf(data, blob.digest);
    if (actual !== blob.digest) throw new OciError(`blob ${blob.digest} has digest ${actual}: refused`);
    return data;
  }

  /** A manifest (image or index) as the registry serves it, checked against its digest and media type. */
  async rawManifest(reference: string): Promise<{ digest: string; mediaType: string; body: Buffer }> {
    const { digest, mediaType, body } = await this.fetchManifest(reference);
    return { digest, mediaType, body };
  }

  private async fetchManifest(reference: string) {
    const response = await this.send("GET", this.manifestPath(reference), { accept: ACCEPT }, MAX_MANIFEST_BYTES);
    const body = await this.read(response, MAX_MANIFEST_BYTES, `manifest ${reference} of ${this.name()}`);
    const json = parseJson(body) as { mediaType?: unknown } | undefined;
    const contentType = header(response, "content-type")?.split(";")[0]?.trim();
    const declared = typeof json?.mediaType === "string" ? json.mediaType : undefined;
    const mediaType = declared ?? contentType ?? "";
    if (![...IMAGE_TYPES, ...INDEX_TYPES].includes(mediaType) || (declared && contentType && declared !== contentType))
      throw new OciError(
        `manifest ${reference} of ${this.name()} has media type '${mediaType || contentType || "none"}'${declared && contentType && declared !== contentType ? ` but is served as '${contentType}'` : ""}; only OCI image manifests and indexes (and their Docker v2 equivalents) are pulled`,
      );
    const served = header(response, "docker-content-digest");
    const algorithm = DIGEST.test(reference) ? reference : served && DIGEST.test(served) ? served : "sha256:";
    const digest = digestOf(body, algorithm);
    if (DIGEST.test(reference) && digest !== reference)
      throw new OciError(`manifest ${reference} of ${this.name()} has digest ${digest}: refused`);
    if (served && served !== digest)
      throw new OciError(
        `manifest ${reference} of ${this.name()} has digest ${digest}, not the ${served} served with it`,
      );
    return { digest, mediaType, json, body };
  }

  /** One request, answering a 401's challenge once: a bearer token from the realm, or basic credentials. */
  protected async send(
    method: string,
    pathOrUrl: string,
    headers: Record<string, string>,
    maxBytes = MAX_SMALL_BYTES,
    { body, allow = [] }: OciSendOptions = {},
  ): Promise<GitHttpResponse> {
    let response = await this.request(method, pathOrUrl, headers, maxBytes, body);
    if (response.statusCode === 401) {
      await response.body?.return?.();
      await this.authenticate(response);
      response = await this.request(method, pathOrUrl, headers, maxBytes, body);
    }
    if ((response.statusCode >= 200 && response.statusCode < 300) || allow.includes(response.statusCode))
      return response;
    const detail = await this.errorDetail(response);
    const unauthorized = response.statusCode === 401 || response.statusCode === 403;
    throw new OciError(`${method} ${this.url(pathOrUrl)}: ${detail}`, unauthorized, response.statusCode === 404);
  }

  /**
   * One request to the registry (a path, or an absolute URL for a token realm or the next page). While
   * the registry's scheme is unknown and it may be plain HTTP, HTTPS is tried first and HTTP when no
   * TLS connection could be made, as go-containerregistry's ping does; the answer is remembered.
   */
  private async request(
    method: string,
    pathOrUrl: string,
    headers: Record<string, string>,
    maxBytes: number,
    body?: Buffer,
  ) {
    const { registry, httpFallback } = this.options.ref;
    const onRegistry = new URL(pathOrUrl, this.options.ref.baseUrl).host === registry;
    if (!onRegistry || !httpFallback) return this.requestOnce(method, this.url(pathOrUrl), headers, maxBytes, body);
    if (schemes.has(registry))
      // A registry that stops answering on the scheme it had is probed again at the next request.
      return this.requestOnce(method, this.url(pathOrUrl), headers, maxBytes, body).catch((error: unknown) => {
        schemes.delete(registry);
        throw error;
      });
    try {
      const response = await this.requestOnce(method, this.url(pathOrUrl), headers, maxBytes, body);
      schemes.set(registry, "https:");
      return response;
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      schemes.set(registry, "http:");
      try {
        return await this.requestOnce(method, this.url(pathOrUrl), headers, maxBytes, body);
      } catch (plain) {
        schemes.delete(registry);
        throw new OciError(`${(error as Error).message}; over plain HTTP: ${(plain as Error).message}`);
      }
    }
  }

  /** `pathOrUrl` resolved against the registry, in the scheme it answers on. */
  private url(pathOrUrl: string): string {
    const url = new URL(pathOrUrl, this.options.ref.baseUrl);
    const scheme = schemes.get(this.options.ref.registry);
    if (scheme && url.host === this.options.ref.registry) url.protocol = scheme;
    return url.href;
  }

  private async requestOnce(
    method: string,
    url: string,
    headers: Record<string, string>,
    maxBytes: number,
    body?: Buffer,
  ) {
    this.requests++;
    const http = sourceHttpClient({
      network: this.options.network,
      caPem: this.options.caPem,
      clientCert: this.options.clientCert,
      maxResponseBytes: maxBytes,
      pool: this.pool,
    });
    // Credentials go to the registry's own host only, as go-containerregistry's transports send them: an upload
    // Location or a next page elsewhere gets none.
    const ownHost = new URL(url).host === new URL(this.options.ref.baseUrl).host;
    const all = {
      "user-agent": "sluice (OCI)",
      ...headers,
      ...(this.authorization && ownHost && { authorization: this.authorization }),
    };
    try {
      // An array body is sent as one buffer with its Content-Length (isomorphic-git's node client).
      const sent = body && ([body] as unknown as AsyncIterableIterator<Uint8Array>);
      return await http.request({ url, method, headers: all, body: sent, signal: this.options.signal });
    } catch (error) {
      if (this.options.signal?.aborted) throw new OciError(`${method} ${url}: timed out`);
      throw new OciError(`${method} ${url}: ${(error as Error).message}`);
    }
  }

  private async authenticate(response: GitHttpResponse): Promise<void> {
    const challenge = parseChallenge(header(response, "www-authenticate"));
    const credentials = this.options.credentials;
    if (challenge?.scheme === "basic") {
      if (!credentials) throw new OciError(`${this.name()}: 401 Unauthorized: authentication required`, true);
      const encoded = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
      this.authorization = `Basic ${encoded}`;
      return;
    }
    const realm = challenge?.scheme === "bearer" ? challenge.params.realm : undefined;
    if (!realm) throw new OciError(`${this.name()}: 401 Unauthorized without a usable challenge`, true);
    const target = { realm, service: challenge?.params.service };
    tokens.delete(this.tokenKey(target)); // a 401 means a cached token is no good any more
    this.authorization = `Bearer ${await this.token(target)}`;
    realms.set(this.who, target);
  }

  /** A token for pulling this repository from the realm the registry named (checked: https, or the registry's own origin). */
  private async token(target: { realm: string; service?: string }): Promise<string> {
    const key = this.tokenKey(target);
    const cached = tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.value;
    let url: URL;
    try {
      url = new URL(target.realm);
    } catch {
      throw new OciError(`${this.name()}: token realm '${target.realm}' is not a URL`, true);
    }
    const registry = new URL(this.url("/"));
    if (url.protocol !== "https:" && url.protocol !== "http:")
      throw new OciError(`${this.name()}: token realm ${url.origin} is not http(s)`, true);
    // Credentials go to a token endpoint on another host only over TLS: a plain-HTTP realm elsewhere would expose them.
    if (this.options.credentials && url.protocol === "http:" && url.origin !== registry.origin)
      throw new OciError(
        `${this.name()}: refused to send credentials to the plain-HTTP token realm ${url.origin} (not the registry's origin)`,
        true,
      );
    if (target.service) url.searchParams.set("service", target.service);
    url.searchParams.set("scope", this.scope);
    const headers: Record<string, string> = { accept: "application/json" };
    const { credentials } = this.options;
    if (credentials)
      headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
    this.authorization = undefined;
    const response = await this.requestOnce("GET", url.href, headers, MAX_SMALL_BYTES);
    if (response.statusCode !== 200) {
      const detail = await this.errorDetail(response);
      throw new OciError(`${this.name()}: token request to ${url.origin}${url.pathname}: ${detail}`, true);
    }
    const body = parseJson(await this.read(response, MAX_SMALL_BYTES, "token response"));
    const parsed = z
      .object({ token: z.string().optional(), access_token: z.string().optional(), expires_in: z.number().optional() })
      .safeParse(body);
    const value = parsed.success ? (parsed.data.token ?? parsed.data.access_token) : undefined;
    if (!value) throw new OciError(`${this.name()}: the token endpoint ${url.origin} answered without a token`, true);
    // The distribution token spec's default lifetime is 60 s; keep 10 s of margin.
    const lifetime = Math.max((parsed.data?.expires_in ?? 60) - 10, 0) * 1000;
    tokens.set(key, { value, expiresAt: Date.now() + lifetime }, key.length + value.length);
    return value;
  }

  private tokenKey(target: { realm: string; service?: string }): string {
    return `${this.who}|${target.realm}|${target.service ?? ""}|${this.scope}`;
  }

  /** The registry's error codes (`MANIFEST_UNKNOWN: manifest unknown`) or the HTTP status. */
  private async errorDetail(response: GitHttpResponse): Promise<string> {
    const status = `${response.statusCode} ${response.statusMessage}`.trim();
    const text = await this.read(response, 64 << 10, "error body").catch(() => Buffer.alloc(0));
    const parsed = z
      .object({ errors: z.array(z.object({ code: z.string(), message: z.string().optional() })) })
      .safeParse(parseJson(text));
    if (!parsed.success || parsed.data.errors.length === 0) return `unexpected status code ${status}`;
    return parsed.data.errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ""}`).join("; ");
  }

  protected async read(response: GitHttpResponse, maxBytes: number, what: string): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of response.body ?? []) chunks.push(chunk);
    } catch (error) {
      const message = (error as Error).message;
      if (message.startsWith("response exceeds")) throw new OciError(`${what} exceeds ${maxBytes} bytes: refused`);
      if (this.options.signal?.aborted) throw new OciError(`${what}: timed out`);
      throw new OciError(`${what}: ${message}`);
    }
    return Buffer.concat(chunks);
  }

  /** The next page of a tag list; a link off the registry's origin is refused. */
  private nextPage(link: string | string[] | undefined): string | undefined {
    const value = Array.isArray(link) ? link[0] : link;
    const target = value && /<([^>]+)>\s*;\s*rel="?next"?/.exec(value)?.[1];
    if (!target) return undefined;
    const url = new URL(target, this.url("/"));
    if (url.origin !== new URL(this.url("/")).origin)
      throw new OciError(`tag list of ${this.name()} links to another origin (${url.origin}): refused`);
    return url.href;
  }

  protected repositoryPath(): string {
    return `/v2/${this.options.ref.repository}`;
  }

  protected manifestPath(reference: string): string {
    if (!DIGEST.test(reference) && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(reference))
      throw new OciError(`'${reference}' is neither a tag nor a digest`);
    return `${this.repositoryPath()}/manifests/${reference}`;
  }

  protected name(): string {
    return `${this.options.ref.registry}/${this.options.ref.repository}`;
  }
}

function asImage(fetched: { digest: string; json: unknown }): OciImageManifest {
  const parsed = imageManifest.safeParse(fetched.json);
  if (!parsed.success)
    throw new OciError(
      `manifest ${fetched.digest} is not a valid image manifest: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

/** The digest of `data` with the algorithm `like` names (`sha256:` or `sha512:`). */
export function digestOf(data: Buffer, like: string): string {
  const algorithm = like.startsWith("sha512:") ? "sha512" : "sha256";
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
}

function header(response: GitHttpResponse, name: string): string | undefined {
  const value = response.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}
