import { guardedFetch } from "./forge-fetch.js";
import type { PullRequestInput, PullRequestResult } from "./github-pull-request.js";

// The pull request extension against GitLab's REST API (v4), as its merge request documentation describes it:
// "List project merge requests" (GET /projects/:id/merge_requests?source_branch&target_branch&state=opened), then
// "Update MR" (PUT /projects/:id/merge_requests/:iid) or "Create MR" (POST /projects/:id/merge_requests), the
// project named by its URL-encoded path, the token in PRIVATE-TOKEN.

/** The project path of a GitLab clone URL (`https://gitlab.example/group/sub/app.git` → `group/sub/app`). */
export function gitlabProjectOf(url: string): string {
  const path = new URL(url).pathname.replace(/\.git$/, "").replace(/^\/+|\/+$/g, "");
  if (!path.includes("/")) throw new Error(`cannot tell the GitLab project of ${new URL(url).origin}/${path}`);
  return path;
}

interface MergeRequest {
  iid: number;
  web_url: string;
}

/** Opens the merge request from `head` into `base` in project `repo` (its path), or updates the open one. */
export async function upsertMergeRequest(input: Omit<PullRequestInput, "owner">): Promise<PullRequestResult> {
  const fetch = guardedFetch(input.network);
  const project = `${input.apiUrl.replace(/\/$/, "")}/projects/${encodeURIComponent(input.repo)}/merge_requests`;
  const call = async <T>(method: string, url: string, body?: object): Promise<T> => {
    const response = await fetch(url, {
      method,
      headers: { "PRIVATE-TOKEN": input.token, "content-type": "application/json", accept: "application/json" },
      body: body && JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok)
      throw new Error(`${method} ${new URL(url).pathname}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  };
  const query = new URLSearchParams({ source_branch: input.head, target_branch: input.base, state: "opened" });
  const [open] = await call<MergeRequest[]>("GET", `${project}?${query}`);
  const fields = { title: input.title, description: input.body };
  if (open) {
    const updated = await call<MergeRequest>("PUT", `${project}/${open.iid}`, fields);
    return { number: updated.iid, url: updated.web_url, created: false };
  }
  const created = await call<MergeRequest>("POST", project, {
    source_branch: input.head,
    target_branch: input.base,
    ...fields,
  });
  return { number: created.iid, url: created.web_url, created: true };
}
