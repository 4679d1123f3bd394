import { execFile } from "node:child_process";
import fs from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { request } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import git from "isomorphic-git";
import { describe, expect, inject, it } from "vitest";
import {
  checkout,
  checkoutInMemory,
  maskUrl,
  resolveRemoteRef,
  type GitAuth,
  type GitRemote,
} from "../../src/sources/git.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { gitFailure } from "./git-failure.js";

const run = promisify(execFile);
const info = inject("testbed").git;
const auth = { username: info.username, password: info.password };
const workdir = () => mkdtemp(join(tmpdir(), "sluice-git-source-"));
/** The test bed's Git server is on loopback, so these tests allow private networks. */
const remote = (url: string, credentials: GitAuth = auth): GitRemote => ({
  url,
  auth: credentials,
  network: { allowPrivateNetworks: true },
});
const bareGit = (repo: string, ...args: string[]) =>
  run("git", ["-C", join(info.root, `${repo}.git`), "-c", "user.name=t", "-c", "user.email=t@sluice.invalid", ...args]);

/** A throwaway self-signed certificate for 127.0.0.1. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const dir = await workdir();
  const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  return { cert: await readFile(cert, "utf8"), key: await readFile(key, "utf8") };
}

/** An https:// front for the test bed's plain-HTTP Git server. */
async function tlsProxy(tls: { cert: string; key: string }): Promise<{ baseUrl: string; close: () => void }> {
  const server = createServer(tls, (req, res) => {
    const upstream = request(`${info.baseUrl}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `https://127.0.0.1:${port}`, close: () => server.close().closeAllConnections() };
}

describe(`Git source over smart HTTP (${info.version})`, () => {
  it("resolves a branch from the ref advertisement alone", async () => {
    // Prepare
    const url = await createRepo(info, "src-branch");
    const sha = await pushTree(info, "src-branch", { files: { "a.txt": "a" } });
    // Act
    const resolved = await resolveRemoteRef(remote(url), { branch: "main" });
    // Assess
    expect(resolved).toEqual({ revision: `main@sha1:${sha}`, commit: sha, refName: "refs/heads/main" });
  });

  it("checks out a branch at depth 1 and reports Flux's revision and the commit message", async () => {
    // Prepare
    const url = await createRepo(info, "src-checkout");
    await pushTree(info, "src-checkout", { files: { "old.txt": "1" } });
    await pushTree(info, "src-checkout", { files: { "old.txt": "2" } });
    const sha = await pushTree(
      info,
      "src-checkout",
      { files: { "app/config.yaml": "replicas: 3\n" } },
      { message: "scale up" },
    );
    const dir = await workdir();
    // Act
    const result = await checkout(remote(url), { branch: "main" }, dir);
    // Assess
    expect(result).toEqual({
      revision: `main@sha1:${sha}`,
      commit: sha,
      refName: "refs/heads/main",
      message: "scale up\n",
    });
    expect(await readFile(join(dir, "app/config.yaml"), "utf8")).toBe("replicas: 3\n");
    expect(fs.existsSync(join(dir, "old.txt"))).toBe(false);
    expect(await git.log({ fs, dir, ref: sha, depth: 10 })).toHaveLength(1);
    expect((await readFile(join(dir, ".git/shallow"), "utf8")).trim()).toBe(sha);
  });

  it("defaults to the master branch when no ref is given", async () => {
    // Prepare
    const url = await createRepo(info, "src-default");
    await pushTree(info, "src-default", { files: { "main.txt": "main" } });
    const sha = await pushTree(info, "src-default", { files: { "master.txt": "master" } }, { branch: "master" });
    // Act
    const resolved = await resolveRemoteRef(remote(url), undefined);
    const result = await checkout(remote(url), {}, await workdir());
    // Assess
    expect(resolved?.revision).toBe(`master@sha1:${sha}`);
    expect(result.revision).toBe(`master@sha1:${sha}`);
  });

  it("resolves and checks out a lightweight tag", async () => {
    // Prepare
    const url = await createRepo(info, "src-tag");
    const sha = await pushTree(info, "src-tag", { files: { "v.txt": "1" } }, { tag: "v1.0.0" });
    await pushTree(info, "src-tag", { files: { "v.txt": "2" } });
    const dir = await workdir();
    // Act
    const resolved = await resolveRemoteRef(remote(url), { tag: "v1.0.0" });
    const result = await checkout(remote(url), { tag: "v1.0.0" }, dir);
    // Assess
    expect(resolved).toEqual({ revision: `v1.0.0@sha1:${sha}`, commit: sha, refName: "refs/tags/v1.0.0" });
    expect(result.revision).toBe(`v1.0.0@sha1:${sha}`);
    expect(await readFile(join(dir, "v.txt"), "utf8")).toBe("1");
  });

  it("resolves an annotated tag to the commit it points to", async () => {
    // Prepare
    const url = await createRepo(info, "src-annotated");
    const sha = await pushTree(info, "src-annotated", { files: { "v.txt": "annotated" } });
    await bareGit("src-annotated", "tag", "-a", "v2.0.0", "-m", "release", sha);
    const tagObject = (await bareGit("src-annotated", "rev-parse", "v2.0.0")).stdout.trim();
    const dir = await workdir();
    // Act
    const resolved = await resolveRemoteRef(remote(url), { tag: "v2.0.0" });
    const result = await checkout(remote(url), { tag: "v2.0.0" }, dir);
    // Assess
    expect(tagObject).not.toBe(sha);
    expect(resolved?.commit).toBe(sha);
    expect(result).toMatchObject({ revision: `v2.0.0@sha1:${sha}`, commit: sha });
    expect(await readFile(join(dir, "v.txt"), "utf8")).toBe("annotated");
  });

  it("picks the highest tag in a semver range, annotated or not", async () => {
    // Prepare
    const url = await createRepo(info, "src-semver");
    await pushTree(info, "src-semver", { files: { "v.txt": "1.0.0" } }, { tag: "v1.0.0" });
    const best = await pushTree(info, "src-semver", { files: { "v.txt": "1.4.0" } });
    await bareGit("src-semver", "tag", "-a", "v1.4.0", "-m", "release", best);
    await pushTree(info, "src-semver", { files: { "v.txt": "1.5.0-rc.1" } }, { tag: "v1.5.0-rc.1" });
    await pushTree(info, "src-semver", { files: { "v.txt": "2.0.0" } }, { tag: "v2.0.0" });
    await pushTree(info, "src-semver", { files: { "v.txt": "junk" } }, { tag: "latest" });
    const dir = await workdir();
    // Act
    const caret = await resolveRemoteRef(remote(url), { semver: "^1.0.0" });
    const commaRange = await resolveRemoteRef(remote(url), { semver: ">=1.0.0, <2.0.0" });
    const result = await checkout(remote(url), { semver: "1.x" }, dir);
    // Assess
    expect(caret).toEqual({ revision: `v1.4.0@sha1:${best}`, commit: best, refName: "refs/tags/v1.4.0" });
    expect(commaRange?.commit).toBe(best);
    expect(result.revision).toBe(`v1.4.0@sha1:${best}`);
    expect(await readFile(join(dir, "v.txt"), "utf8")).toBe("1.4.0");
    expect(await resolveRemoteRef(remote(url), { semver: "^3.0.0" })).toBeUndefined();
    expect((await gitFailure(checkout(remote(url), { semver: "^3.0.0" }, await workdir()))).message).toMatch(
      /no match found for semver: \^3\.0\.0/,
    );
  });

  it("follows Flux's documented precedence: semver over tag over branch", async () => {
    // Prepare
    const url = await createRepo(info, "src-precedence");
    await pushTree(info, "src-precedence", { files: { "v.txt": "1" } }, { tag: "v1.0.0" });
    const semverSha = await pushTree(info, "src-precedence", { files: { "v.txt": "2" } }, { tag: "v2.0.0" });
    await pushTree(info, "src-precedence", { files: { "v.txt": "3" } });
    // Act
    const all = await resolveRemoteRef(remote(url), { branch: "main", tag: "v1.0.0", semver: "^2.0.0" });
    // Assess
    expect(all?.revision).toBe(`v2.0.0@sha1:${semverSha}`);
  });

  it("checks out a ref by full name, labelling the revision with that name", async () => {
    // Prepare
    const url = await createRepo(info, "src-name");
    const main = await pushTree(info, "src-name", { files: { "from.txt": "main" } });
    const pull = await pushTree(info, "src-name", { files: { "from.txt": "pull" } }, { branch: "topic" });
    await bareGit("src-name", "update-ref", "refs/pull/1/head", pull);
    await bareGit("src-name", "branch", "-D", "topic");
    const dir = await workdir();
    // Act
    const byHead = await resolveRemoteRef(remote(url), { name: "refs/heads/main", branch: "ignored" });
    const result = await checkout(remote(url), { name: "refs/pull/1/head" }, dir);
    // Assess
    expect(byHead).toEqual({ revision: `refs/heads/main@sha1:${main}`, commit: main, refName: "refs/heads/main" });
    expect(result).toMatchObject({ revision: `refs/pull/1/head@sha1:${pull}`, commit: pull });
    expect(await readFile(join(dir, "from.txt"), "utf8")).toBe("pull");
    expect(await resolveRemoteRef(remote(url), { name: "refs/pull/2/head" })).toBeUndefined();
  });

  it("pins a commit, on a branch or alone, full or short", async () => {
    // Prepare
    const url = await createRepo(info, "src-commit");
    const pinnedSha = await pushTree(info, "src-commit", { files: { "n.txt": "pinned" } });
    await pushTree(info, "src-commit", { files: { "n.txt": "later" } });
    const [onBranch, alone, short] = [await workdir(), await workdir(), await workdir()];
    // Act
    const resolved = await resolveRemoteRef(remote(url), { branch: "main", commit: pinnedSha });
    const branchResult = await checkout(remote(url), { branch: "main", commit: pinnedSha }, onBranch);
    const aloneResult = await checkout(remote(url), { commit: pinnedSha }, alone);
    const shortResult = await checkout(remote(url), { commit: pinnedSha.slice(0, 8) }, short);
    // Assess
    expect(resolved).toEqual({ revision: `main@sha1:${pinnedSha}`, commit: pinnedSha, refName: "refs/heads/main" });
    expect(branchResult).toMatchObject({ revision: `main@sha1:${pinnedSha}`, commit: pinnedSha });
    expect(aloneResult).toMatchObject({ revision: `sha1:${pinnedSha}`, commit: pinnedSha });
    expect(shortResult.commit).toBe(pinnedSha);
    expect(await readFile(join(onBranch, "n.txt"), "utf8")).toBe("pinned");
    expect(await resolveRemoteRef(remote(url), { commit: pinnedSha })).toEqual({
      revision: `sha1:${pinnedSha}`,
      commit: pinnedSha,
    });
    expect(await resolveRemoteRef(remote(url), { commit: pinnedSha.slice(0, 8) })).toBeUndefined();
    const missing = await gitFailure(
      checkout(remote(url), { branch: "main", commit: "0".repeat(40) }, await workdir()),
    );
    expect(missing.message).toMatch(/commit '0{40}' not found in branch 'main'/);
  });

  it("reads every kind of ref into memory as checkout writes it: revision, commit, message, files", async () => {
    // Arrange: two commits on main (so a shallow fetch has something to leave out), a lightweight tag, an
    // annotated tag, a semver pair and a ref outside refs/heads.
    const url = await createRepo(info, "src-memory");
    const old = await pushTree(info, "src-memory", { files: { "a.txt": "old", "gone.txt": "x" } });
    const sha = await pushTree(
      info,
      "src-memory",
      { files: { "a.txt": "new", "deploy/app.yaml": "kind: ConfigMap\n" } },
      { message: "second\n\nbody" },
    );
    await bareGit("src-memory", "tag", "light", old);
    await bareGit("src-memory", "tag", "-a", "v1.2.0", "-m", "release", sha);
    await bareGit("src-memory", "tag", "v1.1.0", old);
    await bareGit("src-memory", "update-ref", "refs/pull/7/head", old);
    const refs = [
      { branch: "main" },
      { tag: "light" },
      { tag: "v1.2.0" },
      { semver: ">=1.0.0" },
      { name: "refs/pull/7/head" },
    ];
    for (const ref of refs) {
      // Act
      const dir = await workdir();
      const written = await checkout(remote(url), ref, dir);
      const read = await checkoutInMemory(remote(url), ref, await workdir());
      // Assess
      const { tree, ...resolved } = read;
      expect(resolved, JSON.stringify(ref)).toEqual(written);
      const files = written.commit === sha ? ["a.txt", "deploy/app.yaml"] : ["a.txt", "gone.txt"];
      for (const file of files)
        expect((await tree.read(file))?.toString()).toBe(await readFile(join(dir, file), "utf8"));
      expect((await tree.list("")).map((e) => e.name).sort()).toEqual(
        written.commit === sha ? ["a.txt", "deploy"] : files,
      );
    }
    const missing = await gitFailure(checkoutInMemory(remote(url), { branch: "nope" }, await workdir()));
    const wrong = await gitFailure(
      checkoutInMemory(remote(url, { username: "sluice", password: "wrong" }), {}, await workdir()),
    );
    expect(missing.message).toContain("refs/heads/nope");
    expect(wrong.reason).toBe("AuthenticationFailed");
    expect(wrong.message).not.toContain("wrong");
  });

  it("reports a missing branch as a failed Git operation", async () => {
    // Prepare
    const url = await createRepo(info, "src-missing");
    await pushTree(info, "src-missing", { files: { "a.txt": "a" } });
    // Act
    const resolved = await resolveRemoteRef(remote(url), { branch: "nope" });
    const error = await gitFailure(checkout(remote(url), { branch: "nope" }, await workdir()));
    // Assess
    expect(resolved).toBeUndefined();
    expect(error.reason).toBe("GitOperationFailed");
    expect(error.message).toContain("refs/heads/nope");
  });

  it("fails authentication with a wrong password or token, never echoing it", async () => {
    // Prepare
    const url = await createRepo(info, "src-auth");
    await pushTree(info, "src-auth", { files: { "a.txt": "a" } });
    const wrong = { username: info.username, password: "Wr0ng-S3cret/p@ss" };
    const inUrl = url.replace("http://", `http://${info.username}:${encodeURIComponent(wrong.password)}@`);
    // Act
    const errors = [
      await gitFailure(resolveRemoteRef(remote(url, wrong), { branch: "main" })),
      await gitFailure(checkout(remote(url, wrong), { branch: "main" }, await workdir())),
      await gitFailure(resolveRemoteRef(remote(inUrl, {}), { branch: "main" })),
      await gitFailure(resolveRemoteRef(remote(url, { bearerToken: "t0ken-value" }), { branch: "main" })),
    ];
    // Assess
    for (const error of errors) {
      expect(error.reason).toBe("AuthenticationFailed");
      expect(error.message).toMatch(/401/);
      expect(error.message).not.toMatch(/Wr0ng|S3cret|t0ken-value/);
    }
  });

  it("trusts the secret's CA for an https:// server with a self-signed certificate", async () => {
    // Prepare
    const url = await createRepo(info, "src-tls");
    const sha = await pushTree(info, "src-tls", { files: { "a.txt": "tls" } });
    const tls = await selfSigned();
    const proxy = await tlsProxy(tls);
    const httpsUrl = url.replace(info.baseUrl, proxy.baseUrl);
    const dir = await workdir();
    try {
      // Act
      const untrusted = await gitFailure(resolveRemoteRef(remote(httpsUrl), { branch: "main" }));
      const trusted = await resolveRemoteRef(remote(httpsUrl, { ...auth, caPem: tls.cert }), { branch: "main" });
      const result = await checkout(remote(httpsUrl, { ...auth, caPem: tls.cert }), { branch: "main" }, dir);
      // Assess
      expect(untrusted).toMatchObject({
        reason: "GitOperationFailed",
        message: expect.stringMatching(/self[- ]signed/i),
      });
      expect(trusted?.commit).toBe(sha);
      expect(result.commit).toBe(sha);
      expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("tls");
    } finally {
      proxy.close();
    }
  });

  it("refuses scp-like `host:path` URLs, which Flux's API does not admit either (ssh:// is served: git-ssh.test.ts)", async () => {
    // Act
    const error = await gitFailure(resolveRemoteRef(remote("git@github.com:org/repo.git", {}), { branch: "main" }));
    // Assert
    expect(error.reason).toBe("GitOperationFailed");
    expect(error.message).toBe(
      "unsupported Git URL git@github.com:org/repo.git: must start with https://, http:// or ssh://",
    );
  });

  it("masks the userinfo of URLs", () => {
    expect(maskUrl("https://user:pass@host.example/org/repo.git")).toBe("https://host.example/org/repo.git");
    expect(maskUrl("https://user:p@ss@host.example/x")).toBe("https://host.example/x");
    expect(maskUrl("http://token@host.example")).toBe("http://host.example");
    expect(maskUrl("https://host.example/x")).toBe("https://host.example/x");
  });

  it.each([
    ["https://gitlab.example/g/r.git?private_token=glpat-SECRET", "https://gitlab.example/g/r.git?private_token=***"],
    [
      "https://h.example/r.git?ref=main&access_token=SECRET&x=1",
      "https://h.example/r.git?ref=main&access_token=***&x=1",
    ],
    ["https://h.example/r?token=SECRET#frag", "https://h.example/r?token=***#frag"],
    ["https://h.example/r?Password=SECRET;key=SECRET", "https://h.example/r?Password=***;key=***"],
    [
      "https://b.s3.example/a?X-Amz-Credential=AKIA%2FSECRET&X-Amz-Signature=SECRET",
      "https://b.s3.example/a?X-Amz-Credential=***&X-Amz-Signature=***",
    ],
    [
      "https://b.s3.example/a?X-Amz-Security-Token=SECRET&signature=SECRET",
      "https://b.s3.example/a?X-Amz-Security-Token=***&signature=***",
    ],
    [
      "https://acct.blob.example/c/b?sv=2020&sig=SECRET&se=2030",
      "https://acct.blob.example/c/b?sv=2020&sig=***&se=2030",
    ],
    [
      "https://h.example/r?client_secret=SECRET&api_key=SECRET&acc%65ss_token=SECRET",
      "https://h.example/r?client_secret=***&api_key=***&acc%65ss_token=***",
    ],
    [
      "failed to list refs of https://u:SECRET@h.example/r?id_token=SECRET/info/refs?service=x: 404",
      "failed to list refs of https://h.example/r?id_token=*** 404",
    ],
  ])("masks credential query parameters: %s", (url, masked) => {
    expect(maskUrl(url)).toBe(masked);
    expect(maskUrl(url)).not.toContain("SECRET");
  });

  it("keeps query parameters that carry no credential", () => {
    expect(maskUrl("https://h.example/r.git?ref=main&depth=1&monkey=ok")).toBe(
      "https://h.example/r.git?ref=main&depth=1&monkey=ok",
    );
  });
});
