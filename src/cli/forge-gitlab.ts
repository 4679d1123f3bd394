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

// GitLab's REST API (v4) with fetch, the requests go-git-providers v0.27 (gitlab/) makes for `flux bootstrap
// gitlab`, as GitLab's REST documentation names them: "Get a single project" (GET /projects/:id, the id being the
// URL-encoded path); when missing, "Get the current user" (GET /user, for --personal) or "Get a single group" (GET
// /groups/:id, its namespace id), then "Create project" (POST /projects, {name, path, namespace_id, visibility});
// "Share project with group" (POST /projects/:id/share, {group_id, group_access}) unless the project lists the
// group in shared_with_groups; "List deploy keys for project" (GET /projects/:id/deploy_keys), "Delete deploy key"
// and "Add deploy key for a project" (POST, {title, key, can_push}). Sluice's addition: "List project hooks" (GET
// /projects/:id/hooks), "Add a hook to a project" (POST) or "Edit a project hook" (PUT /projects/:id/hooks/:hook_id),
// {url, token, push_events, enable_ssl_verification}. The token goes in PRIVATE-TOKEN. No library: the dozen calls
// are plain JSON, and fetch through the network guard bounds every answer (as the merge request extension does).

export interface GitLabOptions {
  /** REST API root: https://gitlab.com/api/v4, https://<host>/api/v4. */
  apiUrl: string;
  token: string;
  /** User or group path (groups may be nested: `group/sub`). */
  owner: string;
  /** Project name; `sub/name` puts it in a subgroup of the owner, as flux reads it. */
  repository: string;
  personal: boolean;
  visibility: "private" | "internal" | "public";
  hosts: { http: string; ssh: string; allowHttp: boolean };
  network: NetworkPolicy;
}

/** Access levels by flux's team permission names (go-git-providers' gitlab mapping). */
const ACCESS_LEVELS: Record<string, number> = { pull: 10, triage: 20, push: 30, maintain: 40, admin: 50 };
const PER_PAGE = 100;
const MAX_PAGES = 20;

export function gitlabForge(options: GitLabOptions): Forge {
  const fetch = guardedFetch(options.network);
  const root = options.apiUrl.replace(/\/$/, "");
  const segments = options.repository.split("/");
  const name = segments.at(-1)!;
  const namespace = [options.owner, ...segments.slice(0, -1)].join("/");
  const project = `/projects/${encodeURIComponent(`${namespace}/${name}`)}`;
  const call = async <T>(method: string, path: string, body?: object): Promise<T> => {
    const response = await fetch(`${root}${path}`, {
      method,
      headers: { "PRIVATE-TOKEN": options.token, "content-type": "application/json", accept: "application/json" },
      body: body && JSON.stringify(body),
    }).catch((error: unknown) => {
      throw new ForgeError(masked(`GitLab API: ${method} ${path}: ${(error as Error).message}`, [options.token]));
    });
    const text = await response.text();
    if (!response.ok) {
      const failure = new ForgeError(
        masked(`GitLab API: ${method} ${path}: HTTP ${response.status}: ${text.slice(0, 300)}`, [options.token]),
      );
      failure.status = response.status;
      throw failure;
    }
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new ForgeError(`GitLab API: ${method} ${path}: the answer is not JSON`);
    }
  };
  const list = async <T>(path: string): Promise<T[]> => {
    const all: T[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const items = await call<unknown>("GET", `${path}?per_page=${PER_PAGE}&page=${page}`);
      if (!Array.isArray(items)) throw new ForgeError(`GitLab API: GET ${path}: the answer is not a list`);
      all.push(...(items as T[]));
      if (items.length < PER_PAGE) return all;
    }
    throw new ForgeError(`GitLab API: GET ${path}: more than ${MAX_PAGES * PER_PAGE} entries`);
  };
  /** The groups the project is shared with, as its last answer listed them. */
  let shared: { group_full_path?: unknown }[] = [];
  const group = (path: string) => call<{ id?: unknown }>("GET", `/groups/${encodeURIComponent(path)}`);

  return {
    name: "GitLab",
    async repository(): Promise<ForgeRepository> {
      let created = false;
      let answer = await call<GitLabProject>("GET", project).catch(notFoundAs(undefined));
      if (!answer) {
        let namespaceId: unknown;
        if (options.personal) {
          const user = await call<{ username?: unknown }>("GET", "/user");
          if (typeof user.username !== "string" || user.username.toLowerCase() !== options.owner.toLowerCase())
            throw new ForgeError(
              `the specified owner '${options.owner}' doesn't match the identity associated with the given token`,
            );
        } else namespaceId = (await group(namespace)).id;
        if (!options.personal && typeof namespaceId !== "number")
          throw new ForgeError(`GitLab API: GET /groups/${encodeURIComponent(namespace)}: no numeric id`);
        answer = await call<GitLabProject>("POST", "/projects", {
          name,
          path: name,
          ...(namespaceId !== undefined && { namespace_id: namespaceId }),
          visibility: options.visibility,
        });
        created = true;
      }
      const urls = checkedCloneUrls(
        "GitLab",
        { httpUrl: answer.http_url_to_repo, sshUrl: answer.ssh_url_to_repo },
        options.hosts,
      );
      shared = Array.isArray(answer.shared_with_groups) ? answer.shared_with_groups : [];
      return { ...urls, created };
    },
    async grantTeams(teams) {
      const outcomes = new Map<string, Outcome>();
      for (const [team, permission] of teams) {
        const access = ACCESS_LEVELS[permission];
        if (access === undefined) throw new ForgeError(`invalid permission "${permission}" for team "${team}"`);
        const known = shared.some((g) => typeof g.group_full_path === "string" && g.group_full_path === team);
        if (!known) {
          const id = (await group(team)).id;
          if (typeof id !== "number")
            throw new ForgeError(`GitLab API: GET /groups/${encodeURIComponent(team)}: no numeric id`);
          await call("POST", `${project}/share`, { group_id: id, group_access: access });
        }
        outcomes.set(team, known ? "unchanged" : "created");
      }
      return outcomes;
    },
    async deployKey(title, publicKey, readOnly) {
      const keys = await list<{ id: number; title?: string; key?: string; can_push?: boolean }>(
        `${project}/deploy_keys`,
      );
      const existing = keys.find((k) => k.title === title);
      if (existing && sameKey(existing.key, publicKey) && existing.can_push === !readOnly) return "unchanged";
      if (existing) await call("DELETE", `${project}/deploy_keys/${existing.id}`);
      await call("POST", `${project}/deploy_keys`, { title, key: publicKey, can_push: !readOnly });
      return existing ? "updated" : "created";
    },
    async pushWebhook(url, secret, secretChanged, sameBase) {
      const hooks = await list<{ id: number; url?: string; push_events?: boolean }>(`${project}/hooks`);
      const existing = hooks.find((h) => h.url === url);
      const others = hooks.filter((h) => h !== existing && h.url?.startsWith(sameBase)).length;
      if (existing?.push_events === true && !secretChanged) return { outcome: "unchanged", others };
      const hook = { url, token: secret, push_events: true, enable_ssl_verification: true };
      if (existing) await call("PUT", `${project}/hooks/${existing.id}`, hook);
      else await call("POST", `${project}/hooks`, hook);
      return { outcome: existing ? "updated" : "created", others };
    },
  };
}

interface GitLabProject {
  http_url_to_repo?: unknown;
  ssh_url_to_repo?: unknown;
  shared_with_groups?: { group_full_path?: unknown }[];
}
