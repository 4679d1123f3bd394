import { Octokit } from "@octokit/core";
import type { NetworkPolicy } from "../sources/network-guard.js";
import { guardedFetch } from "./forge-fetch.js";

// Sluice's pull request extension against GitHub's REST API, through Octokit: one open pull request per
// head branch, found by "List pull requests" (GET /repos/{owner}/{repo}/pulls?head=owner:branch&base=…&state=open),
// then updated ("Update a pull request", PATCH …/pulls/{number}) or opened ("Create a pull request", POST …/pulls).

/** One pull (or merge) request to open or update, wherever it goes. */
export interface PullRequestInput {
  /** The forge's REST API root, e.g. https://api.github.com, https://gitlab.example/api/v4. */
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

/** The request opened or updated: its number (GitLab's iid) and web address. */
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
