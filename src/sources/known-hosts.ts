import { createHmac } from "node:crypto";
import ssh2, { type ServerHostKeyAlgorithm } from "ssh2";

// The `known_hosts` of a GitRepository's secret, read and matched as Flux does (fluxcd/pkg/ssh/knownhosts,
// an in-memory form of golang.org/x/crypto/ssh/knownhosts): lines `[@cert-authority|@revoked] patterns
// keytype base64-key`; patterns are comma-separated `host`, `[host]:port`, `!negated`, `*`/`?` wildcards, or
// a hashed `|1|salt|hmac`; a pattern without a port means port 22. A host key is accepted only when it equals
// the first key of its type among the lines matching the host, and never when revoked.

/** Why a host key was refused, in Flux's words (the text of x/crypto's knownhosts errors). */
export type HostKeyRefusal = "knownhosts: key is unknown" | "knownhosts: key mismatch" | "knownhosts: key is revoked";

export interface KnownHosts {
  /** undefined when `key` (the SSH wire blob) is the known key for `host`:`port`; otherwise why not. */
  check(host: string, port: number, key: Buffer): HostKeyRefusal | undefined;
  /** Host key algorithms to offer the server: those of the listed keys' types, strongest first. */
  algorithms: ServerHostKeyAlgorithm[];
}

/** A line Flux would not parse; the whole known_hosts is refused, as in Flux. */
export class KnownHostsError extends Error {
  override name = "KnownHostsError";
}

interface Address {
  host: string;
  port: string;
}
interface Entry {
  matches(address: Address): boolean;
  type: string;
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHosts {
  const entries: Entry[] = [];
  const revoked: Buffer[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      const { marker, pattern, type, key } = parseLine(line);
      if (marker === "@revoked") revoked.push(key);
      // @cert-authority lines take part in plain matching too, as in Flux: the server never offers a
      // certificate here (no certificate host key algorithm is offered).
      else
        entries.push({
          matches: pattern.startsWith("|") ? hashedMatcher(pattern) : patternMatcher(pattern),
          type,
          key,
        });
    } catch (error) {
      throw new KnownHostsError(`knownhosts: ${(error as Error).message}`);
    }
  }
  const types = new Set(entries.map((e) => e.type));
  return {
    algorithms: ALGORITHMS.filter(([type]) => types.has(type)).flatMap(([, algorithms]) => algorithms),
    check(host, port, key) {
      if (revoked.some((r) => r.equals(key))) return "knownhosts: key is revoked";
      const address = { host, port: String(port) };
      const known = new Map<string, Buffer>();
      for (const entry of entries) {
        if (entry.matches(address) && !known.has(entry.type)) known.set(entry.type, entry.key);
      }
      if (known.size === 0) return "knownhosts: key is unknown";
      return known.get(keyType(key))?.equals(key) ? undefined : "knownhosts: key mismatch";
    },
  };
}

/**
 * Key type → the algorithms offered for it. An RSA key is offered with SHA-2 signatures before SHA-1 (Flux
 * does so when RSA is the only type; offering them always verifies the same key, with stronger signatures).
 * Types ssh2 cannot verify (security keys, certificates) are not offered.
 */
const ALGORITHMS: [string, ServerHostKeyAlgorithm[]][] = [
  ["ssh-ed25519", ["ssh-ed25519"]],
  ["ecdsa-sha2-nistp256", ["ecdsa-sha2-nistp256"]],
  ["ecdsa-sha2-nistp384", ["ecdsa-sha2-nistp384"]],
  ["ecdsa-sha2-nistp521", ["ecdsa-sha2-nistp521"]],
  ["ssh-rsa", ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]],
  ["ssh-dss", ["ssh-dss"]],
];

/** Key types x/crypto parses that ssh2 does not: accepted in the file, never offered. */
const PARSED_ONLY = /^(sk-ecdsa-sha2-nistp256@openssh\.com|sk-ssh-ed25519@openssh\.com|.+-cert-v01@openssh\.com)$/;

function parseLine(line: string): { marker?: string; pattern: string; type: string; key: Buffer } {
  let words = line.split(/[ \t]+/);
  const marker = words[0] === "@cert-authority" || words[0] === "@revoked" ? words[0] : undefined;
  if (marker) words = words.slice(1);
  const [pattern = "", , blob] = words;
  if (words.length < 2) throw new Error("missing host pattern");
  if (blob === undefined) throw new Error("missing key type pattern");
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(blob))
    throw new Error("illegal base64 data in key");
  const key = Buffer.from(blob, "base64");
  const type = keyType(key);
  if (!PARSED_ONLY.test(type) && ssh2.utils.parseKey(key) instanceof Error)
    throw new Error(
      ALGORITHMS.some(([t]) => t === type) ? "ssh: malformed key" : `ssh: unknown key algorithm: ${type}`,
    );
  return { marker, pattern, type, key };
}

/** The algorithm name a public key blob starts with (an SSH string). */
function keyType(key: Buffer): string {
  if (key.length < 4) return "";
  const length = key.readUInt32BE(0);
  return length <= key.length - 4 ? key.toString("latin1", 4, 4 + length) : "";
}

function patternMatcher(list: string): (address: Address) => boolean {
  const patterns = list
    .split(",")
    .filter((p) => p !== "")
    .map((text) => {
      const negate = text.startsWith("!");
      const body = negate ? text.slice(1) : text;
      if (body === "") throw new Error("negation without following hostname");
      // `[host]:port` must split; a bare name (or an IPv6 literal) is port 22.
      const split = splitHostPort(body);
      if (split instanceof Error && body.startsWith("[")) throw split;
      return { negate, ...(split instanceof Error ? { host: body, port: "22" } : split) };
    });
  return (address) => {
    let matched = false;
    for (const p of patterns) {
      if (p.port !== address.port || !wildcardMatch(p.host, address.host)) continue;
      if (p.negate) return false;
      matched = true;
    }
    return matched;
  };
}

/** `|1|base64(salt)|base64(hmac-sha1(salt, host))`, the host written as OpenSSH's hashing normalises it. */
function hashedMatcher(encoded: string): (address: Address) => boolean {
  const parts = encoded.split("|");
  if (parts.length !== 4) throw new Error(`got ${parts.length - 1} components, want 3`);
  if (parts[1] !== "1") throw new Error(`got hash type ${parts[1]}, must be '1'`);
  const [salt, hash] = [base64(parts[2] ?? ""), base64(parts[3] ?? "")];
  return ({ host, port }) => {
    const bracketed = host.includes(":") ? `[${host}]` : host;
    const normalized = port === "22" ? bracketed : `[${host}]:${port}`;
    return createHmac("sha1", salt).update(normalized).digest().equals(hash);
  };
}

function base64(text: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
    throw new Error("illegal base64 data in hashed host");
  return Buffer.from(text, "base64");
}

/**
 * `*` matches any run of characters (dots included), `?` any one; byte for byte otherwise. Linear
 * backtracking (a hostile pattern like `*a*a*a*…` cannot blow up); as in Flux, a trailing `*` needs a character.
 */
function wildcardMatch(pattern: string, text: string): boolean {
  if (text === "") return pattern === "";
  let [p, t, star, resume] = [0, 0, -1, 0];
  while (t < text.length) {
    if (pattern[p] === "*") [star, resume, p] = [p, t, p + 1];
    else if (p < pattern.length && (pattern[p] === "?" || pattern[p] === text[t])) [p, t] = [p + 1, t + 1];
    else if (star >= 0) [p, t, resume] = [star + 1, resume + 1, resume + 1];
    else return false;
  }
  return p === pattern.length;
}

/** Go's net.SplitHostPort: `host:port` or `[host]:port`, exactly one port. */
function splitHostPort(text: string): Address | Error {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return new Error(`address ${text}: missing port in address`);
  let host: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return new Error(`address ${text}: missing ']' in address`);
    if (end + 1 !== colon)
      return new Error(`address ${text}: ${text[end + 1] === ":" ? "too many colons" : "missing port"} in address`);
    host = text.slice(1, end);
    if (host.includes("[") || text.slice(end + 1).includes("]"))
      return new Error(`address ${text}: unexpected bracket in address`);
  } else {
    host = text.slice(0, colon);
    if (host.includes(":")) return new Error(`address ${text}: too many colons in address`);
    if (text.includes("[") || text.includes("]")) return new Error(`address ${text}: unexpected bracket in address`);
  }
  return { host, port: text.slice(colon + 1) };
}
