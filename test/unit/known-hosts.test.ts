import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseKnownHosts } from "../../src/sources/known-hosts.js";
import { sshKeyPair } from "../env/ssh-keys.js";

// known_hosts matching as fluxcd/pkg/ssh/knownhosts does it, on keys made here (the handshake itself is
// tested against the test bed's sshd in test/sources/git-ssh.test.ts).

const keyPair = (type: "ed25519" | "ecdsa" = "ed25519") => sshKeyPair(type, type === "ecdsa" ? { bits: 256 } : {});
const publicLine = (pair: { public: string }) => pair.public.split(" ").slice(0, 2).join(" ");
const blob = (pair: { public: string }) => Buffer.from(pair.public.split(" ")[1]!, "base64");
const hashed = (host: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
};

describe("known_hosts as Flux reads it", () => {
  it("hashes a host as OpenSSH writes it: bare on port 22 (IPv6 in brackets), [host]:port otherwise", () => {
    // Prepare
    const key = keyPair();
    const db = parseKnownHosts(
      [
        `${hashed("git.example")} ${publicLine(key)}`,
        `${hashed("[::1]")} ${publicLine(key)}`,
        `${hashed("[h.example]:2222")} ${publicLine(key)}`,
      ].join("\n"),
    );
    // Act
    const verdicts = [
      db.check("git.example", 22, blob(key)),
      db.check("::1", 22, blob(key)),
      db.check("h.example", 2222, blob(key)),
      db.check("h.example", 22, blob(key)),
    ];
    // Assert
    expect(verdicts).toEqual([undefined, undefined, undefined, "knownhosts: key is unknown"]);
  });

  it("compares only the first key of the server key's type among matching lines; another type is a mismatch", () => {
    // Prepare
    const [first, second, ecdsa] = [keyPair(), keyPair(), keyPair("ecdsa")];
    const db = parseKnownHosts(`git.example ${publicLine(first)}\ngit.example ${publicLine(second)}\n`);
    // Act / Assert
    expect(db.check("git.example", 22, blob(first))).toBeUndefined();
    expect(db.check("git.example", 22, blob(second))).toBe("knownhosts: key mismatch");
    expect(db.check("git.example", 22, blob(ecdsa))).toBe("knownhosts: key mismatch");
    expect(db.algorithms).toEqual(["ssh-ed25519"]);
  });

  it("offers RSA with SHA-2 signatures first, and the listed types only", () => {
    // Prepare
    const rsa = sshKeyPair("rsa", { bits: 2048 });
    // Act
    const db = parseKnownHosts(`a ${publicLine(rsa)}\nb ${publicLine(keyPair("ecdsa"))}`);
    // Assert
    expect(db.algorithms).toEqual(["ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
  });

  it("refuses what Flux cannot parse, naming the problem", () => {
    const key = publicLine(keyPair());
    expect(() => parseKnownHosts(`[git.example ${key}`)).toThrow(
      "knownhosts: address [git.example: missing port in address",
    );
    expect(() => parseKnownHosts(`[git.example:22 ${key}`)).toThrow("knownhosts: address [git.example:22: missing ']'");
    expect(() => parseKnownHosts("git.example")).toThrow("knownhosts: missing host pattern");
    expect(() => parseKnownHosts("git.example ssh-ed25519")).toThrow("knownhosts: missing key type pattern");
    expect(() => parseKnownHosts("git.example ssh-ed25519 !!!")).toThrow("knownhosts: illegal base64");
    expect(() => parseKnownHosts(`|2|c2FsdA==|aGFzaA== ${key}`)).toThrow("knownhosts: got hash type 2, must be '1'");
    expect(() => parseKnownHosts(`!,x ${key}`)).toThrow("knownhosts: negation without following hostname");
  });

  it("a hostile wildcard pattern against a long host name is matched in linear time", () => {
    // Prepare: exponential for a naive backtracking matcher.
    const key = keyPair();
    const db = parseKnownHosts(`${"*a".repeat(40)}*b ${publicLine(key)}`);
    const started = performance.now();
    // Act
    const verdict = db.check("a".repeat(200), 22, blob(key));
    // Assert
    expect(verdict).toBe("knownhosts: key is unknown");
    expect(performance.now() - started).toBeLessThan(100);
  });
});
