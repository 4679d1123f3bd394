import { createHash } from "node:crypto";
import { formatDuration } from "../api/duration.js";
import { maskUrl } from "./git.js";
import type { HelmIndexSource } from "./helm-index.js";
import type { IndexedChartVersion } from "./helm-chart-version.js";
import { sourceHttpClient } from "./source-http.js";

// Downloading a chart archive a repository index points to, as source-controller's
// ChartRepository.DownloadChart does — the first URL, resolved against the repository's URL — with
// what Sluice adds for hostile repositories: the network policy on every connection and redirect, a
// bounded body, and the digest the index gives checked before the archive is used.

/** source-controller's `--helm-chart-max-size` default: 10 MiB. */
export const MAX_CHART_BYTES = 10 << 20;

/** A chart could not be downloaded, or is not the one the index describes. */
export class ChartPullError extends Error {
  override name = "ChartPullError";
}

/** Where the chart's repository is and how to reach it; `passCredentials` sends basic auth to other hosts too. */
export interface ChartSource extends HelmIndexSource {
  passCredentials?: boolean;
}

/** The absolute URL of a chart: `urls[0]`, or that relative to the repository URL (Helm's ResolveReferenceURL). */
export function chartUrl(repositoryUrl: string, version: IndexedChartVersion): string {
  const ref = version.urls?.[0];
  if (!ref) throw new ChartPullError(`chart '${version.name}' has no downloadable URLs`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return ref;
  const base = new URL(repositoryUrl);
  base.pathname = `${base.pathname.replace(/\/+$/, "")}/`;
  const resolved = new URL(ref, base);
  resolved.search = base.search;
  return resolved.href;
}

/**
 * The chart archive's bytes. Basic auth goes to the repository's own origin only, unless
 * `passCredentials`; a body over `maxBytes` or a digest other than the index's fails.
 */
export async function downloadChart(source: ChartSource, version: IndexedChartVersion): Promise<Buffer> {
  const href = chartUrl(source.url, version);
  const target = new URL(href);
  if (target.protocol !== "http:" && target.protocol !== "https:")
    throw new ChartPullError(`chart URL ${maskUrl(href)}: only http and https are fetched`);
  const maxBytes = source.maxBytes ?? MAX_CHART_BYTES;
  const http = sourceHttpClient({
    network: source.network,
    caPem: source.caPem,
    clientCert: source.clientCert,
    maxResponseBytes: maxBytes,
  });
  const headers: Record<string, string> = { "user-agent": "sluice (Helm chart)" };
  const sameOrigin = target.origin === new URL(source.url).origin;
  if (source.username !== undefined && (sameOrigin || source.passCredentials))
    headers.authorization = `Basic ${Buffer.from(`${source.username}:${source.password ?? ""}`).toString("base64")}`;
  const signal = AbortSignal.timeout(source.timeoutMs);
  const fail = (detail: string) => new ChartPullError(maskUrl(detail.replaceAll(source.password || "\0", "***")));
  let data: Buffer;
  try {
    const response = await http.request({ url: href, method: "GET", headers, signal });
    if (response.statusCode !== 200) {
      await response.body?.return?.();
      throw fail(`failed to fetch ${href} : ${response.statusCode} ${response.statusMessage}`);
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body ?? []) chunks.push(chunk);
    data = Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof ChartPullError) throw error;
    const message = (error as Error).message;
    if (signal.aborted) throw fail(`failed to fetch ${href} : timed out after ${formatDuration(source.timeoutMs)}`);
    if (message.startsWith("response exceeds"))
      throw fail(`failed to fetch ${href} : chart exceeds the maximum chart size of ${maxBytes} bytes`);
    throw fail(`failed to fetch ${href} : ${message}`);
  }
  const expected = version.digest?.toLowerCase();
  const actual = createHash("sha256").update(data).digest("hex");
  if (expected && expected !== actual)
    throw fail(`chart ${href} has digest sha256:${actual}, not the sha256:${expected} the index gives`);
  return data;
}
