import { connect as tcpConnect } from "node:net";
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { Client, type ClientChannel, type ConnectConfig, type PublicKeyAuthMethod } from "ssh2";
import { parseKnownHosts, type HostKeyRefusal } from "./known-hosts.js";
import { assertLiteralAllowed, guardedLookup, type NetworkPolicy } from "./network-guard.js";
import { parseIdentity } from "./ssh-identity.js";
import { SSH_STAND_IN_URL, SshAuthenticationError, type SshTarget } from "./ssh-remote.js";

// Git over SSH for isomorphic-git, which speaks smart HTTP only. isomorphic-git is given a stand-in http://
// URL and this HttpClient; its two requests map onto `git-upload-pack '<path>'` (or receive-pack) run in an
// exec channel of one SSH connection per Git operation, protocol v0:
//   GET  …/info/refs?service=S → the server's ref advertisement (read to its flush-pkt), behind the smart-HTTP
//                                `# service=S` preamble; a flush-pkt then tells the server we are done.
//   POST …/S                   → a fresh channel: its advertisement skipped, the request body written whole
//                                (wants, shallow/deepen, flush, haves, done), the server's answer streamed back.
// Writing the whole request at once is what makes the stateful server's turn-taking look stateless: it reads
// the wants and deepen lines to their flush, answers the shallow lines, then reads the haves that are
// already there.

export interface SshClientOptions {
  target: SshTarget;
  /** The secret's `identity` (private key, PEM) and `password` (its passphrase, if encrypted). */
  identity: string;
  password?: string;
  /** The secret's `known_hosts`: the host key must be in it, always. */
  knownHosts: string;
  network: NetworkPolicy;
  /** Bytes of one response (an advertisement or a pack); a hostile server could stream without end. */
  maxResponseBytes: number;
}

/** An HttpClient over one SSH connection, opened on the first request; `close` ends it. */
export interface SshGitClient extends HttpClient {
  close(): void;
}

/** A stalled server fails the operation instead of holding it until the deadline (as HTTP's idle timeout). */
const IDLE_TIMEOUT_MS = 60_000;
const SERVICES = new Set(["git-upload-pack", "git-receive-pack"]);
const FLUSH = Buffer.from("0000");
/** How long a closed channel may still deliver the command's exit status. */
const EXIT_STATUS_GRACE_MS = 1_000;
/** What is kept of a failing command's stderr for the error message. */
const STDERR_BYTES = 1024;

export function sshGitClient(options: SshClientOptions): SshGitClient {
  let connection: Promise<Client> | undefined;
  let client: Client | undefined;
  const connected = () => (connection ??= open(options, (c) => (client = c)));
  return {
    request: async (request) => {
      const { service, kind } = serviceOf(request);
      const command = `${service} ${shellQuote(options.target.path)}`;
      const running = await exec(await connected(), command);
      return kind === "advertisement"
        ? advertise(request, running, service, options.maxResponseBytes)
        : exchange(request, running, service, options.maxResponseBytes);
    },
    close: () => client?.end(),
  };
}

/** Connects through the network guard, checks the host key against known_hosts, logs in with the identity. */
async function open(options: SshClientOptions, created: (client: Client) => void): Promise<Client> {
  const { target, network } = options;
  // Read as Flux builds its auth method, before any connection: a bad key or known_hosts fails the same way.
  const [privateKey, knownHosts] = authMethod(() => [
    parseIdentity(options.identity, options.password),
    parseKnownHosts(options.knownHosts),
  ]);
  assertLiteralAllowed(target.host, network);
  const client = new Client();
  created(client);
  let refusal: HostKeyRefusal | undefined;
  let authenticating = false;
  const sock = tcpConnect({ host: target.host, port: target.port, lookup: guardedLookup(network) });
  sock.setTimeout(IDLE_TIMEOUT_MS, () => sock.destroy(new Error(`no data from the server for ${IDLE_TIMEOUT_MS} ms`)));
  const publicKey: PublicKeyAuthMethod = { type: "publickey", username: target.user, key: privateKey };
  const config: ConnectConfig = {
    sock,
    username: target.user,
    authHandler: [publicKey],
    readyTimeout: IDLE_TIMEOUT_MS,
    algorithms: knownHosts.algorithms.length > 0 ? { serverHostKey: knownHosts.algorithms } : undefined,
    hostVerifier: (key: Buffer) => {
      refusal = knownHosts.check(target.host, target.port, key);
      authenticating = refusal === undefined;
      return authenticating;
    },
  };
  return new Promise<Client>((resolve, reject) => {
    client.once("ready", () => resolve(client));
    // `on`, not `once`: an error after the first (or after ready) must find a listener, or the process dies.
    client.on("error", (error: Error & { level?: string }) => {
      client.end();
      sock.destroy();
      if (refusal) return reject(new Error(`ssh: handshake failed: ${refusal}`));
      if (authenticating && error.level === "client-authentication")
        return reject(
          new SshAuthenticationError(
            "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain",
          ),
        );
      reject(new Error(`ssh: ${error.message}`));
    });
    client.connect(config);
  });
}

function authMethod<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    // No `cause`: a key parser's error may quote the key.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`unable to construct auth method with options: ${(error as Error).message}`);
  }
}

/** A command's channel, and its exit status (undefined when none came). */
interface Command {
  channel: ClientChannel;
  exited: Promise<number | undefined>;
}

function exec(client: Client, command: string): Promise<Command> {
  return new Promise((resolve, reject) =>
    client.exec(command, (error, channel) => {
      if (error) return reject(new Error(`ssh: ${error.message}`));
      // Listened for here, not after an await: a command that fails at once sends its exit status in the same
      // packets as the channel's confirmation, and ssh2 emits it before any later continuation runs.
      const exited = new Promise<number | undefined>((done) => {
        channel.once("exit", (code: number | null) => done(code ?? undefined));
        // The stream may close (end of output) just before the exit status arrives; without one, give up soon.
        channel.once("close", () => setTimeout(done, EXIT_STATUS_GRACE_MS, undefined));
      });
      resolve({ channel, exited });
    }),
  );
}

/** GET …/info/refs?service=S asks for the advertisement, POST …/S for the exchange; nothing else is sent. */
function serviceOf(request: GitHttpRequest): { service: string; kind: "advertisement" | "exchange" } {
  const url = new URL(request.url);
  const base = new URL(SSH_STAND_IN_URL).pathname;
  const advertisement = request.method === "GET" && url.pathname === `${base}/info/refs`;
  const exchange = request.method === "POST" && url.pathname.startsWith(`${base}/`);
  const service = advertisement ? url.searchParams.get("service") : url.pathname.slice(base.length + 1);
  if (!(advertisement || exchange) || !service || !SERVICES.has(service))
    throw new Error(`unexpected Git request ${request.method} ${url.pathname}`);
  return { service, kind: advertisement ? "advertisement" : "exchange" };
}

/** The GET: the advertisement up to its flush-pkt, as smart HTTP serves it. */
async function advertise(
  request: GitHttpRequest,
  running: Command,
  service: string,
  maxBytes: number,
): Promise<GitHttpResponse> {
  const { channel } = running;
  const output = outputOf(running, service, maxBytes);
  const { advertisement } = await readAdvertisement(output);
  // A flush-pkt, then end of input: the server stops without sending a pack.
  channel.end(FLUSH);
  const preamble = pktLine(`# service=${service}\n`);
  return response(request, `application/x-${service}-advertisement`, list([preamble, FLUSH, advertisement]));
}

/** The POST: a fresh advertisement skipped, the request written whole, the answer streamed. */
async function exchange(
  request: GitHttpRequest,
  running: Command,
  service: string,
  maxBytes: number,
): Promise<GitHttpResponse> {
  const { channel } = running;
  const output = outputOf(running, service, maxBytes);
  const { rest } = await readAdvertisement(output);
  for await (const chunk of request.body ?? []) {
    if (!channel.write(chunk)) await new Promise((resolve) => channel.once("drain", resolve));
  }
  channel.end();
  return response(request, `application/x-${service}-result`, prepend(rest, output.chunks));
}

interface ChannelOutput {
  chunks: AsyncIterableIterator<Uint8Array>;
}

/**
 * The channel's stdout, bounded; at its end, a command that failed (non-zero exit) throws with its stderr,
 * so a missing repository reads `fatal: '…' does not appear to be a git repository`.
 */
function outputOf({ channel, exited }: Command, service: string, maxBytes: number): ChannelOutput {
  let stderr = "";
  channel.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < STDERR_BYTES) stderr += chunk.toString("utf8").slice(0, STDERR_BYTES - stderr.length);
  });
  async function* chunks(): AsyncIterableIterator<Uint8Array> {
    let bytes = 0;
    for await (const chunk of channel as AsyncIterable<Buffer>) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) {
        channel.destroy();
        throw new Error(`response exceeds ${maxBytes} bytes`);
      }
      yield chunk;
    }
    const code = await exited;
    if (code !== undefined && code !== 0) {
      const said = stderr.replace(/[^\x20-\x7e\n]/g, "").trim();
      throw new Error(`${service} exited with code ${code}${said ? `: ${said}` : ""}`);
    }
  }
  return { chunks: chunks() };
}

/**
 * pkt-lines up to and including the first flush-pkt: the advertisement, and whatever came after it in the
 * same chunk. The stream ending first is an error (the command failed or the server is not Git).
 */
async function readAdvertisement(output: ChannelOutput): Promise<{ advertisement: Buffer; rest: Buffer }> {
  let buffer = Buffer.alloc(0);
  let offset = 0;
  for (;;) {
    while (buffer.length - offset >= 4) {
      const header = buffer.toString("latin1", offset, offset + 4);
      if (!/^[0-9a-f]{4}$/i.test(header)) throw new Error(`invalid pkt-line header ${JSON.stringify(header)}`);
      const length = Number.parseInt(header, 16);
      if (length === 0) return { advertisement: buffer.subarray(0, offset + 4), rest: buffer.subarray(offset + 4) };
      if (length < 4) throw new Error(`invalid pkt-line length ${length}`);
      if (buffer.length - offset < length) break;
      offset += length;
    }
    const next = await output.chunks.next();
    if (next.done) throw new Error("the server closed the connection before its ref advertisement ended");
    buffer = Buffer.concat([buffer, next.value]);
  }
}

function pktLine(text: string): Buffer {
  const data = Buffer.from(text);
  return Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, "0")), data]);
}

function response(
  request: GitHttpRequest,
  contentType: string,
  body: AsyncIterableIterator<Uint8Array>,
): GitHttpResponse {
  return {
    url: request.url,
    method: request.method,
    statusCode: 200,
    statusMessage: "OK",
    headers: { "content-type": contentType },
    body,
  };
}

async function* list(chunks: Uint8Array[]): AsyncIterableIterator<Uint8Array> {
  yield* chunks;
}

async function* prepend(first: Uint8Array, rest: AsyncIterableIterator<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  if (first.byteLength > 0) yield first;
  yield* rest;
}

/** POSIX single quotes: `'` becomes `'\''`, nothing else is special inside them. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
