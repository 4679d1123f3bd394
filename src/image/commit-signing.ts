import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign } from "node:crypto";
import type { ParsedKey } from "ssh2";
import { parseIdentity } from "../sources/ssh-identity.js";
import type { CommitSigner } from "../sources/git-signature.js";
import { SshIdentityError } from "../sources/ssh-remote.js";

// spec.git.commit.signingKey, read as image-automation-controller v1.2.4 reads its Secret (internal/source/
// signing.go): type gpg (the default) takes `git.asc`, one ASCII-armored OpenPGP key, opened with `passphrase`
// when encrypted; type ssh takes `identity`, an SSH private key as a GitRepository's secret holds it, opened with
// `password`, and signs as fluxcd/pkg/git's SSHSigner does (SSHSIG, namespace "git", SHA-512).

/** The signing key's Secret lacks what the key type needs, or holds a key that cannot sign. */
export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

/** Bigger key material is refused unread: a real armored keypair is a few KiB. */
export const MAX_SIGNING_KEY_BYTES = 64 * 1024;
/**
 * The costliest Argon2 passphrase derivation a key may ask for: 2^21 KiB (2 GiB, RFC 9580 §4.6's first
 * recommended setting) and 16 passes. The key's author chooses these, and openpgp's own memory cap is 1 TiB.
 */
const MAX_ARGON2 = { memoryExponent: 21, passes: 16 };

const GPG_KEY = "git.asc";
const GPG_PASSPHRASE = "passphrase";
const SSH_KEY = "identity";
const SSH_PASSWORD = "password";

/**
 * The signer of `signingKey`, from its Secret's decoded `data`; a SigningKeyError worded as Flux words it
 * (naming the Secret and its key, never the key material) when the Secret cannot sign.
 */
export async function commitSigner(
  secretName: string,
  type: "gpg" | "ssh" | undefined,
  data: Record<string, string>,
): Promise<CommitSigner> {
  const field = type === "ssh" ? SSH_KEY : GPG_KEY;
  const key = data[field];
  if (key === undefined)
    throw new SigningKeyError(
      `signing key secret '${secretName}' does not contain ${type === "ssh" ? "an" : "a"} '${field}' key`,
    );
  if (Buffer.byteLength(key) > MAX_SIGNING_KEY_BYTES)
    throw new SigningKeyError(
      `signing key secret '${secretName}': '${field}' is ${Buffer.byteLength(key)} bytes, more than the ${MAX_SIGNING_KEY_BYTES} a signing key may have`,
    );
  return type === "ssh" ? sshSigner(secretName, key, data[SSH_PASSWORD]) : gpgSigner(secretName, key, data);
}

async function gpgSigner(secretName: string, armored: string, data: Record<string, string>): Promise<CommitSigner> {
  // Loaded on first use: only automations that sign need OpenPGP.
  const openpgp = await import("openpgp");
  let keys;
  try {
    keys = await openpgp.readKeys({ armoredKeys: armored });
  } catch (error) {
    throw new SigningKeyError(
      `could not read signing key from secret '${secretName}': ${(error as Error).message || "not an armored OpenPGP key"}`,
    );
  }
  if (keys.length > 1)
    throw new SigningKeyError(
      `multiple entities read from secret '${secretName}', could not determine which signing key to use`,
    );
  const key = keys[0]!;
  if (!key.isPrivate())
    throw new SigningKeyError(
      `signing key secret '${secretName}': '${GPG_KEY}' holds a public key; signing needs the private key`,
    );
  let privateKey = key;
  if (!key.isDecrypted()) {
    const passphrase = data[GPG_PASSPHRASE];
    if (passphrase === undefined)
      throw new SigningKeyError(
        `can not use passphrase protected signing key without '${GPG_PASSPHRASE}' field present in secret ${secretName}`,
      );
    const costly = [key, ...key.subkeys].some(({ keyPacket }) => {
      const s2k = (keyPacket as { s2k?: { type?: string; t?: number } }).s2k;
      return s2k?.type === "argon2" && (s2k.t ?? 0) > MAX_ARGON2.passes;
    });
    if (costly)
      throw new SigningKeyError(
        `could not decrypt private key of the signing key present in secret ${secretName}: its Argon2 passphrase derivation asks for more than ${MAX_ARGON2.passes} passes`,
      );
    try {
      const config = { maxArgon2MemoryExponent: MAX_ARGON2.memoryExponent };
      privateKey = await openpgp.decryptKey({ privateKey: key, passphrase, config });
    } catch (error) {
      throw new SigningKeyError(
        `could not decrypt private key of the signing key present in secret ${secretName}: ${(error as Error).message}`,
      );
    }
  }
  try {
    await privateKey.getSigningKey();
  } catch (error) {
    throw new SigningKeyError(`signing key secret '${secretName}' cannot sign: ${(error as Error).message}`);
  }
  return async (payload) => {
    // Binary, as git's `gpg --detach-sign` signs the commit's bytes (no text canonicalisation).
    const message = await openpgp.createMessage({ binary: payload });
    return openpgp.sign({ message, signingKeys: privateKey, detached: true, format: "armored" });
  };
}

// fluxcd/pkg/git's NewSSHSigner accepts these; RSA from 2048 bits.
const SSH_KEY_TYPES = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
]);
const MIN_RSA_BITS = 2048;
/** The hash ECDSA signs with, by curve (RFC 5656 §6.2.1). */
const ECDSA_HASH: Record<string, string> = {
  "ecdsa-sha2-nistp256": "sha256",
  "ecdsa-sha2-nistp384": "sha384",
  "ecdsa-sha2-nistp521": "sha512",
};
const SSHSIG_NAMESPACE = "git";
const SSHSIG_HASH = "sha512";

function sshSigner(secretName: string, identity: string, password: string | undefined): CommitSigner {
  let key: ParsedKey;
  try {
    key = parseIdentity(identity, password);
  } catch (error) {
    if (!(error instanceof SshIdentityError)) throw error;
    if (error.message.includes("passphrase protected"))
      throw new SigningKeyError(
        `can not use passphrase protected signing key without '${SSH_PASSWORD}' field present in secret ${secretName}`,
      );
    throw new SigningKeyError(`could not parse SSH signing key from secret '${secretName}': ${error.message}`);
  }
  const problem = unsupported(key);
  if (problem) throw new SigningKeyError(`could not parse SSH signing key from secret '${secretName}': ${problem}`);
  const privateKey = createPrivateKey(key.getPrivatePEM());
  return (payload) => Promise.resolve(sshsig(key, privateKey, payload));
}

function unsupported(key: ParsedKey): string | undefined {
  if (!SSH_KEY_TYPES.has(key.type)) return `unsupported SSH key algorithm "${key.type}"`;
  if (key.type !== "ssh-rsa") return undefined;
  const bits = createPublicKey(key.getPublicPEM()).asymmetricKeyDetails?.modulusLength ?? 0;
  return bits < MIN_RSA_BITS ? `RSA key size ${bits} bits is below the minimum of ${MIN_RSA_BITS}` : undefined;
}

/** OpenSSH's PROTOCOL.sshsig: the signature of the payload's SHA-512 in namespace "git", armored. */
function sshsig(key: ParsedKey, privateKey: ReturnType<typeof createPrivateKey>, payload: Buffer): string {
  const magic = Buffer.from("SSHSIG");
  const digest = createHash(SSHSIG_HASH).update(payload).digest();
  const signed = Buffer.concat([
    magic,
    sshString(SSHSIG_NAMESPACE),
    sshString(""),
    sshString(SSHSIG_HASH),
    sshString(digest),
  ]);
  const blob = Buffer.concat([
    magic,
    uint32(1),
    sshString(key.getPublicSSH()),
    sshString(SSHSIG_NAMESPACE),
    sshString(""),
    sshString(SSHSIG_HASH),
    sshString(signatureBlob(key.type, privateKey, signed)),
  ]);
  const lines = blob.toString("base64").match(/.{1,70}/g) ?? [];
  return ["-----BEGIN SSH SIGNATURE-----", ...lines, "-----END SSH SIGNATURE-----", ""].join("\n");
}

/** The SSH wire signature (RFC 4253 §6.6): algorithm name, then the signature in that algorithm's encoding. */
function signatureBlob(type: string, privateKey: ReturnType<typeof createPrivateKey>, data: Buffer): Buffer {
  if (type === "ssh-ed25519") return Buffer.concat([sshString(type), sshString(cryptoSign(null, data, privateKey))]);
  if (type === "ssh-rsa")
    // SHA-512, as x/crypto's sshsig signs with RSA keys (rsa-sha2-512, RFC 8332).
    return Buffer.concat([sshString("rsa-sha2-512"), sshString(cryptoSign("sha512", data, privateKey))]);
  const rs = cryptoSign(ECDSA_HASH[type]!, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
  const half = rs.length / 2;
  const pair = Buffer.concat([sshString(mpint(rs.subarray(0, half))), sshString(mpint(rs.subarray(half)))]);
  return Buffer.concat([sshString(type), sshString(pair)]);
}

function sshString(data: Buffer | string): Buffer {
  const bytes = Buffer.from(data);
  return Buffer.concat([uint32(bytes.length), bytes]);
}

function uint32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
}

/** A positive integer as SSH's mpint: no leading zero bytes, except one when the top bit is set. */
function mpint(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}
