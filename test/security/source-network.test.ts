import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { GitRepository } from "../../src/api/gitrepository.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import { checkout, GitError, resolveRemoteRef, type GitRemote } from "../../src/sources/git.js";
import { addressRefusal } from "../../src/sources/network-guard.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { front, sourceRuntime } from "./source-helpers.js";

// SSRF: a GitRepository URL (or a redirect from its server) aimed at the metadata service, loopback or
// private addresses, spelled every way Node accepts. The test bed's Git server is on 127.0.0.1.

const info = inject("testbed").git;
const auth = { username: info.username, password: info.password };
const remote = (url: string, allowPrivateNetworks: boolean): GitRemote => ({
  url,
  auth,
  network: { allowPrivateNetworks },
});
const PRIVATE_HINT = "refused: set allowPrivateNetworks / --no-private-networks to change";

let gitFront: Awaited<ReturnType<typeof front>>;
let redirector: Awaited<ReturnType<typeof front>>;
let repoPath: string;
let head: string;

beforeAll(async () => {
  await createRepo(info, "ssrf-target");
  head = await pushTree(info, "ssrf-target", { files: { "deploy/app.yaml": "kind: ConfigMap\n" } });
  repoPath = "/ssrf-target.git";
  gitFront = await front(info.baseUrl);
  // /moved/… → same origin (credentials kept); /metadata/… and /hex/… → the metadata service.
  redirector = await front(info.baseUrl, (req, res) => {
    const url = req.url ?? "/";
    const to = url.startsWith("/moved/")
      ? url.slice("/moved".length)
      : url.startsWith("/metadata/")
        ? "http://169.254.169.254/latest/meta-data/"
        : url.startsWith("/hex/")
          ? "http://0xa9fea9fe/latest/meta-data/"
          : url.startsWith("/loopback-name/")
            ? `http://localhost:${gitFront.port}${url.slice("/loopback-name".length)}`
            : undefined;
    if (!to) return false;
    res.writeHead(307, { location: to }).end(); // 307 keeps the method and body of git-upload-pack's POST
    return true;
  });
});

afterAll(() => {
  gitFront?.close();
  redirector?.close();
});

async function refused(attempt: Promise<unknown>): Promise<GitError> {
  const started = Date.now();
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitError);
  expect((error as GitError).reason).toBe("GitOperationFailed");
  // Refused before connecting: no connect timeout towards an address that does not answer.
  expect(Date.now() - started).toBeLessThan(5_000);
  return error as GitError;
}

describe(`source network policy over smart HTTP (${info.version})`, () => {
  it.each([
    ["an IPv4 literal", (port: number) => `http://127.0.0.1:${port}`],
    ["a name resolving to loopback", (port: number) => `http://localhost:${port}`],
    ["a decimal IPv4", (port: number) => `http://2130706433:${port}`],
    ["a hex IPv4", (port: number) => `http://0x7f000001:${port}`],
    ["a hex-dotted IPv4", (port: number) => `http://0x7f.1:${port}`],
    ["a short IPv4", (port: number) => `http://127.1:${port}`],
    ["an octal IPv4", (port: number) => `http://017700000001:${port}`],
  ])(
    "refuses loopback spelled as %s without a request, and fetches it when private networks are allowed",
    async (_case, spell) => {
      // Arrange
      const url = `${spell(gitFront.port)}${repoPath}`;
      const before = gitFront.requests();
      // Act
      const error = await refused(resolveRemoteRef(remote(url, false), { branch: "main" }));
      const requestsWhenRefused = gitFront.requests() - before;
      const allowed = await resolveRemoteRef(remote(url, true), { branch: "main" });
      // Assess
      expect(error.message).toMatch(new RegExp(`^failed to list refs of http://\\S+${repoPath}: `));
      expect(error.message).toContain(`private address 127.0.0.1 (loopback) ${PRIVATE_HINT}`);
      expect(requestsWhenRefused).toBe(0);
      expect(allowed?.commit).toBe(head);
    },
  );

  it.each([
    ["IPv6 loopback", "http://[::1]:9/r.git", "private address ::1 (loopback)"],
    ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:9/r.git", "private address ::ffff:127.0.0.1 (loopback)"],
    ["IPv4-mapped loopback in hex", "http://[::ffff:7f00:1]:9/r.git", "private address ::ffff:7f00:1 (loopback)"],
    ["RFC 1918", "http://10.1.2.3:9/r.git", "private address 10.1.2.3"],
    ["RFC 1918 (172.16/12)", "http://172.31.255.1:9/r.git", "private address 172.31.255.1"],
    ["RFC 1918 (192.168/16)", "http://192.168.0.1:9/r.git", "private address 192.168.0.1"],
    ["CGNAT", "http://100.64.0.1:9/r.git", "private address 100.64.0.1 (CGNAT)"],
    ["unique local IPv6", "http://[fd12:3456::1]:9/r.git", "private address fd12:3456::1"],
  ])("refuses %s when private networks are not allowed", async (_case, url, message) => {
    const error = await refused(
      checkout(remote(url, false), { branch: "main" }, await mkdtemp(join(tmpdir(), "sluice-ssrf-"))),
    );
    expect(error.message).toContain(`${message} ${PRIVATE_HINT}`);
  });

  it.each([
    ["the metadata address", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local/metadata"],
    ["the metadata address in decimal", "http://2852039166/latest/", "169.254.169.254 is link-local/metadata"],
    ["the metadata address in hex", "http://0xa9fea9fe/latest/", "169.254.169.254 is link-local/metadata"],
    [
      "the metadata address IPv4-mapped",
      "http://[::ffff:169.254.169.254]/latest/",
      "::ffff:169.254.169.254 is link-local/metadata",
    ],
    [
      "the metadata address through NAT64",
      "http://[64:ff9b::a9fe:a9fe]/latest/",
      "64:ff9b::a9fe:a9fe is link-local/metadata",
    ],
    ["EC2's IPv6 metadata address", "http://[fd00:ec2::254]/latest/", "fd00:ec2::254 is link-local/metadata"],
    ["Alibaba's metadata address", "http://100.100.100.200/latest/", "100.100.100.200 is link-local/metadata"],
    ["an IPv6 link-local address", "http://[fe80::1]/r.git", "fe80::1 is link-local/metadata"],
    ["the unspecified address", `http://0.0.0.0:9/r.git`, "0.0.0.0 is unspecified"],
    ["the IPv6 unspecified address", "http://[::]:9/r.git", ":: is unspecified"],
    ["a multicast address", "http://224.0.0.1/r.git", "224.0.0.1 is multicast"],
    ["the broadcast address", "http://255.255.255.255/r.git", "255.255.255.255 is reserved"],
  ])("never fetches %s, even with private networks allowed", async (_case, url, message) => {
    const error = await refused(resolveRemoteRef(remote(url, true), { branch: "main" }));
    expect(error.message).toContain(`address ${message} and never fetched`);
  });

  it("refuses a redirect to the metadata service, by literal or by hex spelling", async () => {
    for (const prefix of ["/metadata", "/hex"]) {
      const error = await refused(
        resolveRemoteRef(remote(`${redirector.baseUrl}${prefix}${repoPath}`, true), { branch: "main" }),
      );
      expect(error.message).toContain("address 169.254.169.254 is link-local/metadata and never fetched");
    }
  });

  it("checks every redirect hop against the policy, and still follows the allowed ones", async () => {
    // Act: a same-origin redirect to the repository; a redirect to a loopback name.
    const dir = await mkdtemp(join(tmpdir(), "sluice-ssrf-"));
    const followed = await checkout(remote(`${redirector.baseUrl}/moved${repoPath}`, true), { branch: "main" }, dir);
    const hops = await resolveRemoteRef(remote(`${redirector.baseUrl}/loopback-name${repoPath}`, true), {
      branch: "main",
    }).catch((e: unknown) => e);
    // Assess
    expect(followed.commit).toBe(head);
    expect(await readFile(join(dir, "deploy/app.yaml"), "utf8")).toBe("kind: ConfigMap\n");
    // Cross-origin: the credentials stay behind (isomorphic-git), so the server asks for them; the hop itself was allowed.
    expect(hops).toMatchObject({ reason: "AuthenticationFailed" });
  });

  it("classifies addresses the way DNS and sockets report them", () => {
    const closed = { allowPrivateNetworks: false };
    expect(addressRefusal("93.184.215.14", closed)).toBeUndefined();
    expect(addressRefusal("2606:4700::1111", closed)).toBeUndefined();
    expect(addressRefusal("::ffff:8.8.8.8", closed)).toBeUndefined();
    expect(addressRefusal("172.32.0.1", closed)).toBeUndefined();
    expect(addressRefusal("100.128.0.1", closed)).toBeUndefined();
    expect(addressRefusal("fe80::1%eth0", { allowPrivateNetworks: true })).toBe(
      "address fe80::1%eth0 is link-local/metadata and never fetched",
    );
    expect(addressRefusal("::ffff:10.0.0.1", closed)).toContain("private address ::ffff:10.0.0.1 refused");
    expect(addressRefusal("::ffff:10.0.0.1", { allowPrivateNetworks: true })).toBeUndefined();
    expect(addressRefusal("2002:a9fe:a9fe::1", { allowPrivateNetworks: true })).toContain("link-local/metadata"); // 6to4
    expect(addressRefusal("example.com", closed)).toBe("address example.com is not an IP address");
  });
});

describe("GitRepository reconcile: network policy and credentials in URLs", () => {
  const repo = (name: string, url: string): GitRepository => ({
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: "sec", generation: 1 },
    spec: { interval: "5m", url, ref: { branch: "main" } },
  });

  it("fails with GitOperationFailed when the URL is on a private network and the setting refuses it", async () => {
    // Arrange: the AWS default.
    const { rt } = await sourceRuntime({ allowPrivateNetworks: false });
    const withCredentials = `${info.baseUrl.replace("http://", `http://${info.username}:${info.password}@`)}${repoPath}`;
    await applyToStore(rt.store, repo("private", withCredentials));
    // Act
    await dispatch(rt, { key: "GitRepository/sec/private", reason: "test" });
    // Assess
    const status = (await rt.store.get({ kind: "GitRepository", namespace: "sec", name: "private" }))?.object
      .status as GitRepository["status"];
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "GitOperationFailed" });
    expect(ready?.message).toBe(
      `failed to list refs of ${info.baseUrl}${repoPath}: private address 127.0.0.1 (loopback) ${PRIVATE_HINT}`,
    );
    expect(status?.artifact).toBeUndefined();
  });

  it("keeps tokens in the URL's query and userinfo out of status, events and logs when the server fails", async () => {
    // Arrange: a repository that does not exist, asked for with a token in the query and a password in the userinfo.
    const { rt, logs, eventsFile } = await sourceRuntime({ allowPrivateNetworks: true });
    const token = "glpat-Q5ecretT0ken";
    const url = `${info.baseUrl.replace("http://", `http://${info.username}:${info.password}@`)}/missing.git?private_token=${token}&ref=x`;
    await applyToStore(rt.store, repo("leaky", url));
    // Act
    await dispatch(rt, { key: "GitRepository/sec/leaky", reason: "test" });
    // Assess
    const status = (await rt.store.get({ kind: "GitRepository", namespace: "sec", name: "leaky" }))?.object
      .status as GitRepository["status"];
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    const events = await readFile(eventsFile, "utf8");
    expect(ready).toMatchObject({ status: "False", reason: "GitOperationFailed" });
    expect(ready?.message).toContain(`${info.baseUrl}/missing.git?private_token=***`);
    expect(events).toContain("private_token=***");
    expect(logs.length).toBeGreaterThan(0);
    for (const text of [JSON.stringify(status), events, logs.join("")]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(info.password);
    }
  });
});
