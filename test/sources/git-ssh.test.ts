import { createHmac, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { access, chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { join } from "node:path";
import git from "isomorphic-git";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import ssh2, { type ServerChannel } from "ssh2";
import { describe, expect, inject, it } from "vitest";
import {
  checkout,
  commitFiles,
  pushCommit,
  resolveRemoteRef,
  type GitAuth,
  type GitRemote,
} from "../../src/sources/git.js";
import { pushTree } from "../env/git-server.js";
import { authorize, createSshRepo, sshUrl } from "../env/sshd.js";
import { gitFailure } from "./git-failure.js";
import { sshKeyPair } from "../env/ssh-keys.js";

const run = promisify(execFile);
const sshd = inject("testbed").sshd;
const workdir = () => mkdtemp(join(tmpdir(), "sluice-git-ssh-"));
const auth: GitAuth = { identity: sshd.identity, knownHosts: sshd.knownHosts };
/** The test bed's sshd is on loopback, so these tests allow private networks. */
const remote = (url: string, credentials: GitAuth = auth, extra: Partial<GitRemote> = {}): GitRemote => ({
  url,
  auth: credentials,
  network: { allowPrivateNetworks: true },
  ...extra,
});
const repos = { root: sshd.root } as Parameters<typeof pushTree>[0];
let serial = 0;
async function repoWith(files: Record<string, string>): Promise<{ url: string; sha: string; name: string }> {
  const name = `ssh-${++serial}-${randomBytes(3).toString("hex")}`;
  const url = await createSshRepo(sshd, name);
  const sha = await pushTree(repos, name, { files });
  return { url, sha, name };
}

/** A known_hosts line for the test bed's server holding `key` (`<type> <base64>`). */
const knownHostsLine = (key: string, host = `[127.0.0.1]:${sshd.port}`) => `${host} ${key}`;
const otherKey = () => sshKeyPair("ed25519").public.split(" ").slice(0, 2).join(" ");
const serverKey = (type: string) => sshd.hostKeys.find((k) => k.startsWith(type))!;

describe(`Git source over SSH (${sshd.version})`, () => {
  it("checks out a branch at depth 1 with a known host key, and resolves it from the advertisement alone", async () => {
    // Prepare
    const { url, sha } = await repoWith({ "deploy/app.yaml": "kind: ConfigMap\n", "README.md": "hi\n" });
    const dir = await workdir();
    // Act
    const resolved = await resolveRemoteRef(remote(url), { branch: "main" });
    const checkedOut = await checkout(remote(url), { branch: "main" }, dir);
    // Assert
    expect(resolved).toEqual({ revision: `main@sha1:${sha}`, commit: sha, refName: "refs/heads/main" });
    expect(checkedOut).toMatchObject({ revision: `main@sha1:${sha}`, commit: sha });
    expect(await readFile(join(dir, "deploy/app.yaml"), "utf8")).toBe("kind: ConfigMap\n");
  });

  it("fetches only the tip of a long history: the stateful server's shallow answer arrives before the pack", async () => {
    // Prepare: three commits; depth 1 must leave the first two out.
    const { name, url } = await repoWith({ "a.txt": "1" });
    const second = await pushTree(repos, name, { files: { "a.txt": "2" } });
    const third = await pushTree(repos, name, { files: { "a.txt": "3" } });
    const dir = await workdir();
    // Act
    await checkout(remote(url), { branch: "main" }, dir);
    // Assert
    expect(await readFile(join(dir, ".git", "shallow"), "utf8")).toBe(`${third}\n`);
    const { commit } = await git.readCommit({ fs, dir, oid: third });
    expect(commit.parent).toEqual([second]);
    await expect(git.readCommit({ fs, dir, oid: second })).rejects.toThrow(/Could not find/);
    expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("3");
  });

  it("checks out a pinned commit of a branch (full history) and the highest semver tag", async () => {
    // Prepare
    const { name, url, sha: first } = await repoWith({ "v.txt": "1" });
    await pushTree(repos, name, { files: { "v.txt": "1.2" } }, { tag: "v1.2.0" });
    await pushTree(repos, name, { files: { "v.txt": "2" } }, { tag: "v2.0.0" });
    const [pinnedDir, tagDir] = [await workdir(), await workdir()];
    // Act
    const pinned = await checkout(remote(url), { branch: "main", commit: first }, pinnedDir);
    const tagged = await checkout(remote(url), { semver: ">=1.0.0 <2.0.0" }, tagDir);
    // Assert
    expect(pinned.revision).toBe(`main@sha1:${first}`);
    expect(await readFile(join(pinnedDir, "v.txt"), "utf8")).toBe("1");
    expect(tagged.revision).toMatch(/^v1\.2\.0@sha1:/);
    expect(await readFile(join(tagDir, "v.txt"), "utf8")).toBe("1.2");
  });

  it("refuses a server whose host key differs from known_hosts' (Flux's GitOperationFailed: key mismatch)", async () => {
    // Prepare: the right host, another ed25519 key.
    const { url } = await repoWith({ "a.txt": "a" });
    const wrong = { ...auth, knownHosts: knownHostsLine(otherKey()) };
    // Act
    const error = await gitFailure(resolveRemoteRef(remote(url, wrong), { branch: "main" }));
    const onCheckout = await gitFailure(checkout(remote(url, wrong), { branch: "main" }, await workdir()));
    // Assert
    expect(error.reason).toBe("GitOperationFailed");
    expect(error.message).toContain("ssh: handshake failed: knownhosts: key mismatch");
    expect(onCheckout.message).toContain("knownhosts: key mismatch");
  });

  it("refuses a host known_hosts does not list, one listed for another port, and a revoked key", async () => {
    // Prepare
    const { url } = await repoWith({ "a.txt": "a" });
    const key = serverKey("ssh-ed25519");
    const cases = {
      otherHost: knownHostsLine(key, `[localhost]:${sshd.port}`),
      otherPort: knownHostsLine(key, `[127.0.0.1]:${sshd.port + 1}`),
      // Without a port, a pattern means port 22.
      noPort: knownHostsLine(key, "127.0.0.1"),
      revoked: `@revoked * ${key}\n${knownHostsLine(key)}`,
    };
    // Act
    const messages = Object.fromEntries(
      await Promise.all(
        Object.entries(cases).map(async ([name, knownHosts]) => {
          const error = await gitFailure(resolveRemoteRef(remote(url, { ...auth, knownHosts }), { branch: "main" }));
          return [name, error.message.replace(/^.*handshake failed: /, "")];
        }),
      ),
    );
    // Assert
    expect(messages).toEqual({
      otherHost: "knownhosts: key is unknown",
      otherPort: "knownhosts: key is unknown",
      noPort: "knownhosts: key is unknown",
      revoked: "knownhosts: key is revoked",
    });
  });

  it("accepts each of the server's key types, a hashed host, wildcards, and refuses a negated match", async () => {
    // Prepare
    const { url, sha } = await repoWith({ "a.txt": "a" });
    const salt = randomBytes(20);
    const hmac = createHmac("sha1", salt).update(`[127.0.0.1]:${sshd.port}`).digest("base64");
    const accepted = [
      ...sshd.hostKeys.map((key) => knownHostsLine(key)),
      `|1|${salt.toString("base64")}|${hmac} ${serverKey("ecdsa-sha2-nistp256")}`,
      `# a comment\n\n[127.0.0.?]:${sshd.port},other.example ${serverKey("ssh-rsa")}`,
      `[127.*]:${sshd.port} ${serverKey("ssh-ed25519")}`,
    ];
    const negated = `[127.0.0.*]:${sshd.port},![127.0.0.1]:${sshd.port} ${serverKey("ssh-ed25519")}`;
    // Act
    const revisions = await Promise.all(
      accepted.map(
        async (knownHosts) =>
          (await resolveRemoteRef(remote(url, { ...auth, knownHosts }), { branch: "main" }))?.commit,
      ),
    );
    const refused = await gitFailure(
      resolveRemoteRef(remote(url, { ...auth, knownHosts: negated }), { branch: "main" }),
    );
    // Assert
    expect(revisions).toEqual(accepted.map(() => sha));
    expect(refused.message).toContain("knownhosts: key is unknown");
  });

  it("a known_hosts Flux cannot parse fails before any connection, naming the problem", async () => {
    // Prepare
    const { url } = await repoWith({ "a.txt": "a" });
    const bad = { ...auth, knownHosts: `[127.0.0.1 ${serverKey("ssh-ed25519")}` };
    // Act
    const error = await gitFailure(resolveRemoteRef(remote(url, bad), { branch: "main" }));
    // Assert
    expect(error.reason).toBe("GitOperationFailed");
    expect(error.message).toContain("unable to construct auth method with options: knownhosts: address [127.0.0.1");
  });

  it("without known_hosts or identity, refuses before connecting (Flux's AuthenticationFailed messages)", async () => {
    // Prepare
    const { url } = await repoWith({ "a.txt": "a" });
    // Act
    const noKnownHosts = await gitFailure(
      resolveRemoteRef(remote(url, { identity: sshd.identity }), { branch: "main" }),
    );
    const noIdentity = await gitFailure(
      checkout(remote(url, { knownHosts: sshd.knownHosts }), undefined, await workdir()),
    );
    // Assert
    expect(noKnownHosts).toMatchObject({
      reason: "AuthenticationFailed",
      message: "invalid 'ssh' auth option: 'known_hosts' is required",
    });
    expect(noIdentity).toMatchObject({
      reason: "AuthenticationFailed",
      message: "invalid 'ssh' auth option: 'identity' is required",
    });
  });

  it("an identity the server does not know fails as AuthenticationFailed", async () => {
    // Prepare
    const { url } = await repoWith({ "a.txt": "a" });
    const stranger = { ...auth, identity: sshKeyPair("ed25519").private };
    // Act
    const error = await gitFailure(resolveRemoteRef(remote(url, stranger), { branch: "main" }));
    // Assert
    expect(error.reason).toBe("AuthenticationFailed");
    expect(error.message).toContain("ssh: unable to authenticate");
  });

  it("logs in with the key formats Flux reads: PKCS#8 as `flux create secret git` writes (RSA, ECDSA, Ed25519), PKCS#1, an encrypted OpenSSH key", async () => {
    // Prepare
    const { url, sha } = await repoWith({ "a.txt": "a" });
    const pem = (type: "rsa" | "ec" | "ed25519", format: "pkcs8" | "pkcs1", options = {}) =>
      generateKeyPairSync(type as "ed25519", options)
        .privateKey.export({ type: format, format: "pem" })
        .toString();
    const keys = [
      pem("rsa", "pkcs8", { modulusLength: 2048 }),
      pem("ec", "pkcs8", { namedCurve: "P-384" }),
      pem("ed25519", "pkcs8"),
      pem("rsa", "pkcs1", { modulusLength: 2048 }),
    ];
    const identities: GitAuth[] = [];
    for (const key of keys) {
      await authorize(sshd, sshPublicLine(key));
      identities.push({ ...auth, identity: key });
    }
    const passphrase = `pass-${randomBytes(4).toString("hex")}`;
    const encrypted = sshKeyPair("ed25519", { passphrase, cipher: "aes256-ctr", rounds: 2 });
    await authorize(sshd, encrypted.public);
    identities.push({ ...auth, identity: encrypted.private, password: passphrase });
    // Act
    const commits = [];
    for (const credentials of identities)
      commits.push((await resolveRemoteRef(remote(url, credentials), { branch: "main" }))?.commit);
    const wrongPassphrase = await gitFailure(
      resolveRemoteRef(remote(url, { ...auth, identity: encrypted.private, password: `${passphrase}x` }), {
        branch: "main",
      }),
    );
    // Assert
    expect(commits).toEqual(identities.map(() => sha));
    expect(wrongPassphrase.message).toContain("x509: decryption password incorrect");
    expect(wrongPassphrase.message).not.toContain(passphrase);
  });

  it("a repository path is one shell word on the server: quotes in it neither break nor inject", async () => {
    // Prepare
    const name = `it's-${randomBytes(3).toString("hex")}`;
    const url = await createSshRepo(sshd, name);
    const sha = await pushTree(repos, name, { files: { "a.txt": "a" } });
    const marker = join(sshd.root, `pwned-${randomBytes(3).toString("hex")}`);
    const injected = `${sshUrl(sshd, "missing").replace(/\.git$/, "")}'; touch ${marker}; echo '.git`;
    // Act
    const resolved = await resolveRemoteRef(remote(url), { branch: "main" });
    const error = await gitFailure(resolveRemoteRef(remote(injected), { branch: "main" }));
    // Assert
    expect(resolved?.commit).toBe(sha);
    expect(error.message).toContain("does not appear to be a git repository");
    await expect(access(marker)).rejects.toThrow();
  });

  it("a missing repository says what the server said", async () => {
    // Act
    const error = await gitFailure(checkout(remote(sshUrl(sshd, "no-such-repo")), undefined, await workdir()));
    // Assert
    expect(error.reason).toBe("GitOperationFailed");
    expect(error.message).toMatch(/git-upload-pack exited with code 128: fatal: '.*no-such-repo\.git' does not appear/);
  });

  it("refuses a loopback server when private networks are not allowed, before any SSH traffic", async () => {
    // Prepare
    const { url } = await repoWith({ "a.txt": "a" });
    // Act
    const error = await gitFailure(
      resolveRemoteRef(remote(url, auth, { network: { allowPrivateNetworks: false } }), { branch: "main" }),
    );
    // Assert
    expect(error.message).toContain("private address 127.0.0.1 (loopback) refused");
  });

  it("pushes a commit over SSH (git-receive-pack) with push options, as image automation does", async () => {
    // Prepare: the repository takes push options, its pre-receive hook records them
    const { url, name, sha } = await repoWith({ "app.yaml": "image: app:1.0\n", "other.txt": "kept\n" });
    const bare = join(sshd.root, `${name}.git`);
    await run("git", ["-C", bare, "config", "receive.advertisePushOptions", "true"]);
    const hook = join(bare, "hooks/pre-receive");
    await writeFile(
      hook,
      '#!/bin/sh\necho "$GIT_PUSH_OPTION_COUNT $GIT_PUSH_OPTION_0 $GIT_PUSH_OPTION_1" > "$GIT_DIR/options"\n',
    );
    await chmod(hook, 0o755);
    const dir = await workdir();
    await checkout(remote(url), { branch: "main" }, dir);
    const author = { name: "Sluice", email: "sluice@example.invalid" };
    const files = new Map([["app.yaml", "image: app:1.1\n"]]);
    const commit = await commitFiles({ dir, parent: sha, files, author, message: "Update app", when: new Date() });
    // Act
    await pushCommit(remote(url), dir, commit, "refs/heads/main", ["ci.skip=", "topic=images"]);
    // Assert
    expect(await readFile(join(bare, "options"), "utf8")).toBe("2 ci.skip= topic=images\n");
    const show = (spec: string) => run("git", ["-C", bare, "show", spec]).then((r) => r.stdout);
    expect((await run("git", ["-C", bare, "rev-parse", "main"])).stdout.trim()).toBe(commit);
    expect(await show("main:app.yaml")).toBe("image: app:1.1\n");
    expect(await show("main:other.txt")).toBe("kept\n");
  });

  it("a pack larger than the checkout's byte bound is refused", async () => {
    // Prepare: 2 MiB that does not compress.
    const { url } = await repoWith({ "blob.bin": randomBytes(2 * 1024 * 1024).toString("base64") });
    // Act
    const error = await gitFailure(
      checkout(remote(url), { branch: "main" }, await workdir(), { maxBytes: 1024 * 1024 }),
    );
    // Assert
    expect(error.message).toContain("response exceeds 1048576 bytes");
  });
});

/**
 * An SSH server that takes any client key and answers every exec request with `behave`: what a hostile or
 * broken Git host can do, which a real sshd serving git-upload-pack never would.
 */
async function hostileServer(behave: (channel: ServerChannel, exec: number) => void) {
  const hostKey = sshKeyPair("ed25519");
  let execs = 0;
  let disconnected = 0;
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on("authentication", (context) => context.accept());
    client.on("session", (accept) => accept().on("exec", (acceptExec) => behave(acceptExec(), execs++)));
    client.on("close", () => disconnected++);
    client.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ssh://git@127.0.0.1:${port}/repo.git`,
    auth: {
      identity: sshd.identity,
      knownHosts: `[127.0.0.1]:${port} ${hostKey.public.split(" ").slice(0, 2).join(" ")}`,
    },
    disconnected: () => disconnected,
    close: () => server.close(),
  };
}

/** Writes `chunk` again and again, as fast as the client reads, until the channel closes. */
function flood(channel: ServerChannel, chunk: Buffer): void {
  let open = true;
  channel.on("close", () => (open = false));
  const pump = () => {
    while (open && channel.write(chunk));
    if (open) channel.once("drain", pump);
  };
  pump();
}

const pkt = (data: Buffer | string) =>
  Buffer.concat([Buffer.from((Buffer.byteLength(data) + 4).toString(16).padStart(4, "0")), Buffer.from(data)]);

/** The authorized_keys line of a private key (PEM), built from its JWK (RFC 4253, RFC 5656, RFC 8709 blobs). */
function sshPublicLine(privateKeyPem: string): string {
  const jwk = createPublicKey(privateKeyPem).export({ format: "jwk" });
  const bytes = (b64url: string | undefined) => Buffer.from(b64url ?? "", "base64url");
  const string = (data: Buffer | string) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(Buffer.byteLength(data));
    return Buffer.concat([length, Buffer.from(data)]);
  };
  const mpint = (data: Buffer) => string((data[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), data]) : data);
  let type: string;
  let fields: Buffer[];
  if (jwk.kty === "RSA") [type, fields] = ["ssh-rsa", [mpint(bytes(jwk.e)), mpint(bytes(jwk.n))]];
  else if (jwk.kty === "EC") {
    const curve = `nistp${jwk.crv?.slice(2)}`;
    type = `ecdsa-sha2-${curve}`;
    fields = [string(curve), string(Buffer.concat([Buffer.from([4]), bytes(jwk.x), bytes(jwk.y)]))];
  } else [type, fields] = ["ssh-ed25519", [string(bytes(jwk.x))]];
  return `${type} ${Buffer.concat([string(type), ...fields]).toString("base64")}`;
}

describe("Git over SSH against a hostile server", () => {
  const limits = { maxBytes: 1024 * 1024 };
  const ref = (n: number) => pkt(`${"1".repeat(40)} refs/heads/branch-${n}-${"x".repeat(200)}\n`);

  it("a ref advertisement that never ends is cut at the byte bound", async () => {
    // Prepare
    const server = await hostileServer((channel) =>
      flood(channel, Buffer.concat(Array.from({ length: 64 }, (_, i) => ref(i)))),
    );
    // Act
    const error = await gitFailure(
      checkout(remote(server.url, server.auth), { branch: "main" }, await workdir(), limits),
    );
    // Assert
    expect(error.message).toContain("response exceeds 1048576 bytes");
    await until(() => server.disconnected() === 1);
    server.close();
  });

  it("a pack that never ends is cut at the byte bound, after a well-formed advertisement", async () => {
    // Prepare: one branch, then on the fetch a NAK and side-band data without end.
    const sha = "2".repeat(40);
    const band = pkt(Buffer.concat([Buffer.from([1]), randomBytes(65_000)]));
    const server = await hostileServer((channel, exec) => {
      const head = pkt(`${sha} HEAD\0side-band-64k shallow symref=HEAD:refs/heads/main\n`);
      channel.write(Buffer.concat([head, pkt(`${sha} refs/heads/main\n`), Buffer.from("0000")]));
      if (exec === 0) return channel.on("data", () => channel.exit(0)).on("finish", () => channel.end());
      channel.once("data", () => {
        channel.write(pkt("NAK\n"));
        flood(channel, band);
      });
    });
    // Act
    const error = await gitFailure(
      checkout(remote(server.url, server.auth), { branch: "main" }, await workdir(), limits),
    );
    // Assert
    expect(error.message).toContain("response exceeds 1048576 bytes");
    server.close();
  });

  it("a server that goes silent is left at spec.timeout, and the connection is closed", async () => {
    // Prepare: exec accepted, nothing ever written.
    const server = await hostileServer(() => {});
    // Act
    const error = await gitFailure(
      resolveRemoteRef(remote(server.url, server.auth, { timeoutMs: 1_500 }), { branch: "main" }),
    );
    // Assert
    expect(error.message).toContain("timed out after 1.5s (spec.timeout)");
    await until(() => server.disconnected() === 1);
    server.close();
  });
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
