import { Octokit } from "@octokit/core";
import type { NetworkPolicy } from "../sources/network-guard.js";
import { sourceHttpClient } from "../sources/source-http.js";

// Sluice's pull request extension against GitHub's REST API, through Octokit: one open pull request per
// head branch, found by "List pull requests" (GET /repos/{owner}/{repo}/pulls?head=owner:branch&base=…&state=open),
// then updated ("Update a pull request", PATCH …/pulls/{number}) or opened ("Create a pull request", POST …/pulls).

/** What GitHub answers with is bounded: a hostile endpoint cannot make Sluice hold more. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface PullRequestInput {
  /** GitHub's REST API root, e.g. https://api.github.com. */
  apiUrl: string;
  token: string;
  owner: string;
  repo: string;
  head: string;
  base: string;
  title: string;
  body: string;
  network: NetworkPolicy;
}

export interface PullRequestResult {
  number: number;
  url: string;
  created: boolean;
}

/** The owner and repository of a GitHub clone URL (`https://github.com/org/app.git` → org, app). */
export function githubRepositoryOf(url: string): { owner: string; repo: string } {
  const parts = new URL(url).pathname
    .replace(/\.git$/, "")
    .split("/")
    .filter(Boolean);
  if (parts.length < 2)
    throw new Error(`cannot tell the GitHub owner and repository of ${new URL(url).origin}${new URL(url).pathname}`);
  return { owner: parts.at(-2)!, repo: parts.at(-1)! };
}

/** Opens the pull request from `head` into `base`, or updates the open one with the new title and body. */
export async function upsertPullRequest(input: PullRequestInput): Promise<PullRequestResult> {
  const octokit = new Octokit({
    auth: input.token,
    baseUrl: input.apiUrl.replace(/\/$/, ""),
    userAgent: "sluice-image-automation",
    request: { fetch: guardedFetch(input.network), retries: 0 },
  });
  const { owner, repo, head, base, title, body } = input;
  const open = await octokit.request("GET /repos/{owner}/{repo}/pulls", {
    owner,
    repo,
    head: `${owner}:${head}`,
    base,
    state: "open",
    per_page: 1,
  });
  const existing = open.data[0];
  if (existing) {
    const updated = await octokit.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", {
      owner,
      repo,
      pull_number: existing.number,
      title,
      body,
    });
    return { number: updated.data.number, url: updated.data.html_url, created: false };
  }
  const created = await octokit.request("POST /repos/{owner}/{repo}/pulls", { owner, repo, head, base, title, body });
  return { number: created.data.number, url: created.data.html_url, created: true };
}

/** A fetch for Octokit whose every connection is checked against the network policy, responses bounded. */
function guardedFetch(network: NetworkPolicy): typeof fetch {
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
