import { createPrivateKey, randomInt } from "node:crypto";
import ssh2, { type ParsedKey } from "ssh2";
import { isEncrypted, pemBlock, SshIdentityError } from "./ssh-remote.js";

// The `identity` of a GitRepository's secret, read as Flux reads it (x/crypto's ssh.ParsePrivateKey): the
// first PEM block, one of OpenSSH's format, PKCS#1 RSA, SEC1 EC, DSA or unencrypted PKCS#8 (what
// `flux create secret git` writes), encrypted ones opened with the secret's `password`. ssh2 reads the
// first four; PKCS#8 is handed to it as PKCS#1, SEC1 or (Ed25519) OpenSSH's format.

const SSH2_FORMATS = new Set(["OPENSSH PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"]);

/** The signing key of `identity`, or an SshIdentityError saying why not. */
export function parseIdentity(identity: string, password: string | undefined): ParsedKey {
  const block = pemBlock(identity);
  const encrypted = isEncrypted(block);
  const text = block.type === "PRIVATE KEY" ? fromPkcs8(block.text) : block.text;
  if (!SSH2_FORMATS.has(block.type) && block.type !== "PRIVATE KEY")
    throw new SshIdentityError(`ssh: unsupported key type "${block.type}"`);
  if (encrypted && !password) throw new SshIdentityError("ssh: this private key is passphrase protected");
  const parsed = ssh2.utils.parseKey(text, encrypted ? password : undefined);
  if (parsed instanceof Error) {
    throw new SshIdentityError(encrypted ? "x509: decryption password incorrect" : `ssh: ${parsed.message}`);
  }
  return parsed;
}

/** PKCS#8 → a format ssh2 reads, through Node's own key parser. */
function fromPkcs8(pem: string): string {
  let key;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (error) {
    throw new SshIdentityError(`x509: failed to parse private key: ${(error as Error).message}`);
  }
  switch (key.asymmetricKeyType) {
    case "rsa":
      return key.export({ type: "pkcs1", format: "pem" }).toString();
    case "ec":
      return key.export({ type: "sec1", format: "pem" }).toString();
    case "ed25519": {
      const { d, x } = key.export({ format: "jwk" });
      return openSshEd25519(Buffer.from(d ?? "", "base64url"), Buffer.from(x ?? "", "base64url"));
    }
    default:
      throw new SshIdentityError(`ssh: unsupported key type ${key.asymmetricKeyType ?? "unknown"}`);
  }
}

/** OpenSSH's unencrypted private key format (PROTOCOL.key) for one Ed25519 key. */
function openSshEd25519(seed: Buffer, publicKey: Buffer): string {
  const string = (data: Buffer | string) => {
    const bytes = Buffer.from(data);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const uint32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  const publicBlob = Buffer.concat([string("ssh-ed25519"), string(publicKey)]);
  const check = uint32(randomInt(2 ** 32));
  const unpadded = Buffer.concat([check, check, publicBlob, string(Buffer.concat([seed, publicKey])), string("")]);
  const padding = Buffer.from(Array.from({ length: (8 - (unpadded.length % 8)) % 8 }, (_, i) => i + 1));
  const blob = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    string("none"),
    string("none"),
    string(""),
    uint32(1),
    string(publicBlob),
    string(Buffer.concat([unpadded, padding])),
  ]);
  const lines = blob.toString("base64").match(/.{1,70}/g) ?? [];
  return ["-----BEGIN OPENSSH PRIVATE KEY-----", ...lines, "-----END OPENSSH PRIVATE KEY-----"].join("\n");
}
