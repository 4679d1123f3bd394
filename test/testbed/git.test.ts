import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { describe, expect, inject, it } from "vitest";
import { createRepo, pushTree } from "../env/git-server.js";

const run = promisify(execFile);
const info = inject("testbed").git;
const auth = { username: info.username, password: info.password };

describe(`Git smart-HTTP server (${info.version} http-backend)`, () => {
  it("serves a clone with basic auth to isomorphic-git and accepts its push", async () => {
    // Prepare
    const url = await createRepo(info, "iso");
    const first = await pushTree(info, "iso", { files: { "app/config.yaml": "replicas: 1\n" } });
    const dir = await mkdtemp(join(tmpdir(), "iso-"));
    // Act
    await git.clone({
      fs,
      http,
      dir,
      url,
      ref: "main",
      singleBranch: true,
      depth: 1,
      noTags: true,
      onAuth: () => auth,
    });
    await writeFile(join(dir, "app/config.yaml"), "replicas: 2\n");
    await git.add({ fs, dir, filepath: "app/config.yaml" });
    const second = await git.commit({ fs, dir, message: "scale", author: { name: "t", email: "t@sluice.invalid" } });
    await git.push({ fs, http, dir, remote: "origin", ref: "main", onAuth: () => auth });
    // Assess
    expect(await git.resolveRef({ fs, dir, ref: "HEAD" })).toBe(second);
    const refs = await git.listServerRefs({ http, url, prefix: "refs/heads/", onAuth: () => auth });
    expect(refs).toEqual([{ ref: "refs/heads/main", oid: second }]);
    expect(second).not.toBe(first);
  });

  it("serves native git clone and push over HTTP", async () => {
    // Prepare
    await createRepo(info, "native");
    await pushTree(info, "native", { files: { "README.md": "one\n" } });
    const dir = await mkdtemp(join(tmpdir(), "native-"));
    const authed = `http://${info.username}:${info.password}@${info.baseUrl.slice("http://".length)}/native.git`;
    // Act
    await run("git", ["clone", "--quiet", "--depth", "1", authed, dir]);
    await writeFile(join(dir, "README.md"), "two\n");
    await run("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@sluice.invalid", "commit", "-qam", "two"]);
    await run("git", ["-C", dir, "push", "--quiet", "origin", "HEAD:main"]);
    const again = await mkdtemp(join(tmpdir(), "native-again-"));
    await run("git", ["clone", "--quiet", authed, again]);
    // Assess
    expect(await readFile(join(again, "README.md"), "utf8")).toBe("two\n");
  });

  it("refuses a wrong password with 401", async () => {
    // Prepare
    const url = await createRepo(info, "guarded");
    // Act
    const attempt = git
      .listServerRefs({ http, url, onAuth: () => ({ username: info.username, password: "wrong" }) })
      .catch((e: unknown) => e);
    const raw = await fetch(`${url}/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Basic ${Buffer.from(`${info.username}:wrong`).toString("base64")}` },
    });
    // Assess
    expect(String(await attempt)).toMatch(/401/);
    expect(raw.status).toBe(401);
  });

  it("keeps history linear across pushTree calls and tags on request", async () => {
    // Prepare
    await createRepo(info, "history");
    const one = await pushTree(info, "history", { files: { "a.txt": "1" } });
    // Act
    const two = await pushTree(info, "history", { files: { "a.txt": "2" } }, { tag: "v1.0.0" });
    // Assess
    const bare = join(info.root, "history.git");
    expect((await run("git", ["-C", bare, "rev-parse", `${two}^`])).stdout.trim()).toBe(one);
    expect((await run("git", ["-C", bare, "rev-parse", "v1.0.0"])).stdout.trim()).toBe(two);
  });
});
