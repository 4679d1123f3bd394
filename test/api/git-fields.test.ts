import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { checkout, GitError, resolveRemoteRef, type GitRemote } from "../../src/sources/git.js";
import { createRepo, pushTree } from "../env/git-server.js";

// GitRepository fields as source-controller v1.9.4 reads them, against the test bed's Git server:
// `ref.commit` in either case, and `timeout` bounding each Git operation.

const info = inject("testbed").git;
/** The test bed's Git server is on loopback, so these tests allow private networks. */
const remote = (url: string, timeoutMs?: number): GitRemote => ({
  url,
  auth: { username: info.username, password: info.password },
  network: { allowPrivateNetworks: true },
  ...(timeoutMs !== undefined && { timeoutMs }),
});

describe("GitRepository ref.commit and timeout, against a real Git server", () => {
  it("checks out a commit written in upper case, and names it in lower case as Flux does", async () => {
    // Prepare
    const url = await createRepo(info, "upper-case-commit");
    const sha = await pushTree(info, "upper-case-commit", { files: { "a.txt": "one" } });
    const ref = { branch: "main", commit: sha.toUpperCase() };
    // Act
    const resolved = await resolveRemoteRef(remote(url), ref);
    const checkedOut = await checkout(remote(url, 60_000), ref, await mkdtemp(join(tmpdir(), "sluice-upper-")));
    // Assess
    expect(resolved?.revision).toBe(`main@sha1:${sha}`);
    expect(checkedOut.revision).toBe(`main@sha1:${sha}`);
  });

  it("fails with GitOperationFailed once spec.timeout has passed, on a server that never answers", async () => {
    // Prepare: a server that takes the request and says nothing (its own idle timeout is a minute)
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/org/app.git`;
    try {
      // Act
      const started = Date.now();
      const error = await resolveRemoteRef(remote(url, 500), { branch: "main" }).catch((e: unknown) => e);
      // Assess
      expect(error).toBeInstanceOf(GitError);
      expect(error).toMatchObject({
        reason: "GitOperationFailed",
        message: `failed to list refs of ${url}: timed out after 500ms (spec.timeout)`,
      });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
