import { execFile } from "node:child_process";
import { access, appendFile, constants, mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { arch } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Running, RunContext } from "./component.js";
import { MissingPrerequisiteError, freePort, startProcess, waitUntilReady } from "./process.js";
import { sshKeyPair } from "./ssh-keys.js";

const run = promisify(execFile);

/** How tests reach the test bed's OpenSSH server, which serves bare repositories with git-upload-pack. */
export interface SshdInfo {
  /** 127.0.0.1 */
  host: string;
  port: number;
  /** The login (Flux's default SSH user): `ssh://git@127.0.0.1:<port>/<root>/<name>.git`. */
  user: string;
  /** Folder of the bare repositories (the same layout as the HTTP Git server's, so pushTree works on both). */
  root: string;
  /** Private key (OpenSSH format) in authorized_keys, and its public line. */
  identity: string;
  identityPub: string;
  /** The server's host keys, one `<type> <base64>` line per key (ed25519, ecdsa-sha2-nistp256, rsa). */
  hostKeys: string[];
  /** A known_hosts file that trusts every host key for `[127.0.0.1]:<port>`. */
  knownHosts: string;
  /** Append a public key line to authorized_keys (sshd reads it on every login). */
  authorizedKeysFile: string;
  /** e.g. "OpenSSH_9.2p1 Debian-2+deb12u10" */
  version: string;
}

const USER = "git";

/**
 * Debian's sshd (unpacked by install-sshd.sh) on a free loopback port. sshd refuses to run as root without
 * its privilege-separation user, and as anyone else it logs in only the user it runs as; so it runs in a
 * user namespace as uid 1000, with a mount namespace whose /etc/passwd names uid 1000 `git` (home: the run
 * folder, shell /bin/sh). Nothing outside the namespaces changes.
 */
export async function start(ctx: RunContext): Promise<Running<SshdInfo>> {
  const prefix = join(ctx.cacheDir, "sshd");
  const binary = join(prefix, "usr", "sbin", "sshd");
  if (!(await exists(binary, constants.X_OK))) {
    throw new MissingPrerequisiteError(`sshd (OpenSSH server) at ${binary}`, "bash test/env/install-sshd.sh");
  }
  const dir = join(ctx.runDir, "sshd");
  const root = join(dir, "repos");
  await mkdir(root, { recursive: true });
  const port = await freePort();

  const hostKeys: string[] = [];
  const keyFiles: string[] = [];
  for (const [type, options] of HOST_KEY_TYPES) {
    const pair = sshKeyPair(type, options ?? {});
    const file = join(dir, `host_${type}`);
    await writeFile(file, pair.private, { mode: 0o600 });
    keyFiles.push(file);
    hostKeys.push(withoutComment(pair.public));
  }
  const client = sshKeyPair("ed25519");
  const authorizedKeysFile = join(dir, "authorized_keys");
  await writeFile(authorizedKeysFile, `${client.public}\n`);
  const passwd = join(dir, "passwd");
  const system = await readFile("/etc/passwd", "utf8");
  await writeFile(passwd, `${system.trimEnd()}\n${USER}:x:1000:1000:git:${dir}:/bin/sh\n`);
  const config = join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      ...keyFiles.map((f) => `HostKey ${f}`),
      `AuthorizedKeysFile ${authorizedKeysFile}`,
      `AllowUsers ${USER}`,
      "PidFile none",
      "UsePAM no",
      // The namespace's uid owns every file; sshd's ownership checks would see a stranger.
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "LogLevel VERBOSE",
      // Tests connect in parallel; the default (10:30:100) would drop some unauthenticated connections.
      "MaxStartups 200",
      "MaxSessions 50",
      // OpenSSH >= 9.8 runs sessions through a separate binary; 9.2 (bookworm) has none.
      ...((await exists(join(prefix, "usr", "lib", "openssh", "sshd-session")))
        ? [`SshdSessionPath ${join(prefix, "usr", "lib", "openssh", "sshd-session")}`]
        : []),
      "",
    ].join("\n"),
  );
  const { stderr } = await run(binary, ["-V"], { env: libraryEnv(prefix) }).catch((e: { stderr?: string }) => ({
    stderr: e.stderr ?? "",
  }));
  const version = stderr.trim().split(",")[0] ?? "OpenSSH";
  // `exec` all the way down: the process the test bed stops is sshd itself.
  const inner = `mount --bind "$0" /etc/passwd && exec unshare --user --map-user=1000 --map-group=1000 "$1" -D -e -f "$2"`;
  const sshd = startProcess({
    name: "sshd",
    command: "unshare",
    args: ["--user", "--map-root-user", "--mount", "sh", "-c", inner, passwd, binary, config],
    env: libraryEnv(prefix),
    logDir: ctx.logDir,
  });
  try {
    await waitUntilReady("sshd", () => answers(port), { process: sshd, timeoutMs: 15_000 });
  } catch (error) {
    await sshd.stop();
    throw error;
  }
  return {
    info: {
      host: "127.0.0.1",
      port,
      user: USER,
      root,
      identity: client.private,
      identityPub: withoutComment(client.public),
      hostKeys,
      knownHosts: hostKeys.map((key) => `[127.0.0.1]:${port} ${key}`).join("\n") + "\n",
      authorizedKeysFile,
      version,
    },
    stop: () => sshd.stop(),
  };
}

const HOST_KEY_TYPES = [
  ["ed25519", undefined],
  ["ecdsa", { bits: 256 }],
  ["rsa", { bits: 2048 }],
] as const;

/** `ssh://git@127.0.0.1:<port>/<root>/<name>.git`, after creating the bare repository. */
export async function createSshRepo(info: SshdInfo, name: string): Promise<string> {
  const path = join(info.root, `${name}.git`);
  await run("git", ["init", "--quiet", "--bare", "--initial-branch=main", path]);
  return sshUrl(info, name);
}

export function sshUrl(info: SshdInfo, name: string): string {
  return `ssh://${info.user}@${info.host}:${info.port}${join(info.root, `${name}.git`)}`;
}

/** Lets `publicKey` (an authorized_keys line) log in too. */
export async function authorize(info: SshdInfo, publicKey: string): Promise<void> {
  await appendFile(info.authorizedKeysFile, `${publicKey.trim()}\n`);
}

/** sshd's identification string arrives as soon as it accepts. */
async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString("latin1").startsWith("SSH-2.0-"));
    });
    socket.once("error", () => resolve(false));
  });
}

function libraryEnv(prefix: string): NodeJS.ProcessEnv {
  const multiarch = arch() === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return { LD_LIBRARY_PATH: join(prefix, "usr", "lib", multiarch) };
}

function withoutComment(publicLine: string): string {
  return publicLine.trim().split(/\s+/).slice(0, 2).join(" ");
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}
