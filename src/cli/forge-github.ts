import { Octokit } from "@octokit/core";
import { guardedFetch } from "../image/forge-fetch.js";
import type { NetworkPolicy } from "../sources/network-guard.js";
import {
  checkedCloneUrls,
  ForgeError,
  masked,
  notFoundAs,
  sameKey,
  type Forge,
  type ForgeRepository,
  type Outcome,
} from "./forge.js";

// GitHub's REST API through Octokit, the requests go-git-providers v0.27 (github/) makes for `flux bootstrap
// github`, as GitHub's REST documentation names them: "Get a repository" (GET /repos/{owner}/{repo}); when it is
// missing, "Get the authenticated user" (GET /user, for --personal: the owner must be the token's user) and
// "Create a repository for the authenticated user" (POST /user/repos) or "Create an organization repository"
// (POST /orgs/{org}/repos); "Check team permissions for a repository" (GET /orgs/{org}/teams/{team_slug}/repos/
// {owner}/{repo}) then "Add or update team repository permissions" (PUT, same path); "List deploy keys" (GET
// /repos/{owner}/{repo}/keys), "Delete a deploy key" and "Create a deploy key" (POST, {title, key, read_only}).
// Sluice's addition: "List repository webhooks" (GET /repos/{owner}/{repo}/hooks), "Create a repository webhook"
// (POST) or "Update a repository webhook" (PATCH /repos/{owner}/{repo}/hooks/{hook_id}).

export interface GitHubOptions {
  /** REST API root: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server. */
  apiUrl: string;
  token: string;
  owner: string;
  repository: string;
  personal: boolean;
  private: boolean;
  /** Where clone URLs must point: the web host (host[:port]) and the SSH host. */
  hosts: { http: string; ssh: string; allowHttp: boolean };
  network: NetworkPolicy;
}

const PER_PAGE = 100;
/** Bound on paginated lists: a hostile API cannot keep Sluice paging forever. */
const MAX_PAGES = 20;

export function githubForge(options: GitHubOptions): Forge {
  const octokit = new Octokit({
    auth: options.token,
    baseUrl: options.apiUrl.replace(/\/$/, ""),
    userAgent: "sluice-bootstrap",
    request: { fetch: guardedFetch(options.network), retries: 0 },
  });
  const { owner, repository: repo } = options;
  const call = async <T>(route: string, parameters: Record<string, unknown> = {}): Promise<T> => {
    try {
      // Octokit sends the parameters a route does not name as the body: name only those it has.
      const names = { ...(route.includes("{owner}") && { owner }), ...(route.includes("{repo}") && { repo }) };
      return (await octokit.request(route, { ...names, ...parameters })).data as T;
    } catch (error) {
      throw apiError(route, error, options.token);
    }
  };
  const list = async <T>(route: string): Promise<T[]> => {
    const all: T[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const items = await call<unknown>(route, { per_page: PER_PAGE, page });
      if (!Array.isArray(items)) throw new ForgeError(`GitHub API: ${route}: the answer is not a list`);
      all.push(...(items as T[]));
      if (items.length < PER_PAGE) return all;
    }
    throw new ForgeError(`GitHub API: ${route}: more than ${MAX_PAGES * PER_PAGE} entries`);
  };

  return {
    name: "GitHub",
    async repository(): Promise<ForgeRepository> {
      let created = false;
      let answer = await call<GitHubRepository>("GET /repos/{owner}/{repo}").catch(notFoundAs(undefined));
      if (!answer) {
        if (options.personal) {
          const user = await call<{ login?: unknown }>("GET /user");
          if (typeof user.login !== "string" || user.login.toLowerCase() !== owner.toLowerCase())
            throw new ForgeError(
              `the specified owner '${owner}' doesn't match the identity associated with the given token`,
            );
        }
        const body = { name: repo, private: options.private };
        answer = options.personal
          ? await call<GitHubRepository>("POST /user/repos", body)
          : await call<GitHubRepository>("POST /orgs/{org}/repos", { org: owner, ...body });
        created = true;
      }
      return {
        ...checkedCloneUrls("GitHub", { httpUrl: answer.clone_url, sshUrl: answer.ssh_url }, options.hosts),
        created,
      };
    },
    async grantTeams(teams) {
      const outcomes = new Map<string, Outcome>();
      for (const [team, permission] of teams) {
        const route = "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}";
        const parameters = { org: owner, team_slug: team };
        const granted = await call(`GET ${route}`, {
          ...parameters,
          headers: { accept: "application/vnd.github.v3.repository+json" },
        }).then(() => true, notFoundAs(false));
        if (!granted) await call(`PUT ${route}`, { ...parameters, permission });
        outcomes.set(team, granted ? "unchanged" : "created");
      }
      return outcomes;
    },
    async deployKey(title, publicKey, readOnly) {
      const keys = await list<{ id: number; title?: string; key?: string; read_only?: boolean }>(
        "GET /repos/{owner}/{repo}/keys",
      );
      const existing = keys.find((k) => k.title === title);
      if (existing && sameKey(existing.key, publicKey) && existing.read_only === readOnly) return "unchanged";
      if (existing) await call("DELETE /repos/{owner}/{repo}/keys/{key_id}", { key_id: existing.id });
      await call("POST /repos/{owner}/{repo}/keys", { title, key: publicKey, read_only: readOnly });
      return existing ? "updated" : "created";
    },
    async pushWebhook(url, secret, secretChanged, sameBase) {
      const hooks = await list<{ id: number; active?: boolean; events?: string[]; config?: { url?: string } }>(
        "GET /repos/{owner}/{repo}/hooks",
      );
      const existing = hooks.find((h) => h.config?.url === url);
      const others = hooks.filter((h) => h !== existing && h.config?.url?.startsWith(sameBase)).length;
      const fine = existing?.active === true && existing.events?.includes("push");
      if (existing && fine && !secretChanged) return { outcome: "unchanged", others };
      const hook = {
        active: true,
        events: ["push"],
        config: { url, content_type: "json", secret, insecure_ssl: "0" },
      };
      if (existing) await call("PATCH /repos/{owner}/{repo}/hooks/{hook_id}", { hook_id: existing.id, ...hook });
      else await call("POST /repos/{owner}/{repo}/hooks", { name: "web", ...hook });
      return { outcome: existing ? "updated" : "created", others };
    },
  };
}

interface GitHubRepository {
  clone_url?: unknown;
  ssh_url?: unknown;
}

function apiError(route: string, error: unknown, token: string): ForgeError {
  const status = (error as { status?: number }).status;
  const text = (error as { response?: { data?: { message?: unknown } } }).response?.data?.message;
  const why = typeof text === "string" ? text : error instanceof Error ? error.message : String(error);
  const failure = new ForgeError(
    masked(`GitHub API: ${route}: ${status ? `HTTP ${status}: ` : ""}${why.slice(0, 300)}`, [token]),
  );
  failure.status = status;
  return failure;
}
