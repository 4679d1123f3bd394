import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createRepo, type GitInfo } from "../env/git-server.js";
import { authorize, type SshdInfo } from "../env/sshd.js";

// Loopback stand-ins for GitHub's and GitLab's REST APIs, for `sluice bootstrap github|gitlab`. Each request is
// checked against the documented endpoint, method and body (which keys the documentation lists, which it
// requires, the values of enums); anything else is a violation, answered 422 and recorded. Creating a
// repository creates a bare repository on the test bed's Git server (served over SSH by its sshd too), and a
// deploy key is authorised on that sshd, so the commit and the clone with the deploy key are real.
//
// GitHub: https://docs.github.com/en/rest/repos/repos#get-a-repository, …#create-a-repository-for-the-authenticated-user,
// …#create-an-organization-repository; https://docs.github.com/en/rest/users/users#get-the-authenticated-user;
// https://docs.github.com/en/rest/teams/teams#check-team-permissions-for-a-repository, …#add-or-update-team-repository-permissions;
// https://docs.github.com/en/rest/deploy-keys/deploy-keys (list, create, delete);
// https://docs.github.com/en/rest/repos/webhooks (list, create, update a repository webhook).
// GitLab: https://docs.gitlab.com/api/projects/ (get a single project, create project, share project with group);
// https://docs.gitlab.com/api/users/ (get the current user); https://docs.gitlab.com/api/groups/ (get a single group);
// https://docs.gitlab.com/api/deploy_keys/ (list, add, delete for a project); https://docs.gitlab.com/api/project_webhooks/
// (list, add, edit a project webhook).

export interface Recorded {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

export interface Contract {
  url: string;
  requests: Recorded[];
  violations: string[];
  /** Deploy keys and hooks as the forge holds them, by repository path (`owner/name`). */
  keys: { id: number; title: string; key: string; readOnly: boolean }[];
  hooks: { id: number; url: string; secret: string; events: string[] }[];
  /** Replace one answer (a hostile forge): return true when handled. */
  override?: (request: Recorded, res: ServerResponse) => boolean;
  /** Calls that change something at the forge. */
  writes(): Recorded[];
  close(): Promise<void>;
}

interface Route {
  method: string;
  pattern: RegExp;
  /** Body keys the documentation lists; `required` ones must be there. */
  allowed?: string[];
  required?: string[];
  enums?: Record<string, unknown[]>;
  handle(
    match: RegExpExecArray,
    body: Record<string, unknown>,
    url: URL,
  ): [number, unknown] | Promise<[number, unknown]>;
}

interface Setup {
  git: GitInfo;
  sshd: SshdInfo;
  token: string;
  /** The token's user. */
  user: string;
  /** Repositories (`owner/name`) already there, on the Git server. */
  existing?: string[];
}

const PERMISSIONS = ["pull", "triage", "push", "maintain", "admin"];

export async function githubContract(setup: Setup): Promise<Contract> {
  const repos = new Set(setup.existing ?? []);
  const teams = new Map<string, string>();
  const state = contractState(setup.sshd);
  const repoJson = (full: string) => ({
    full_name: full,
    clone_url: `${setup.git.baseUrl}/${full}.git`,
    ssh_url: sshUrlOf(setup, full),
    private: true,
  });
  const create = async (full: string, body: Record<string, unknown>): Promise<[number, unknown]> => {
    if (repos.has(full))
      return [422, { message: "Repository creation failed.", errors: [{ message: "name already exists" }] }];
    await createRepo(setup.git, full);
    repos.add(full);
    return [201, { ...repoJson(full), private: body.private === true }];
  };
  const REPO_FIELDS = ["name", "description", "homepage", "private", "has_issues", "has_projects", "has_wiki"];
  const CREATE_FIELDS = [...REPO_FIELDS, "auto_init", "gitignore_template", "license_template", "is_template"];
  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/repos\/([^/]+)\/([^/]+)$/,
      handle: (m) =>
        repos.has(`${m[1]}/${m[2]}`) ? [200, repoJson(`${m[1]}/${m[2]}`)] : [404, { message: "Not Found" }],
    },
    { method: "GET", pattern: /^\/user$/, handle: () => [200, { login: setup.user, id: 1 }] },
    {
      method: "POST",
      pattern: /^\/user\/repos$/,
      allowed: CREATE_FIELDS,
      required: ["name"],
      handle: (_m, body) => create(`${setup.user}/${String(body.name)}`, body),
    },
    {
      method: "POST",
      pattern: /^\/orgs\/([^/]+)\/repos$/,
      allowed: [...CREATE_FIELDS, "visibility", "custom_properties"],
      required: ["name"],
      enums: { visibility: ["public", "private", "internal"] },
      handle: (m, body) => create(`${m[1]}/${String(body.name)}`, body),
    },
    {
      method: "GET",
      pattern: /^\/orgs\/([^/]+)\/teams\/([^/]+)\/repos\/([^/]+)\/([^/]+)$/,
      handle: (m) => {
        const permission = teams.get(`${m[2]}@${m[3]}/${m[4]}`);
        return permission
          ? [200, { ...repoJson(`${m[3]}/${m[4]}`), role_name: permission }]
          : [404, { message: "Not Found" }];
      },
    },
    {
      method: "PUT",
      pattern: /^\/orgs\/([^/]+)\/teams\/([^/]+)\/repos\/([^/]+)\/([^/]+)$/,
      allowed: ["permission"],
      enums: { permission: PERMISSIONS },
      handle: (m, body) => {
        teams.set(`${m[2]}@${m[3]}/${m[4]}`, String(body.permission ?? "push"));
        return [204, undefined];
      },
    },
    {
      method: "GET",
      pattern: /^\/repos\/([^/]+)\/([^/]+)\/keys$/,
      handle: (_m, _b, url) => [
        200,
        page(url, "per_page", state.keys).map((k) => ({
          id: k.id,
          key: k.key,
          title: k.title,
          read_only: k.readOnly,
          verified: true,
        })),
      ],
    },
    {
      method: "POST",
      pattern: /^\/repos\/([^/]+)\/([^/]+)\/keys$/,
      allowed: ["title", "key", "read_only"],
      required: ["key"],
      handle: (_m, body) => state.addKey(String(body.title), String(body.key), body.read_only !== false),
    },
    {
      method: "DELETE",
      pattern: /^\/repos\/([^/]+)\/([^/]+)\/keys\/(\d+)$/,
      handle: (m) => (state.removeKey(Number(m[3])) ? [204, undefined] : [404, { message: "Not Found" }]),
    },
    {
      method: "GET",
      pattern: /^\/repos\/([^/]+)\/([^/]+)\/hooks$/,
      handle: (_m, _b, url) => [
        200,
        page(url, "per_page", state.hooks).map((h) => ({
          id: h.id,
          name: "web",
          active: true,
          events: h.events,
          // GitHub never shows a hook's secret.
          config: { url: h.url, content_type: "json", insecure_ssl: "0", ...(h.secret && { secret: "********" }) },
        })),
      ],
    },
    {
      method: "POST",
      pattern: /^\/repos\/([^/]+)\/([^/]+)\/hooks$/,
      allowed: ["name", "config", "events", "active"],
      required: ["config"],
      handle: (_m, body) => githubHook(state, body),
    },
    {
      method: "PATCH",
      pattern: /^\/repos\/([^/]+)\/([^/]+)\/hooks\/(\d+)$/,
      allowed: ["config", "events", "add_events", "remove_events", "active"],
      handle: (m, body) => githubHook(state, body, Number(m[3])),
    },
  ];
  return serve(state, routes, (req) => req.headers.authorization === `token ${setup.token}`);
}

function githubHook(state: ContractState, body: Record<string, unknown>, id?: number): [number, unknown] {
  const config = body.config as Record<string, unknown> | undefined;
  const allowed = ["url", "content_type", "secret", "insecure_ssl"];
  if (!config || typeof config.url !== "string" || Object.keys(config).some((k) => !allowed.includes(k)))
    return [422, { message: "config: url required, keys url, content_type, secret, insecure_ssl" }];
  if (config.content_type !== undefined && !["json", "form"].includes(String(config.content_type)))
    return [422, { message: "config.content_type" }];
  if (id === undefined && body.name !== undefined && body.name !== "web") return [422, { message: "name must be web" }];
  const hook = state.setHook(
    id,
    config.url,
    String(config.secret ?? ""),
    (body.events as string[] | undefined) ?? ["push"],
  );
  return hook
    ? [id === undefined ? 201 : 200, { id: hook.id, config: { url: hook.url } }]
    : [404, { message: "Not Found" }];
}

export async function gitlabContract(setup: Setup & { groups: Record<string, number> }): Promise<Contract> {
  const projects = new Map<
    string,
    { shared: { group_id: number; group_full_path: string; group_access_level: number }[] }
  >((setup.existing ?? []).map((p) => [p, { shared: [] }]));
  const state = contractState(setup.sshd);
  const projectJson = (full: string) => ({
    id: 7,
    path_with_namespace: full,
    http_url_to_repo: `${setup.git.baseUrl}/${full}.git`,
    // scp-like and without the port, as GitLab answers: the test passes --ssh-hostname 127.0.0.1:<sshd's port>.
    ssh_url_to_repo: `${setup.sshd.user}@${setup.sshd.host}:${join(setup.git.root, `${full}.git`)}`,
    shared_with_groups: projects.get(full)?.shared ?? [],
  });
  const project = (m: RegExpExecArray) => decodeURIComponent(m[1]!);
  const known = (m: RegExpExecArray) => projects.has(project(m));
  const NOT_FOUND: [number, unknown] = [404, { message: "404 Project Not Found" }];
  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/api\/v4\/projects\/([^/]+)$/,
      handle: (m) => (known(m) ? [200, projectJson(project(m))] : NOT_FOUND),
    },
    { method: "GET", pattern: /^\/api\/v4\/user$/, handle: () => [200, { id: 1, username: setup.user }] },
    {
      method: "GET",
      pattern: /^\/api\/v4\/groups\/([^/]+)$/,
      handle: (m) => {
        const path = decodeURIComponent(m[1]!);
        const id = setup.groups[path];
        return id ? [200, { id, full_path: path }] : [404, { message: "404 Group Not Found" }];
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/v4\/projects$/,
      allowed: [
        "name",
        "path",
        "namespace_id",
        "visibility",
        "description",
        "default_branch",
        "initialize_with_readme",
      ],
      enums: { visibility: ["private", "internal", "public"] },
      handle: async (_m, body) => {
        if (typeof body.name !== "string" && typeof body.path !== "string")
          return [400, { message: "name or path is required" }];
        const namespace =
          body.namespace_id === undefined
            ? setup.user
            : Object.entries(setup.groups).find(([, id]) => id === body.namespace_id)?.[0];
        if (!namespace) return [404, { message: "404 Namespace Not Found" }];
        const full = `${namespace}/${String(body.path ?? body.name)}`;
        if (projects.has(full)) return [400, { message: { name: ["has already been taken"] } }];
        await createRepo(setup.git, full);
        projects.set(full, { shared: [] });
        return [201, projectJson(full)];
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/v4\/projects\/([^/]+)\/share$/,
      allowed: ["group_id", "group_access", "expires_at"],
      required: ["group_id", "group_access"],
      enums: { group_access: [10, 20, 30, 40, 50] },
      handle: (m, body) => {
        if (!known(m)) return NOT_FOUND;
        const group = Object.entries(setup.groups).find(([, id]) => id === body.group_id);
        if (!group) return [404, { message: "404 Group Not Found" }];
        projects.get(project(m))!.shared.push({
          group_id: group[1],
          group_full_path: group[0],
          group_access_level: Number(body.group_access),
        });
        return [201, { id: 1 }];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/v4\/projects\/([^/]+)\/deploy_keys$/,
      handle: (m, _b, url) =>
        known(m)
          ? [
              200,
              page(url, "per_page", state.keys).map((k) => ({
                id: k.id,
                title: k.title,
                key: k.key,
                can_push: !k.readOnly,
              })),
            ]
          : NOT_FOUND,
    },
    {
      method: "POST",
      pattern: /^\/api\/v4\/projects\/([^/]+)\/deploy_keys$/,
      allowed: ["title", "key", "can_push", "expires_at"],
      required: ["title", "key"],
      handle: (m, body) =>
        known(m) ? state.addKey(String(body.title), String(body.key), body.can_push !== true) : NOT_FOUND,
    },
    {
      method: "DELETE",
      pattern: /^\/api\/v4\/projects\/([^/]+)\/deploy_keys\/(\d+)$/,
      handle: (m) => (state.removeKey(Number(m[2])) ? [204, undefined] : NOT_FOUND),
    },
    {
      method: "GET",
      pattern: /^\/api\/v4\/projects\/([^/]+)\/hooks$/,
      // GitLab does not show a hook's token.
      handle: (m, _b, url) =>
        known(m)
          ? [200, page(url, "per_page", state.hooks).map((h) => ({ id: h.id, url: h.url, push_events: true }))]
          : NOT_FOUND,
    },
    ...(["POST", "PUT"] as const).map((method): Route => ({
      method,
      pattern:
        method === "POST" ? /^\/api\/v4\/projects\/([^/]+)\/hooks$/ : /^\/api\/v4\/projects\/([^/]+)\/hooks\/(\d+)$/,
      allowed: [
        "url",
        "token",
        "push_events",
        "tag_push_events",
        "merge_requests_events",
        "enable_ssl_verification",
        "name",
        "description",
      ],
      required: ["url"],
      handle: (m, body) => {
        if (!known(m)) return NOT_FOUND;
        const hook = state.setHook(
          method === "PUT" ? Number(m[2]) : undefined,
          String(body.url),
          String(body.token ?? ""),
          body.push_events === true ? ["push"] : [],
        );
        return hook ? [method === "POST" ? 201 : 200, { id: hook.id, url: hook.url }] : NOT_FOUND;
      },
    })),
  ];
  return serve(state, routes, (req) => req.headers["private-token"] === setup.token);
}

/** `ssh://git@127.0.0.1:<port>/<the Git server's folder>/<full>.git`: the same bare repository over SSH. */
function sshUrlOf(setup: Setup, full: string): string {
  return `ssh://${setup.sshd.user}@${setup.sshd.host}:${setup.sshd.port}${join(setup.git.root, `${full}.git`)}`;
}

interface ContractState {
  keys: Contract["keys"];
  hooks: Contract["hooks"];
  /** Adds the key and lets it log in to the test bed's sshd. */
  addKey(title: string, key: string, readOnly: boolean): Promise<[number, unknown]>;
  removeKey(id: number): boolean;
  setHook(id: number | undefined, url: string, secret: string, events: string[]): Contract["hooks"][number] | undefined;
}

function contractState(sshd: SshdInfo): ContractState {
  let next = 100;
  const state: ContractState = {
    keys: [],
    hooks: [],
    async addKey(title, key, readOnly) {
      const entry = { id: next++, title, key: key.trim().split(/\s+/).slice(0, 2).join(" "), readOnly };
      state.keys.push(entry);
      await authorize(sshd, entry.key);
      return [201, { id: entry.id, title, key: entry.key, read_only: readOnly, can_push: !readOnly }];
    },
    removeKey(id) {
      const at = state.keys.findIndex((k) => k.id === id);
      if (at >= 0) state.keys.splice(at, 1);
      return at >= 0;
    },
    setHook(id, url, secret, events) {
      if (id === undefined) {
        const hook = { id: next++, url, secret, events };
        state.hooks.push(hook);
        return hook;
      }
      const hook = state.hooks.find((h) => h.id === id);
      if (hook) Object.assign(hook, { url, secret: secret || hook.secret, events });
      return hook;
    },
  };
  return state;
}

function page<T>(url: URL, name: string, items: T[]): T[] {
  const size = Number(url.searchParams.get(name) ?? 30);
  const at = Number(url.searchParams.get("page") ?? 1);
  return items.slice((at - 1) * size, at * size);
}

async function serve(
  state: ContractState,
  routes: Route[],
  authorized: (req: IncomingMessage) => boolean,
): Promise<Contract> {
  const requests: Recorded[] = [];
  const violations: string[] = [];
  const contract: Contract = {
    url: "",
    requests,
    violations,
    keys: state.keys,
    hooks: state.hooks,
    writes: () => requests.filter((r) => r.method !== "GET"),
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url!, "http://x");
    const text = Buffer.concat(chunks).toString();
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      violations.push(`${req.method} ${url.pathname}: body is not JSON`);
    }
    const recorded: Recorded = { method: req.method!, path: url.pathname, ...(body && { body }) };
    requests.push(recorded);
    const answer = (status: number, json: unknown) =>
      json === undefined
        ? res.writeHead(status).end()
        : res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
    if (contract.override?.(recorded, res)) return;
    if (!authorized(req)) return answer(401, { message: "Bad credentials" });
    const route = routes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
    const match = route?.pattern.exec(url.pathname);
    if (!route || !match) {
      violations.push(`undocumented request ${req.method} ${url.pathname}`);
      return answer(422, { message: "not in the contract" });
    }
    const problems = [
      ...Object.keys(body ?? {})
        .filter((k) => route.allowed && !route.allowed.includes(k))
        .map((k) => `undocumented field ${k}`),
      ...(route.required ?? []).filter((k) => body?.[k] === undefined).map((k) => `missing ${k}`),
      ...Object.entries(route.enums ?? {})
        .filter(([k, values]) => body?.[k] !== undefined && !values.includes(body[k]))
        .map(([k]) => `${k} not one of the documented values`),
      ...(body && !route.allowed && req.method !== "GET" ? ["a body where none is documented"] : []),
    ];
    if (problems.length > 0) {
      violations.push(`${req.method} ${url.pathname}: ${problems.join(", ")}`);
      return answer(422, { message: problems.join(", ") });
    }
    const [status, json] = await route.handle(match, body ?? {}, url);
    answer(status, json);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  contract.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return contract;
}
