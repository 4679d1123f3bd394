import type { NetworkPolicy } from "../sources/network-guard.js";
import { sourceHttpClient } from "../sources/source-http.js";

/** What a forge answers with is bounded: a hostile endpoint cannot make Sluice hold more. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** A fetch (for Octokit, and GitLab's API) whose every connection is checked against the network policy, responses bounded. */
export function guardedFetch(network: NetworkPolicy): typeof fetch {
  const client = sourceHttpClient({ network, maxResponseBytes: MAX_RESPONSE_BYTES });
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const payload = typeof init?.body === "string" ? new TextEncoder().encode(init.body) : undefined;
    const body =
      payload &&
      (async function* () {
        yield payload;
      })();
    const answer = await client.request({ url, method: init?.method ?? "GET", headers, body });
    const chunks: Uint8Array[] = [];
    for await (const chunk of answer.body ?? []) chunks.push(chunk);
    return new Response(answer.statusCode === 204 ? null : Buffer.concat(chunks), {
      status: answer.statusCode,
      statusText: answer.statusMessage,
      headers: answer.headers,
    });
  }) as typeof fetch;
}
