import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { checkout, GitError, maskUrl, resolveRemoteRef } from "../../src/sources/git.js";
import { createRepo, pushTree } from "../env/git-server.js";

const info = inject("testbed").git;
const auth = { username: info.username, password: info.password };
const scratch = () => mkdtemp(join(tmpdir(), "sluice-checkout-"));
let serial = 0;

async function repoWithHistory(): Promise<{ url: string; name: string; first: string; second: string }> {
  const name = `src-${serial++}-${Date.now()}`;
  const url = await createRepo(info, name);
  const first = await pushTree(info, name, { files: { "app/config.yaml": "replicas: 1\n" } }, { tag: "v1.0.0", message: "first" });
  await pushTree(info, name, { files: { "app/config.yaml": "replicas: 2\n" } }, { tag: "v1.1.0" });
  const second = await pushTree(info, name, { files: { "app/config.yaml": "replicas: 3\n" } }, { tag: "v2.0.0", message: "third\n\nbody" });
  return { url, name, first, second };
}

describe(`Git sources over smart HTTP with isomorphic-git (${info.version} server)`, () => {
  it("resolves a branch from the ref advertisement alone", async () => {
    const repo = await repoWithHistory();
    await expect(resolveRemoteRef(repo.url, { branch: "main" }, auth)).resolves.toEqual({ revision: `main@sha1:${repo.second}`, commit: repo.second, refName: "refs/heads/main" });
  });

  it("checks out a branch at depth 1 with Flux's revision format and the commit message", async () => {
    // Arrange
    const repo = await repoWithHistory();
    const dir = await scratch();
    // Act
    const result = await checkout(repo.url, { branch: "main" }, auth, dir);
    // Assess
    expect(result).toMatchObject({ revision: `main@sha1:${repo.second}`, message: "third\n\nbody" });
    expect(await readFile(join(dir, "app/config.yaml"), "utf8")).toBe("replicas: 3\n");
    expect((await readFile(join(dir, ".git/shallow"), "utf8")).trim()).toBe(repo.second);
  });

  it.each([
    ["tag", { tag: "v1.0.0" }, "v1.0.0", "first", "replicas: 1\n"],
    ["semver range (highest match)", { semver: ">=1.0.0 <2.0.0" }, "v1.1.0", "", "replicas: 2\n"],
    ["name", { name: "refs/heads/main" }, "refs/heads/main", "second", "replicas: 3\n"],
  ])("checks out a %s", async (_case, ref, label, _which, content) => {
    const repo = await repoWithHistory();
    const dir = await scratch();
    const result = await checkout(repo.url, ref, auth, dir);
    expect(result.revision).toMatch(new RegExp(`^${label.replaceAll(".", "\\.")}@sha1:[0-9a-f]{40}$`));
    expect(await readFile(join(dir, "app/config.yaml"), "utf8")).toBe(content);
  });

  it("checks out a pinned commit on a branch: commit wins over branch", async () => {
    const repo = await repoWithHistory();
    const dir = await scratch();
    const result = await checkout(repo.url, { branch: "main", commit: repo.first }, auth, dir);
    expect(result.revision).toBe(`main@sha1:${repo.first}`);
    expect(await readFile(join(dir, "app/config.yaml"), "utf8")).toBe("replicas: 1\n");
  });

  it("fails with AuthenticationFailed on a wrong password, and never shows the password", async () => {
    const repo = await repoWithHistory();
    const secret = "not-the-password-123";
    const failure = await resolveRemoteRef(repo.url.replace("http://", `http://${info.username}:${secret}@`), { branch: "main" }, {}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(GitError);
    expect(failure).toMatchObject({ reason: "AuthenticationFailed" });
    expect((failure as Error).message).not.toContain(secret);
    expect((failure as Error).message).toContain(repo.url);
  });

  it("names a missing branch or an unmatched semver range", async () => {
    const repo = await repoWithHistory();
    await expect(resolveRemoteRef(repo.url, { branch: "nope" }, auth)).rejects.toThrow("unable to resolve branch 'nope'");
    await expect(resolveRemoteRef(repo.url, { semver: ">=9.0.0" }, auth)).rejects.toThrow("no match found for semver: >=9.0.0");
  });

  it("refuses SSH with a clear message, and masks userinfo in URLs", async () => {
    await expect(resolveRemoteRef("ssh://git@github.com/org/repo", { branch: "main" }, {})).rejects.toThrow("SSH is not supported yet; use an https:// URL");
    expect(maskUrl("https://user:s3cret@example.com/org/repo.git")).toBe("https://example.com/org/repo.git");
  });
});
