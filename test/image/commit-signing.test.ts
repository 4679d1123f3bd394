import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import * as openpgp from "openpgp";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { FluxEvent } from "../../src/notify/events.js";
import { applyToStore } from "../../src/store/objects.js";
import { planeSuite, until } from "../controllers/helpers.js";
import { automationFixtures } from "./automation-fixtures.js";

// spec.git.commit.signingKey against the test bed's Git server: the pushed commit is verified by git itself
// (`git verify-commit`), with GnuPG's gpgv for OpenPGP and OpenSSH's ssh-keygen for SSH signatures.

const run = promisify(execFile);
const { kube, git } = inject("testbed");
const logs: string[] = [];
const events: FluxEvent[] = [];
const local = planeSuite(kube, git, {
  namespace: "image-sign",
  log: pino(
    { level: "debug" },
    new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(chunk.toString()), done()) }),
  ),
  onEvent: (e) => events.push(e),
});
const ns = () => local.namespace;
const { fixture, automation, show, status } = automationFixtures(local, git);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sluice-signing-"));
});
afterAll(() => rm(work, { recursive: true, force: true }));

async function createSecret(name: string, stringData: Record<string, string>): Promise<void> {
  await local.admin.client.send({
    method: "POST",
    path: `/api/v1/namespaces/${ns()}/secrets`,
    body: { metadata: { name }, stringData },
  });
}

/** A v1 automation signing with `secret` (type as given; Flux defaults to gpg). */
function signing(name: string, source: string, secret: string, type?: "gpg" | "ssh") {
  const object = automation(name, source, {});
  object.apiVersion = "image.toolkit.fluxcd.io/v1";
  const commit = (object.spec as { git: { commit: Record<string, unknown> } }).git.commit;
  commit.signingKey = { secretRef: { name: secret }, ...(type ? { type } : {}) };
  return object;
}

const pushed = (name: string) =>
  until(`${name} pushed`, async () => {
    const s = await status(name);
    return s.lastPushCommit ? s.lastPushCommit : undefined;
  });

/** `git verify-commit` in the bare repository, OpenPGP signatures checked by gpgv against `keyring` alone. */
async function verifyPgp(repo: string, commit: string, keyring: Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(work, "gpgv-"));
  await writeFile(join(dir, "keyring.gpg"), keyring);
  // git passes gpg's options; gpgv takes all but these two (it only verifies).
  const program = join(dir, "gpgv-for-git");
  await writeFile(
    program,
    `#!/bin/sh
for a do shift; case "$a" in --keyid-format=*|--verify) ;; *) set -- "$@" "$a";; esac; done
exec gpgv --homedir "${dir}" --keyring "${dir}/keyring.gpg" "$@"
`,
  );
  await chmod(program, 0o755);
  const bare = join(git.root, `${repo}.git`);
  const { stderr } = await run("git", ["-C", bare, "-c", `gpg.program=${program}`, "verify-commit", "-v", commit]);
  return stderr;
}

/** `git verify-commit` of an SSH signature, `publicKey` the one allowed signer. */
async function verifySsh(repo: string, commit: string, publicKey: string): Promise<string> {
  const allowed = join(await mkdtemp(join(work, "allowed-")), "allowed_signers");
  await writeFile(allowed, `fluxbot@users.noreply.github.com ${publicKey}`);
  const bare = join(git.root, `${repo}.git`);
  const config = ["-c", "gpg.format=ssh", "-c", `gpg.ssh.allowedSignersFile=${allowed}`];
  const { stderr } = await run("git", ["-C", bare, ...config, "verify-commit", commit]);
  return stderr;
}

async function sshKey(type: string, bits: string, passphrase: string): Promise<{ identity: string; pub: string }> {
  const file = join(await mkdtemp(join(work, "ssh-")), "key");
  await run("ssh-keygen", ["-q", "-t", type, "-b", bits, "-N", passphrase, "-C", "", "-f", file]);
  return { identity: await readFile(file, "utf8"), pub: (await readFile(`${file}.pub`, "utf8")).trim() };
}

describe("commit signing (spec.git.commit.signingKey)", () => {
  it("signs with an OpenPGP key as Flux reads it (git.asc, passphrase): git verifies the pushed commits with gpgv", async () => {
    // Prepare: an encrypted ECC key (type omitted: gpg is the default) and an unencrypted RSA one
    const ecc = await openpgp.generateKey({
      type: "ecc",
      curve: "curve25519Legacy",
      userIDs: [{ name: "fluxbot", email: "fluxbot@users.noreply.github.com" }],
      passphrase: "correct horse",
      format: "object",
    });
    const rsa = await openpgp.generateKey({
      type: "rsa",
      rsaBits: 3072,
      userIDs: [{ name: "fluxbot", email: "fluxbot@users.noreply.github.com" }],
      format: "object",
    });
    await createSecret("pgp-ecc", { "git.asc": ecc.privateKey.armor(), passphrase: "correct horse" });
    await createSecret("pgp-rsa", { "git.asc": rsa.privateKey.armor() });
    const a = await fixture("6.1.0");
    const b = await fixture("6.1.0");
    // Act
    await applyToStore(local.plane.runtime.store, signing("pgp-ecc", a.name, "pgp-ecc"));
    await applyToStore(local.plane.runtime.store, signing("pgp-rsa", b.name, "pgp-rsa", "gpg"));
    const [eccCommit, rsaCommit] = await Promise.all([pushed("pgp-ecc"), pushed("pgp-rsa")]);
    // Assess: each commit verifies against its own key, and not against the other's (the check is real)
    expect(await verifyPgp(a.repo, eccCommit, ecc.publicKey.write())).toContain('Good signature from "fluxbot');
    expect(await verifyPgp(b.repo, rsaCommit, rsa.publicKey.write())).toContain('Good signature from "fluxbot');
    await expect(verifyPgp(a.repo, eccCommit, rsa.publicKey.write())).rejects.toThrow(/No public key/);
    const raw = (await run("git", ["-C", join(git.root, `${a.repo}.git`), "cat-file", "commit", eccCommit])).stdout;
    expect(raw).toMatch(
      /^tree [0-9a-f]{40}\nparent [0-9a-f]{40}\nauthor fluxbot <fluxbot@users\.noreply\.github\.com> \d+ \+0000\ncommitter fluxbot <fluxbot@users\.noreply\.github\.com> \d+ \+0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n( [^\n]*\n)+ -----END PGP SIGNATURE-----\n\nghcr\.io\/stefanprodan\/podinfo:6\.1\.0\n$/,
    );
    expect(await show(a.repo, "main:apps/podinfo.yaml")).toContain("podinfo:6.1.0 #");
  });

  it("signs with an SSH key (type ssh: identity, password) as SSHSIG in namespace git: ssh-keygen verifies ed25519, ECDSA and RSA", async () => {
    // Prepare: OpenSSH's own keys, the ed25519 one passphrase protected
    const keys = {
      ed25519: await sshKey("ed25519", "256", "s3cret"),
      ecdsa: await sshKey("ecdsa", "384", ""),
      rsa: await sshKey("rsa", "3072", ""),
    };
    const repos: Record<string, { name: string; repo: string }> = {};
    for (const [kind, key] of Object.entries(keys)) {
      await createSecret(`ssh-${kind}`, {
        identity: key.identity,
        ...(kind === "ed25519" ? { password: "s3cret" } : {}),
      });
      repos[kind] = await fixture("6.2.0");
      await applyToStore(local.plane.runtime.store, signing(`ssh-${kind}`, repos[kind].name, `ssh-${kind}`, "ssh"));
    }
    // Act
    const commits = await Promise.all(Object.keys(keys).map((kind) => pushed(`ssh-${kind}`)));
    // Assess
    for (const [i, [kind, key]] of Object.entries(keys).entries()) {
      expect(await verifySsh(repos[kind]!.repo, commits[i]!, key.pub)).toContain(
        'Good "git" signature for fluxbot@users.noreply.github.com',
      );
    }
    await expect(verifySsh(repos.rsa!.repo, commits[2]!, keys.ecdsa.pub)).rejects.toThrow();
  });

  it("refuses a Secret that cannot sign, naming it and its key, pushing nothing and never showing the key material", async () => {
    // Prepare: the attacker's variants of the Secret
    const key = await openpgp.generateKey({
      type: "ecc",
      curve: "curve25519Legacy",
      userIDs: [{ name: "fluxbot", email: "fluxbot@users.noreply.github.com" }],
      passphrase: "right-Qz81vJ",
      format: "object",
    });
    // Argon2-protected keys whose derivation would take 2^25 KiB (32 GiB) of memory, or 200 passes
    const argon2 = await openpgp.generateKey({
      type: "ecc",
      curve: "curve25519Legacy",
      userIDs: [{ name: "fluxbot", email: "fluxbot@users.noreply.github.com" }],
      passphrase: "right-Qz81vJ",
      format: "object",
      config: {
        aeadProtect: true,
        s2kType: openpgp.enums.s2k.argon2,
        s2kArgon2Params: { passes: 1, parallelism: 1, memoryExponent: 10 },
      },
    });
    const costly = async (offset: number, value: number) => {
      // The S2K specifier: type 4, 16 bytes of salt, then passes, parallelism, memory exponent (RFC 9580 §3.7.1.4).
      const bytes = argon2.privateKey.write();
      const salt = (argon2.privateKey.keyPacket as unknown as { s2k: { salt: Uint8Array } }).s2k.salt;
      const at = Buffer.from(bytes).indexOf(Buffer.from(salt)) + salt.length + offset;
      bytes[at] = value;
      return (await openpgp.readKey({ binaryKey: bytes })).armor();
    };
    const weakRsa = await sshKey("rsa", "1024", "");
    const encryptedSsh = await sshKey("ed25519", "256", "hidden-Lx73bR");
    const armoredGarbage = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${Buffer.from("not a key at all, just bytes".repeat(20)).toString("base64")}\n-----END PGP PRIVATE KEY BLOCK-----\n`;
    const cases: Record<string, { data: Record<string, string>; type?: "gpg" | "ssh"; message: string }> = {
      "wrong-passphrase": {
        data: { "git.asc": key.privateKey.armor(), passphrase: "guess-Wm40pT" },
        message: "could not decrypt private key of the signing key present in secret wrong-passphrase: ",
      },
      "no-passphrase": {
        data: { "git.asc": key.privateKey.armor() },
        message:
          "can not use passphrase protected signing key without 'passphrase' field present in secret no-passphrase",
      },
      "public-key": {
        data: { "git.asc": key.publicKey.armor() },
        message: "signing key secret 'public-key': 'git.asc' holds a public key; signing needs the private key",
      },
      garbage: { data: { "git.asc": armoredGarbage }, message: "could not read signing key from secret 'garbage': " },
      "argon2-memory": {
        data: { "git.asc": await costly(2, 25), passphrase: "right-Qz81vJ" },
        message:
          "could not decrypt private key of the signing key present in secret argon2-memory: Error decrypting private key: Argon2 required memory exceeds",
      },
      "argon2-passes": {
        data: { "git.asc": await costly(0, 200), passphrase: "right-Qz81vJ" },
        message:
          "could not decrypt private key of the signing key present in secret argon2-passes: its Argon2 passphrase derivation asks for more than 16 passes",
      },
      huge: {
        data: { "git.asc": key.privateKey.armor() + "x".repeat(200_000) },
        message: "signing key secret 'huge': 'git.asc' is ",
      },
      "no-key": {
        data: { identity: encryptedSsh.identity },
        message: "signing key secret 'no-key' does not contain a 'git.asc' key",
      },
      "weak-rsa": {
        type: "ssh",
        data: { identity: weakRsa.identity },
        message: "could not parse SSH signing key from secret 'weak-rsa': RSA key size 1024 bits is below the minimum",
      },
      "ssh-no-password": {
        type: "ssh",
        data: { identity: encryptedSsh.identity },
        message:
          "can not use passphrase protected signing key without 'password' field present in secret ssh-no-password",
      },
      "ssh-wrong-password": {
        type: "ssh",
        data: { identity: encryptedSsh.identity, password: "notit-Hd52kS" },
        message: "could not parse SSH signing key from secret 'ssh-wrong-password': ",
      },
    };
    const { name, repo } = await fixture("6.3.0");
    const before = await show(repo, "--no-patch", "--format=%H", "main");
    // Act
    for (const [secret, { data, type }] of Object.entries(cases)) {
      await createSecret(secret, data);
      await applyToStore(local.plane.runtime.store, signing(secret, name, secret, type));
    }
    await applyToStore(local.plane.runtime.store, signing("missing", name, "no-such-secret"));
    const failed = (auto: string) =>
      until(`${auto} failed`, async () => {
        const ready = (await status(auto)).conditions?.find((c) => c.type === "Ready");
        return ready?.status === "False" ? ready : undefined;
      });
    // Assess
    for (const [secret, { message }] of Object.entries(cases)) {
      const ready = await failed(secret);
      expect(ready, secret).toMatchObject({ reason: "SourceManagerFailed" });
      expect(ready.message, secret).toContain(`failed configuring source manager: ${message}`);
    }
    expect((await failed("missing")).message).toBe(
      "failed configuring source manager: could not find signing key secret 'no-such-secret'",
    );
    expect(await show(repo, "--no-patch", "--format=%H", "main")).toBe(before);
    const seen = JSON.stringify([await Promise.all(Object.keys(cases).map((auto) => status(auto))), events, logs]);
    const material = [key.privateKey.armor(), weakRsa.identity, encryptedSsh.identity];
    for (const secretText of material)
      for (const line of secretText.split("\n").filter((l) => l.length > 20)) expect(seen).not.toContain(line);
    for (const passphrase of ["right-Qz81vJ", "guess-Wm40pT", "hidden-Lx73bR", "notit-Hd52kS"])
      expect(seen).not.toContain(passphrase);
  });
});
