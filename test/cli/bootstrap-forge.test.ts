import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { webhookPath } from "../../src/notify/receiver.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { checkout } from "../../src/sources/git.js";
import { FileStore } from "../../src/store/fs-store.js";
import { adminCluster } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { freshNamespace } from "../env/kube-client.js";
import { githubContract, gitlabContract, type Contract } from "./forge-contract.js";

// `sluice bootstrap github|gitlab` against loopback contract servers for the forges' REST APIs
// (forge-contract.ts: each request checked against the documented endpoint, method and body) that create real
// bare repositories on the test bed's Git server, served over its sshd too: the sync manifests are really
// committed, and really cloned over SSH with the deploy key and host key the bootstrap stored.

const execute = promisify(execFile);
const { kube, git, sshd } = inject("testbed");
/** The Git server's basic auth is the forge's token, its user the owner: the push authenticates as flux's does. */
const token = git.password;
const owner = git.username;
const gitHost = new URL(git.baseUrl).host;
let ns: { name: string; remove(): Promise<void> };
const contracts: Contract[] = [];

beforeAll(async () => {
  ns = await freshNamespace(kube, "bootstrap-forge");
});
afterAll(() => ns.remove());
afterEach(async () => {
  await Promise.all(contracts.splice(0).map((c) => c.close()));
});

async function sluice(env: Record<string, string>, ...args: string[]) {
  const stateDir = await mkdtemp(join(tmpdir(), "sluice-bootstrap-"));
  const run = (...rest: string[]) =>
    execute(
      process.execPath,
      ["bin/sluice.js", "--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name, ...args, ...rest],
      { env: { ...process.env, ...env } },
    ).then(
      (r) => ({ code: 0, output: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: e.stdout + e.stderr }),
    );
  return { run, store: new FileStore(statePaths(stateDir).store) };
}

async function secretData(name: string): Promise<Record<string, string> | undefined> {
  const cluster = await adminCluster(kube);
  const secret = await cluster.client
    .send<{ data: Record<string, string> }>({ method: "GET", path: `/api/v1/namespaces/${ns.name}/secrets/${name}` })
    .catch(() => undefined);
  return (
    secret && Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]))
  );
}

async function deleteSecrets(...names: string[]): Promise<void> {
  const cluster = await adminCluster(kube);
  for (const name of names)
    await cluster.client
      .send({ method: "DELETE", path: `/api/v1/namespaces/${ns.name}/secrets/${name}` })
      .catch(() => undefined);
}

const head = async (full: string, branch = "main") =>
  (await execute("git", ["-C", join(git.root, `${full}.git`), "rev-parse", branch])).stdout.trim();

const fresh = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;

describe("sluice bootstrap github", () => {
  it("creates the org repository, a read-only deploy key, the sync commit, the objects and the push webhook; a second run changes nothing", async () => {
    // Arrange
    await deleteSecrets("flux-system", "flux-system-webhook-token");
    const repo = fresh("fleet");
    const github = await githubContract({ git, sshd, token, user: "someone-else" });
    contracts.push(github);
    const cli = await sluice(
      { GITHUB_TOKEN: token },
      ...["bootstrap", "github", "--owner", owner, "--repository", repo, "--path", "clusters/dev"],
      ...["--hostname", gitHost, "--api-url", github.url, "--allow-insecure-http"],
      ...["--webhook-url", "https://hooks.example/hook/", "--team", "ops:push"],
    );
    // Act
    const first = await cli.run();
    expect(first.code, first.output).toBe(0);
    const commit = await head(`${owner}/${repo}`);
    const writesAfterFirst = github.writes().length;
    const secret = await secretData("flux-system");
    const second = await cli.run();
    // Assess: the documented requests, in flux's order
    expect(first.code, first.output).toBe(0);
    expect(second.code, second.output).toBe(0);
    expect(github.violations).toEqual([]);
    const title = `${ns.name}-main-flux-system-./clusters/dev`;
    const receiverToken = (await secretData("flux-system-webhook-token"))!.token!;
    const hookUrl = `https://hooks.example${webhookPath(receiverToken, "flux-system", ns.name)}`;
    expect(github.writes()).toEqual([
      { method: "POST", path: `/orgs/${owner}/repos`, body: { name: repo, private: true } },
      { method: "PUT", path: `/orgs/${owner}/teams/ops/repos/${owner}/${repo}`, body: { permission: "push" } },
      {
        method: "POST",
        path: `/repos/${owner}/${repo}/keys`,
        body: { title, key: secret!["identity.pub"], read_only: true },
      },
      {
        method: "POST",
        path: `/repos/${owner}/${repo}/hooks`,
        body: {
          name: "web",
          active: true,
          events: ["push"],
          config: { url: hookUrl, content_type: "json", secret: receiverToken, insecure_ssl: "0" },
        },
      },
    ]);
    // The Secret: a fresh ed25519 key and the SSH host's own key
    expect(secret!["identity.pub"]).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/);
    expect(secret!.identity).toContain("BEGIN PRIVATE KEY");
    const [pattern, type, key] = secret!.known_hosts!.trim().split(" ");
    expect(pattern).toBe(`[127.0.0.1]:${sshd.port}`);
    expect(sshd.hostKeys).toContain(`${type} ${key}`);
    // The objects registered, as committed
    const sshUrl = `ssh://git@127.0.0.1:${sshd.port}${join(git.root, `${owner}/${repo}.git`)}`;
    const source = await cli.store.get({ kind: "GitRepository", namespace: ns.name, name: "flux-system" });
    expect(source?.object.spec).toEqual({
      interval: "1m0s",
      ref: { branch: "main" },
      secretRef: { name: "flux-system" },
      url: sshUrl,
    });
    const root = await cli.store.get({ kind: "Kustomization", namespace: ns.name, name: "flux-system" });
    expect(root?.object.spec).toMatchObject({ path: "./clusters/dev", prune: true, interval: "10m0s" });
    const receiver = await cli.store.get({ kind: "Receiver", namespace: ns.name, name: "flux-system" });
    expect(receiver?.object.spec).toEqual({
      events: ["ping", "push"],
      resources: [{ kind: "GitRepository", name: "flux-system" }],
      secretRef: { name: "flux-system-webhook-token" },
      type: "github",
    });
    expect(github.hooks).toEqual([{ id: expect.any(Number), url: hookUrl, secret: receiverToken, events: ["push"] }]);
    // The commit, cloned over SSH with what the Secret holds (the deploy key is what the forge authorised)
    const dir = await mkdtemp(join(tmpdir(), "sluice-clone-"));
    try {
      const cloned = await checkout(
        {
          url: sshUrl,
          auth: { identity: secret!.identity, knownHosts: secret!.known_hosts },
          network: { allowPrivateNetworks: true },
        },
        { branch: "main" },
        dir,
      );
      expect(cloned.commit).toBe(commit);
      const sync = parseAllDocuments(await readFile(join(dir, "clusters/dev", ns.name, "gotk-sync.yaml"), "utf8")).map(
        (d) => d.toJS(),
      );
      expect(sync.map((o: { kind: string }) => o.kind)).toEqual(["GitRepository", "Kustomization"]);
      expect(sync[0]).toEqual(
        source?.object && {
          apiVersion: source.object.apiVersion,
          kind: "GitRepository",
          metadata: { name: "flux-system", namespace: ns.name },
          spec: source.object.spec,
        },
      );
      expect(await readFile(join(dir, "clusters/dev", ns.name, "kustomization.yaml"), "utf8")).toContain(
        "- gotk-sync.yaml",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Idempotent: no write at the forge, the same commit, the same Secret
    expect(github.writes()).toHaveLength(writesAfterFirst);
    expect(await head(`${owner}/${repo}`)).toBe(commit);
    expect(await secretData("flux-system")).toEqual(secret);
    expect(second.output).toContain("sync manifests are up to date");
    // The token never shows
    expect(first.output + second.output).not.toContain(token);
  }, 120_000);

  it("--personal --token-auth on an existing repository with unrelated history: commits on top of it, never forced", async () => {
    // Arrange
    await deleteSecrets("flux-system");
    const repo = fresh("personal");
    const full = `${owner}/${repo}`;
    await createRepo(git, full);
    const before = await pushTree(git, full, {
      files: { "README.md": "ours\n", "clusters/dev/app.yaml": "kind: ConfigMap\n" },
    });
    const github = await githubContract({ git, sshd, token, user: owner, existing: [full] });
    contracts.push(github);
    const cli = await sluice(
      { GITHUB_TOKEN: token },
      ...[
        "bootstrap",
        "github",
        "--owner",
        owner,
        "--repository",
        repo,
        "--personal",
        "--token-auth",
        "--path",
        "clusters/dev",
      ],
      ...["--hostname", gitHost, "--api-url", github.url, "--allow-insecure-http"],
    );
    // Act
    const first = await cli.run();
    const after = await head(full);
    const second = await cli.run();
    const teamWithPersonal = await cli.run("--team", "ops");
    // Assess
    expect(first.code, first.output).toBe(0);
    expect(github.violations).toEqual([]);
    expect(github.writes()).toEqual([]);
    expect((await execute("git", ["-C", join(git.root, `${full}.git`), "rev-parse", `${after}^`])).stdout.trim()).toBe(
      before,
    );
    const files = (await execute("git", ["-C", join(git.root, `${full}.git`), "ls-tree", "-r", "--name-only", after]))
      .stdout;
    expect(files.split("\n").filter(Boolean).sort()).toEqual(
      [
        "README.md",
        "clusters/dev/app.yaml",
        `clusters/dev/${ns.name}/gotk-sync.yaml`,
        `clusters/dev/${ns.name}/kustomization.yaml`,
      ].sort(),
    );
    expect(await secretData("flux-system")).toEqual({ username: "git", password: token });
    const source = await cli.store.get({ kind: "GitRepository", namespace: ns.name, name: "flux-system" });
    expect(source?.object.spec).toMatchObject({
      url: `${git.baseUrl}/${full}.git`,
      secretRef: { name: "flux-system" },
    });
    expect(second.code).toBe(0);
    expect(await head(full)).toBe(after);
    expect(teamWithPersonal).toMatchObject({ code: 1, output: expect.stringContaining("--team") });
    expect(first.output + second.output).not.toContain(token);
  }, 120_000);

  it("refuses a hostile API: clone URLs of another scheme or host, a huge answer, the token echoed back", async () => {
    // Arrange
    const repo = fresh("hostile");
    const github = await githubContract({ git, sshd, token, user: owner, existing: [`${owner}/${repo}`] });
    contracts.push(github);
    const cli = await sluice(
      { GITHUB_TOKEN: token },
      ...["bootstrap", "github", "--owner", owner, "--repository", repo],
      ...["--hostname", gitHost, "--api-url", github.url, "--allow-insecure-http"],
    );
    const sshOk = `ssh://git@127.0.0.1:${sshd.port}/x.git`;
    const answers: [string, unknown][] = [
      ["file://", { clone_url: "file:///etc/passwd", ssh_url: sshOk }],
      ["ext::", { clone_url: `${git.baseUrl}/${owner}/${repo}.git`, ssh_url: "ext::sh -c touch% /tmp/pwned" }],
      ["another host", { clone_url: `http://127.0.0.2:1/${owner}/${repo}.git`, ssh_url: sshOk }],
      ["credentials in it", { clone_url: `http://x:y@${gitHost}/${owner}/${repo}.git`, ssh_url: sshOk }],
      ["huge", { clone_url: "x".repeat(3 * 1024 * 1024) }],
    ];
    // Act
    const results: { code: number; output: string }[] = [];
    for (const [, answer] of answers) {
      github.override = (request, res) => {
        if (request.path !== `/repos/${owner}/${repo}`) return false;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
        return true;
      };
      results.push(await cli.run());
    }
    github.override = (_request, res) => {
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: `bad token ${token}` }));
      return true;
    };
    const echoed = await cli.run();
    const traversal = await cli.run("--repository", "../../admin");
    // Assess
    expect(results.map((r) => r.code)).toEqual([1, 1, 1, 1, 1]);
    expect(results[0]!.output).toContain("not http(s)://");
    expect(results[1]!.output).toContain("not ssh://");
    expect(results[2]!.output).toContain(`not on ${gitHost}`);
    expect(results[3]!.output).toContain("credentials");
    expect(results[4]!.output).toMatch(/exceeds \d+ bytes/);
    expect(echoed).toMatchObject({ code: 1, output: expect.stringContaining("bad token ***") });
    expect(traversal).toMatchObject({ code: 1, output: expect.stringContaining("--repository '../../admin'") });
    expect(github.writes()).toEqual([]);
    expect(await cli.store.list({ kind: "GitRepository" })).toEqual([]);
    expect(results.map((r) => r.output).join("") + echoed.output).not.toContain(token);
  }, 120_000);
});

describe("sluice bootstrap gitlab", () => {
  it("creates the group project, shares it with a group, adds a deploy key and the push webhook; a second run changes nothing", async () => {
    // Arrange
    await deleteSecrets("flux-system", "flux-system-webhook-token");
    const repo = fresh("glfleet");
    const gitlab = await gitlabContract({
      git,
      sshd,
      token,
      user: "someone-else",
      groups: { [owner]: 42, [`${owner}/ops`]: 43 },
    });
    contracts.push(gitlab);
    const cli = await sluice(
      { GITLAB_TOKEN: token },
      ...["bootstrap", "gitlab", "--owner", owner, "--repository", repo, "--team", `${owner}/ops`],
      ...["--hostname", gitHost, "--api-url", `${gitlab.url}/api/v4`, "--allow-insecure-http"],
      ...["--ssh-hostname", `127.0.0.1:${sshd.port}`],
      ...["--webhook-url", "https://hooks.example"],
    );
    // Act
    const first = await cli.run();
    const commit = await head(`${owner}/${repo}`);
    const writes = gitlab.writes().length;
    const second = await cli.run();
    // Assess
    expect(first.code, first.output).toBe(0);
    expect(second.code, second.output).toBe(0);
    expect(gitlab.violations).toEqual([]);
    const secret = (await secretData("flux-system"))!;
    const receiverToken = (await secretData("flux-system-webhook-token"))!.token!;
    const project = encodeURIComponent(`${owner}/${repo}`);
    const hookUrl = `https://hooks.example${webhookPath(receiverToken, "flux-system", ns.name)}`;
    expect(gitlab.writes()).toEqual([
      {
        method: "POST",
        path: "/api/v4/projects",
        body: { name: repo, path: repo, namespace_id: 42, visibility: "private" },
      },
      { method: "POST", path: `/api/v4/projects/${project}/share`, body: { group_id: 43, group_access: 40 } },
      {
        method: "POST",
        path: `/api/v4/projects/${project}/deploy_keys`,
        body: { title: `${ns.name}-main-flux-system-./`, key: secret["identity.pub"], can_push: false },
      },
      {
        method: "POST",
        path: `/api/v4/projects/${project}/hooks`,
        body: { url: hookUrl, token: receiverToken, push_events: true, enable_ssl_verification: true },
      },
    ]);
    const receiver = await cli.store.get({ kind: "Receiver", namespace: ns.name, name: "flux-system" });
    expect(receiver?.object.spec).toMatchObject({ type: "gitlab", events: ["Push Hook", "Tag Push Hook"] });
    // GitLab's scp-like SSH URL made ssh://, its host replaced by --ssh-hostname, whose key was scanned
    const source = await cli.store.get({ kind: "GitRepository", namespace: ns.name, name: "flux-system" });
    expect((source?.object.spec as { url: string }).url).toBe(
      `ssh://git@127.0.0.1:${sshd.port}${join(git.root, `${owner}/${repo}.git`)}`,
    );
    expect(secret.known_hosts).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} `));
    const files = (
      await execute("git", ["-C", join(git.root, `${owner}/${repo}.git`), "ls-tree", "-r", "--name-only", commit])
    ).stdout;
    expect(files.split("\n").filter(Boolean).sort()).toEqual([
      `${ns.name}/gotk-sync.yaml`,
      `${ns.name}/kustomization.yaml`,
    ]);
    expect(gitlab.writes()).toHaveLength(writes);
    expect(await head(`${owner}/${repo}`)).toBe(commit);
    expect(first.output + second.output).not.toContain(token);

    // Act: both Secrets lost — a new deploy key replaces the old one, the webhook takes the new token
    await deleteSecrets("flux-system", "flux-system-webhook-token");
    const third = await cli.run();
    // Assess
    expect(third.code, third.output).toBe(0);
    const newKey = (await secretData("flux-system"))!["identity.pub"]!;
    const newToken = (await secretData("flux-system-webhook-token"))!.token!;
    expect(newKey).not.toBe(secret["identity.pub"]);
    const newHookUrl = `https://hooks.example${webhookPath(newToken, "flux-system", ns.name)}`;
    expect(gitlab.writes().slice(writes)).toEqual([
      { method: "DELETE", path: expect.stringMatching(new RegExp(`^/api/v4/projects/${project}/deploy_keys/\\d+$`)) },
      {
        method: "POST",
        path: `/api/v4/projects/${project}/deploy_keys`,
        body: { title: `${ns.name}-main-flux-system-./`, key: newKey, can_push: false },
      },
      {
        method: "POST",
        path: `/api/v4/projects/${project}/hooks`,
        body: { url: newHookUrl, token: newToken, push_events: true, enable_ssl_verification: true },
      },
    ]);
    expect(gitlab.keys.map((k) => k.key)).toEqual([newKey]);
    // The old webhook's path is dead now; Sluice cannot tell it from another Receiver's, so it says so
    expect(third.output).toContain("1 other webhook(s) to https://hooks.example/hook/");
    expect(gitlab.violations).toEqual([]);
    expect(await head(`${owner}/${repo}`)).toBe(commit);
  }, 120_000);
});
