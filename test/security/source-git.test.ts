import { lstat, mkdir, mkdtemp, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import type { GitRepository } from "../../src/api/gitrepository.js";
import { archiveDirectory, archiveTree } from "../../src/artifacts/archive.js";
import { extractArchive } from "../../src/artifacts/extract.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import { checkout, checkoutInMemory, GitError, type GitRemote } from "../../src/sources/git.js";
import { applyToStore } from "../../src/store/objects.js";
import { hostileRepo, sourceRuntime, type TreeNode } from "./source-helpers.js";

// What a hostile Git server or repository can send: trees whose links compose outside the checkout,
// duplicate and reserved names, submodules, trees larger than any artifact should be.

const info = inject("testbed").git;
const auth = { username: info.username, password: info.password };
const remote = (url: string): GitRemote => ({ url, auth, network: { allowPrivateNetworks: true } });
let serial = 0;
const repoName = (what: string) => `hostile-${what}-${serial++}`;

/** A checkout folder inside a parent that also holds an `outside` sentinel folder. */
async function arena(): Promise<{ parent: string; dir: string; outside: string }> {
  const parent = await mkdtemp(join(tmpdir(), "sluice-hostile-git-"));
  await mkdir(join(parent, "outside"));
  return { parent, dir: join(parent, "checkout"), outside: join(parent, "outside") };
}

/** Every path under `dir` (`.git` aside) that is not a regular file or directory. */
async function nonRegular(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    if (name === ".git" || name.startsWith(".git/")) continue;
    const s = await lstat(join(dir, name));
    if (!s.isFile() && !s.isDirectory()) found.push(name);
  }
  return found;
}

async function refusedCheckout(attempt: Promise<unknown>): Promise<GitError> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitError);
  expect((error as GitError).reason).toBe("GitOperationFailed");
  return error as GitError;
}

const file = (name: string, content = name): TreeNode => ({ name, mode: "100644", content });
const link = (name: string, target: string): TreeNode => ({ name, mode: "120000", target });
const tree = (name: string, children: TreeNode[]): TreeNode => ({ name, mode: "40000", children });

describe(`hostile Git trees over smart HTTP (${info.version}): only regular files and directories are written`, () => {
  it("writes the files of a tree whose symlinks compose outside the checkout, and none of the links", async () => {
    // Arrange: up → ../../.. is lexically the root; esc → d1/d2/d3/up/.. is lexically inside yet the checkout's parent.
    const { parent, dir, outside } = await arena();
    const { url, commit } = await hostileRepo(info, repoName("chain"), [
      tree("d1", [tree("d2", [tree("d3", [link("up", "../../..")])]), file("app.yaml", "kind: ConfigMap\n")]),
      link("esc", "d1/d2/d3/up/.."),
      link("etc", "/etc"),
      link("deploy", "esc/outside"),
      { name: "run.sh", mode: "100755", content: "#!/bin/sh\n" },
      { name: "vendor", mode: "160000", commit: "1".repeat(40) },
    ]);
    // Act
    const result = await checkout(remote(url), { branch: "main" }, dir);
    const archive = await archiveDirectory(dir);
    const extracted = join(parent, "extracted");
    await extractArchive(archive.data, extracted);
    // Assess
    expect(result).toMatchObject({ revision: `main@sha1:${commit}`, commit });
    expect(await nonRegular(dir)).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual([".git", "d1", "run.sh"]);
    expect(await readFile(join(dir, "d1/app.yaml"), "utf8")).toBe("kind: ConfigMap\n");
    expect((await stat(join(dir, "run.sh"))).mode & 0o777).toBe(0o755);
    expect(await readdir(join(dir, "d1/d2/d3"))).toEqual([]);
    expect(archive.files).toBe(2);
    expect((await readdir(extracted, { recursive: true })).sort()).toEqual([
      "d1",
      "d1/app.yaml",
      "d1/d2",
      "d1/d2/d3",
      "run.sh",
    ]);
    expect(await readdir(outside)).toEqual([]);
  });

  it("writes a tree that shares its name with a symlink as a directory, never through the link", async () => {
    // Arrange: the link `x` comes first, then a tree `x` whose file a worktree checkout would write through it.
    const { dir, outside } = await arena();
    const { url } = await hostileRepo(info, repoName("link-then-tree"), [
      link("x", outside),
      tree("x", [file("pwned", "owned")]),
    ]);
    // Act
    await checkout(remote(url), { branch: "main" }, dir);
    // Assess
    expect((await lstat(join(dir, "x"))).isDirectory()).toBe(true);
    expect(await readFile(join(dir, "x/pwned"), "utf8")).toBe("owned");
    expect(await readdir(outside)).toEqual([]);
  });

  it.each<[string, TreeNode[]]>([
    ["the same file twice", [file("app.yaml", "first"), file("app.yaml", "second")]],
    ["a file and a tree of the same name", [tree("deploy", [file("a.yaml")]), file("deploy", "x")]],
    ["the same tree twice", [tree("deploy", [file("a.yaml")]), tree("deploy", [file("b.yaml")])]],
  ])("refuses %s as a duplicate name", async (_case, nodes) => {
    const { dir } = await arena();
    const { url } = await hostileRepo(info, repoName("duplicate"), nodes);
    const error = await refusedCheckout(checkout(remote(url), { branch: "main" }, dir));
    expect(error.message).toMatch(/tree entry '(app\.yaml|deploy)': duplicate name/);
  });

  it.each<[string, TreeNode[]]>([
    ["a '..' entry", [tree("..", [tree("outside", [file("pwned")])])]],
    ["a '.' entry", [tree(".", [file("pwned")])]],
    ["a '.git' tree", [tree(".git", [file("config", "[core]\n\tfsmonitor = touch pwned\n")])]],
    ["a '.GIT' tree", [tree(".GIT", [file("config", "[core]\n\tfsmonitor = touch pwned\n")])]],
    ["a name with a slash", [file("../outside/pwned")]],
    ["an empty name", [file("")]],
  ])("refuses %s and writes nothing outside the checkout or into its .git", async (_case, nodes) => {
    const { parent, dir, outside } = await arena();
    const { url } = await hostileRepo(info, repoName("invalid"), nodes);
    const error = await refusedCheckout(checkout(remote(url), { branch: "main" }, dir));
    // isomorphic-git refuses reserved names as it parses the tree (writeCommitTree checks again); an empty name breaks the pack.
    expect(error.message).toMatch(/contains unsafe character sequences|invalid name|Could not find/);
    expect(await readdir(outside)).toEqual([]);
    expect((await readdir(parent)).sort()).toEqual(["checkout", "outside"]);
    expect(await readFile(join(dir, ".git/config"), "utf8")).not.toContain("fsmonitor");
  });

  it("bounds the entries and bytes of a tree, counting a blob each time the tree uses it", async () => {
    // Arrange: 40 files, and one 4 KiB blob used by 50 names.
    const many = await hostileRepo(
      info,
      repoName("many"),
      Array.from({ length: 40 }, (_, i) => file(`f${i}.yaml`)),
    );
    const fanOut = await hostileRepo(
      info,
      repoName("fan-out"),
      Array.from({ length: 50 }, (_, i) => file(`copy-${i}`, "x".repeat(4096))),
    );
    // Act
    const tooMany = await refusedCheckout(
      checkout(remote(many.url), { branch: "main" }, (await arena()).dir, { maxFiles: 10 }),
    );
    const tooBig = await refusedCheckout(
      checkout(remote(fanOut.url), { branch: "main" }, (await arena()).dir, { maxBytes: 100_000 }),
    );
    const fits = await checkout(remote(fanOut.url), { branch: "main" }, (await arena()).dir, { maxBytes: 50 * 4096 });
    // Assess
    expect(tooMany.message).toContain("tree has more than 10 entries");
    expect(tooBig.message).toContain("tree holds more than 100000 bytes");
    expect(fits.commit).toBe(fanOut.commit);
  });

  it("turns a hostile tree into a GitRepository artifact of regular files, through a real reconcile", async () => {
    // Arrange
    const { rt } = await sourceRuntime({ allowPrivateNetworks: true });
    const { url, commit } = await hostileRepo(info, repoName("reconcile"), [
      tree("deploy", [file("app.yaml", "kind: ConfigMap\n"), link("passwd", "/etc/passwd"), link("up", "..")]),
      link("host", "/"),
    ]);
    const withCredentials = url.replace("http://", `http://${info.username}:${info.password}@`);
    const repo: GitRepository = {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "hostile", namespace: "sec", generation: 1 },
      spec: { interval: "5m", url: withCredentials, ref: { branch: "main" } },
    };
    await applyToStore(rt.store, repo);
    // Act
    await dispatch(rt, { key: "GitRepository/sec/hostile", reason: "test" });
    // Assess
    const status = (await rt.store.get({ kind: "GitRepository", namespace: "sec", name: "hostile" }))?.object
      .status as GitRepository["status"];
    expect(status?.artifact?.revision).toBe(`main@sha1:${commit}`);
    const out = join(await mkdtemp(join(tmpdir(), "sluice-hostile-artifact-")), "out");
    await extractArchive((await rt.artifacts.get(status!.artifact!.path, status!.artifact!.digest))!, out);
    expect((await readdir(out, { recursive: true })).sort()).toEqual(["deploy", "deploy/app.yaml"]);
  });
});

describe(`hostile Git trees read into memory for an artifact (${info.version}): the same checks as on disk`, () => {
  it("holds the same regular files as a checkout on disk, so the artifact is the same to the byte", async () => {
    // Arrange
    const { url } = await hostileRepo(info, repoName("memory-same"), [
      tree("d1", [tree("d2", [link("up", "../..")]), file("app.yaml", "kind: ConfigMap\n")]),
      link("etc", "/etc"),
      { name: "run.sh", mode: "100755", content: "#!/bin/sh\n" },
      { name: "vendor", mode: "160000", commit: "1".repeat(40) },
    ]);
    // Act
    const disk = (await arena()).dir;
    await checkout(remote(url), { branch: "main" }, disk);
    const inMemory = await checkoutInMemory(remote(url), { branch: "main" }, (await arena()).dir);
    // Assess
    const [fromDisk, fromMemory] = [await archiveDirectory(disk), await archiveTree(inMemory.tree)];
    expect(fromMemory.files).toBe(2);
    expect(fromMemory.digest).toBe(fromDisk.digest);
    expect((await inMemory.tree.list("")).map((e) => e.name).sort()).toEqual(["d1", "run.sh"]);
  });

  it.each<[string, TreeNode[], RegExp]>([
    ["the same tree twice", [tree("deploy", [file("a.yaml")]), tree("deploy", [file("b.yaml")])], /duplicate name/],
    ["a file and a tree of the same name", [tree("deploy", [file("a.yaml")]), file("deploy", "x")], /duplicate name/],
    ["a symlink then a file of the same name", [link("x", "/etc"), file("x"), file("x")], /duplicate name/],
    ["a '..' entry", [tree("..", [file("pwned")])], /contains unsafe character sequences|invalid name/],
    ["a '.git' tree", [tree(".git", [file("config")])], /contains unsafe character sequences|invalid name/],
  ])("refuses %s", async (_case, nodes, message) => {
    const { url } = await hostileRepo(info, repoName("memory-refused"), nodes);
    const error = await refusedCheckout(checkoutInMemory(remote(url), { branch: "main" }, (await arena()).dir));
    expect(error.message).toMatch(message);
  });

  it("bounds a deeply nested tree by its entries, and reads one within the bound", async () => {
    // Arrange: 150 folders, each inside the previous one, and a file at the bottom.
    let nested: TreeNode = file("deep.yaml", "kind: ConfigMap\n");
    for (let i = 0; i < 150; i++) nested = tree(`d${i}`, [nested]);
    const { url } = await hostileRepo(info, repoName("memory-deep"), [nested]);
    // Act
    const refused = await refusedCheckout(
      checkoutInMemory(remote(url), { branch: "main" }, (await arena()).dir, { maxFiles: 100 }),
    );
    const read = await checkoutInMemory(remote(url), { branch: "main" }, (await arena()).dir);
    // Assess
    expect(refused.message).toContain("tree has more than 100 entries");
    const path = Array.from({ length: 150 }, (_, i) => `d${149 - i}`).join("/");
    expect((await read.tree.read(`${path}/deep.yaml`))?.toString()).toBe("kind: ConfigMap\n");
  });

  it("bounds the bytes held in memory, counting a blob each time the tree uses it", async () => {
    const { url } = await hostileRepo(
      info,
      repoName("memory-fan-out"),
      Array.from({ length: 50 }, (_, i) => file(`copy-${i}`, "x".repeat(4096))),
    );
    const error = await refusedCheckout(
      checkoutInMemory(remote(url), { branch: "main" }, (await arena()).dir, { maxBytes: 100_000 }),
    );
    expect(error.message).toContain("tree holds more than 100000 bytes");
  });
});
