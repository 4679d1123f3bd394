// An SSH remote as source-controller reads one before connecting (fluxcd/pkg/git's NewAuthOptions): the URL,
// the secret's required keys, whether the identity needs its password. Kept free of the SSH library, which
// is loaded only when a Git operation goes over SSH (src/sources/git-ssh.ts).

/** Where an `ssh://[user@]host[:port]/path` URL points; the user defaults to `git`, as in Flux. */
export interface SshTarget {
  user: string;
  host: string;
  port: number;
  path: string;
}

/** What isomorphic-git is told an SSH remote's URL is (it speaks HTTP only); see git-ssh.ts. */
export const SSH_STAND_IN_URL = "http://git-over-ssh.invalid/repository";

/** The server refused the identity (reported as AuthenticationFailed, as HTTP's 401 is). */
export class SshAuthenticationError extends Error {
  override name = "SshAuthenticationError";
}

/** An identity Flux would refuse too; the message is x/crypto's where it has one. */
export class SshIdentityError extends Error {
  override name = "SshIdentityError";
}

export function isSshUrl(url: string): boolean {
  return /^ssh:\/\//i.test(url);
}

/** Parses an `ssh://` URL as Go's url.Parse reads it for go-git (path and user percent-decoded). */
export function parseSshUrl(url: string): SshTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("invalid SSH URL");
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw new Error("invalid 'ssh' auth option: 'host' is required");
  const path = decodeURIComponent(parsed.pathname);
  // The path is quoted for the remote shell; a control character has no business in it.
  // eslint-disable-next-line no-control-regex
  if (path === "" || /[\0-\x1f\x7f]/.test(path)) throw new Error("invalid repository path in SSH URL");
  return {
    user: decodeURIComponent(parsed.username) || "git",
    host,
    port: parsed.port === "" ? 22 : Number(parsed.port),
    path,
  };
}

/** Flux's validation of SSH auth options: both keys are required (there is no fallback to the machine's). */
export function sshAuthProblem(auth: { identity?: string; knownHosts?: string }): string | undefined {
  if (!auth.identity) return "invalid 'ssh' auth option: 'identity' is required";
  if (!auth.knownHosts) return "invalid 'ssh' auth option: 'known_hosts' is required";
  return undefined;
}

/** Whether `identity` needs the secret's `password` (source-controller checks this before it connects). */
export function identityIsEncrypted(identity: string): boolean {
  try {
    return isEncrypted(pemBlock(identity));
  } catch {
    return false;
  }
}

export interface PemBlock {
  type: string;
  /** The whole block, BEGIN to END lines. */
  text: string;
  body: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/;

/** The first PEM block, as Go's pem.Decode finds it. */
export function pemBlock(identity: string): PemBlock {
  const match = PEM_BLOCK.exec(identity);
  if (!match) throw new SshIdentityError("ssh: no key found");
  return { type: match[1] ?? "", text: match[0], body: match[2] ?? "" };
}

/** A legacy PEM with `Proc-Type: 4,ENCRYPTED`, or an OpenSSH key whose cipher is not `none`. */
export function isEncrypted({ type, body }: PemBlock): boolean {
  if (/^Proc-Type:\s*4,ENCRYPTED/m.test(body)) return true;
  if (type !== "OPENSSH PRIVATE KEY") return false;
  const data = Buffer.from(body.replace(/\s+/g, ""), "base64");
  const magic = "openssh-key-v1\0";
  if (data.toString("latin1", 0, magic.length) !== magic || data.length < magic.length + 4) return false;
  const length = data.readUInt32BE(magic.length);
  return data.toString("latin1", magic.length + 4, magic.length + 4 + length) !== "none";
}
