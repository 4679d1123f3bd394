import { createHash } from "node:crypto";
import semver from "semver";
import { parseDocument } from "yaml";
import { z } from "zod";
import { formatDuration } from "../api/duration.js";
import { maskUrl } from "./git.js";
import type { NetworkPolicy } from "./network-guard.js";
import { sourceHttpClient } from "./source-http.js";

// A Helm chart repository's index, fetched and loaded as source-controller v1.9 does it: the raw
// `index.yaml` bounded in size, its sha256 the revision, and only when that revision is new, parsed
// (YAML or JSON, unknown fields refused as Helm's strict loader refuses them), invalid chart
// versions dropped, each chart's versions sorted newest first.

/** source-controller's `--helm-index-max-size` default: 50 MiB. */
export const MAX_INDEX_BYTES = 50 << 20;
/** Alias expansions one index may make; a generated index has none, a YAML bomb has millions. */
const MAX_ALIASES = 1_000;

/** A failure with the reason source-controller reports it with. */
export class HelmIndexError extends Error {
  override name = "HelmIndexError";
  constructor(
    readonly reason: "Failed" | "IndexationFailed",
    message: string,
  ) {
    super(message);
  }
}

/** Where the index is and how to reach it. */
export interface HelmIndexSource {
  /** `spec.url`, the repository's base URL. */
  url: string;
  /** Basic auth from `spec.secretRef`. */
  username?: string;
  password?: string;
  /** From `spec.certSecretRef`: `ca.crt`, and the client's `tls.crt`/`tls.key`. */
  caPem?: string;
  clientCert?: { certPem: string; keyPem: string };
  network: NetworkPolicy;
  /** `spec.timeout`: bounds the whole fetch. */
  timeoutMs: number;
  /** @default MAX_INDEX_BYTES */
  maxBytes?: number;
}

/** `<url>/index.yaml`, the base URL's path given exactly one trailing slash first (Flux's NormalizeURL). */
export function indexUrl(repositoryUrl: string): string {
  const url = new URL(repositoryUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/index.yaml`;
  return url.href;
}

/**
 * Downloads the index's bytes. Every connection goes through the network policy; basic auth goes to
 * the repository's own origin only (a redirect elsewhere drops it); the body stops at `maxBytes`.
 */
export async function fetchHelmIndex(source: HelmIndexSource): Promise<Buffer> {
  const maxBytes = source.maxBytes ?? MAX_INDEX_BYTES;
  const href = indexUrl(source.url);
  const http = sourceHttpClient({
    network: source.network,
    caPem: source.caPem,
    clientCert: source.clientCert,
    maxResponseBytes: maxBytes,
  });
  const headers: Record<string, string> = { "user-agent": "sluice (Helm index)" };
  if (source.username !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${source.username}:${source.password ?? ""}`).toString("base64")}`;
  const signal = AbortSignal.timeout(source.timeoutMs);
  // No URL userinfo and no password in a message: it goes into the object's status and events.
  const fail = (detail: string) =>
    new HelmIndexError(
      "Failed",
      `failed to fetch Helm repository index: failed to cache index to temporary file: ${maskUrl(detail.replaceAll(source.password || "\0", "***"))}`,
    );
  try {
    const response = await http.request({ url: href, method: "GET", headers, signal });
    const chunks: Uint8Array[] = [];
    if (response.statusCode !== 200) {
      await response.body?.return?.();
      throw fail(`failed to fetch ${href} : ${response.statusCode} ${response.statusMessage}`);
    }
    for await (const chunk of response.body ?? []) chunks.push(chunk);
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof HelmIndexError) throw error;
    const message = (error as Error).message;
    if (signal.aborted) throw fail(`timed out after ${formatDuration(source.timeoutMs)} (spec.timeout)`);
    if (message.startsWith("response exceeds"))
      throw fail(`index exceeds the maximum index file size of ${maxBytes} bytes`);
    throw fail(message);
  }
}

/** The revision of an index as source-controller computes it: the sha256 of the bytes fetched. */
export function indexRevision(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const chartVersion = z
  .strictObject({
    // chart.Metadata
    name: z.string().optional(),
    home: z.string().optional(),
    sources: z.array(z.string()).optional(),
    version: z.string().optional(),
    description: z.string().optional(),
    keywords: z.array(z.string()).optional(),
    maintainers: z.array(z.record(z.string(), z.unknown())).optional(),
    icon: z.string().optional(),
    apiVersion: z.string().optional(),
    condition: z.string().optional(),
    tags: z.string().optional(),
    appVersion: z.string().optional(),
    deprecated: z.boolean().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    kubeVersion: z.string().optional(),
    dependencies: z.array(z.record(z.string(), z.unknown())).optional(),
    type: z.string().optional(),
    // repo.ChartVersion, deprecated fields included (Helm's strict loader knows them)
    urls: z.array(z.string()).optional(),
    created: z.string().optional(),
    removed: z.boolean().optional(),
    digest: z.string().optional(),
    checksum: z.string().optional(),
    engine: z.string().optional(),
    tillerVersion: z.string().optional(),
    url: z.string().optional(),
  })
  .nullable();
type ChartVersion = NonNullable<z.infer<typeof chartVersion>>;

const indexFile = z.strictObject({
  serverInfo: z.record(z.string(), z.unknown()).optional(),
  apiVersion: z.string().optional(),
  generated: z.string().optional(),
  entries: z.record(z.string(), z.array(chartVersion).nullable()).optional(),
  publicKeys: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** A loaded index: what the artifact stores (as JSON) and HelmCharts read. */
export type HelmIndex = Omit<z.infer<typeof indexFile>, "entries"> & { entries: Record<string, ChartVersion[]> };

/**
 * Loads an index as Helm's strict loader does: JSON when the bytes are JSON, else one YAML document
 * (aliases bounded); unknown fields and a missing `apiVersion` are errors; chart versions that are
 * null or fail Helm's metadata validation are dropped; versions sorted newest first.
 */
export function loadHelmIndex(bytes: Buffer): HelmIndex {
  const fail = (detail: string) =>
    new HelmIndexError(
      "IndexationFailed",
      `failed to load Helm repository from index YAML: failed to load index: ${detail}`,
    );
  if (bytes.length === 0) throw fail("no API version specified");
  const parsed = indexFile.safeParse(decode(bytes.toString("utf8"), fail));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.join(".");
    throw fail(
      issue.code === "unrecognized_keys"
        ? `unknown field "${issue.keys[0]}"${at ? ` in ${at}` : ""}`
        : `${at || "index"}: ${issue.message}`,
    );
  }
  const index = parsed.data;
  if (!index.apiVersion) throw fail("no API version specified");
  const entries: Record<string, ChartVersion[]> = {};
  for (const [name, versions] of Object.entries(index.entries ?? {})) {
    const valid = (versions ?? [])
      .filter((v): v is ChartVersion => v !== null)
      .map((v) => ({ ...v, apiVersion: v.apiVersion || "v1" }))
      .filter(isValidChartVersion);
    entries[name] = sortNewestFirst(valid);
  }
  return { ...index, entries };
}

/** The artifact's content: the loaded index as indented JSON, as source-controller stores it. */
export function indexArtifact(index: HelmIndex): Buffer {
  return Buffer.from(JSON.stringify(index, null, 2));
}

function decode(text: string, fail: (detail: string) => HelmIndexError): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // not JSON: YAML, as Helm falls back to
  }
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem) throw fail(`invalid YAML (${problem.code})`);
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith("Excessive alias count"))
      throw fail(`YAML aliases expand more than ${MAX_ALIASES} times (a YAML bomb?)`);
    throw fail(`invalid YAML (${(error as Error).name})`);
  }
}

/** Helm's Metadata.Validate, the checks an index entry can fail. */
function isValidChartVersion(v: ChartVersion): boolean {
  if (!v.name || v.name === "." || v.name === ".." || /[/\\]/.test(v.name)) return false;
  if (!v.version || parseVersion(v.version) === null) return false;
  return v.type === undefined || v.type === "" || v.type === "application" || v.type === "library";
}

/** Masterminds/semver's lenient parse: a `v` prefix and missing minor or patch are accepted. */
export function parseVersion(text: string): semver.SemVer | null {
  const padded = /^v?\d+(\.\d+)?$/.test(text) ? text.replace(/^v/, "") + (text.includes(".") ? ".0" : ".0.0") : text;
  return semver.parse(padded, { loose: true });
}

/** Newest first; a stable sort, so equal versions keep the index's order. Every version here parses. */
function sortNewestFirst(versions: ChartVersion[]): ChartVersion[] {
  const keyed = versions.map((v) => ({ v, parsed: parseVersion(v.version!)! }));
  keyed.sort((a, b) => semver.rcompare(a.parsed, b.parsed));
  return keyed.map((k) => k.v);
}
