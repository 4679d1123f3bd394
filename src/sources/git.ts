import fs from "node:fs";
import { mkdir } from "node:fs/promises";
import git, { Errors, type AuthCallback, type HttpClient, type ServerRef } from "isomorphic-git";
import semver from "semver";
import { formatDuration } from "../api/duration.js";
import type { GitRepositoryRef } from "../api/gitrepository.js";
import { REASON } from "../api/reasons.js";
import { defaultExtractLimits, type ExtractLimits } from "../artifacts/extract.js";
import { withPushOptions } from "./git-push-options.js";
import type { MemoryTree } from "../artifacts/memory-tree.js";
import { advertisedRefs, fetchShallow, type FetchTransport } from "./git-fetch.js";
import { dropKeptObjects, loadKeptObjects, saveKeptObjects, type KeptObjects } from "./git-kept-objects.js";
import { BadPackError, type GitObject } from "./git-pack.js";
import {
  MissingObjectError,
  reachableObjects,
  readCommitTree,
  treeFromObjects,
  writeCommitTree,
  type WriteTreeOptions,
} from "./git-tree.js";
import type { NetworkPolicy } from "./network-guard.js";
import { sourceHttpClient } from "./source-http.js";
import { isSshUrl, parseSshUrl, SSH_STAND_IN_URL, SshAuthenticationError, sshAuthProblem } from "./ssh-remote.js";

/** `spec.ref` of a GitRepository. */
export type GitRef = GitRepositoryRef;

/**
 * Credentials from the GitRepository's `secretRef` (Flux keys: username, password, bearerToken, ca.crt; over SSH
 * identity, known_hosts, and password as the identity's passphrase).
 */
export interface GitAuth {
  username?: string;
  password?: string;
  bearerToken?: string;
  caPem?: string;
  /** Private key (PEM) for Git over SSH. */
  identity?: string;
  /** The SSH server's host keys, OpenSSH's known_hosts format; required over SSH. */
  knownHosts?: string;
}

/** Where a repository is and how to reach it. */
export interface GitRemote {
  url: string;
  auth: GitAuth;
  /**
   * Which addresses may be connected to (Settings.allowPrivateNetworks); checked on every connection, redirects
   * included.
   */
  network: NetworkPolicy;
  /** Bound on each Git operation, listing refs or checking out (Flux's `spec.timeout`). @default none */
  timeoutMs?: number;
}

/** A remote during one operation: one client for its requests, which stop once the deadline has passed. */
interface BoundRemote extends GitRemote {
  deadline?: AbortSignal;
  http: HttpClient;
}

export interface ResolvedRef {
  /** Flux artifact revision, e.g. `main@sha1:<sha>`, `refs/heads/main@sha1:<sha>`, `sha1:<sha>`. */
  revision: string;
  /** Full sha1 of the commit, hex. */
  commit: string;
  /** Full ref name the revision came from, when there is one. */
  refName?: string;
}

/** source-controller's reasons for a failed Git operation. */
export type GitErrorReason = typeof REASON.authenticationFailed | typeof REASON.gitOperationFailed;

/** A failed Git operation; the message never holds credentials. */
export class GitError extends Error {
  override name = "GitError";
  constructor(
    readonly reason: GitErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Masks the credentials of every URL in `text`: userinfo is dropped (`https://user:pass@host/x` →
 * `https://host/x`) and credential-looking query values are replaced (`?access_token=***`).
 */
export function maskUrl(text: string): string {
  const maskParam = (param: string, separator: string, name: string) =>
    isCredentialName(name) ? `${separator}${name}=***` : param;
  return text.replace(USERINFO, "$1").replace(QUERY_PARAM, maskParam);
}

// Greedy up to the host: a password may itself hold an unencoded `@`.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s?#]*@/gi;
const QUERY_PARAM = /([?&;])([^=&;#?\s]+)=([^&;#\s'"]*)/g;
// access_token, private_token, client_secret, password, X-Amz-Signature/Credential/Security-Token, sig (Azure SAS),
// api_key...
const CREDENTIAL_NAME = /token|secret|passw|signature|credential|auth|session|api[-_]?key|^x-amz-|^(key|sig|pwd|pass)$/;

function isCredentialName(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // a malformed escape: judge the name as written
  }
  return CREDENTIAL_NAME.test(decoded.toLowerCase());
}
const FULL_SHA = /^[0-9a-f]{40}$/;

/**
 * Which commit the ref points at now, from the ref advertisement alone (no objects fetched).
 * undefined when the advertisement cannot tell: a short commit sha, or a ref that is not
 * advertised (checkout then gives the definitive answer or error). A full commit sha needs no
 * network at all: it is the answer.
 */
export async function resolveRemoteRef(remote: GitRemote, ref: GitRef | undefined): Promise<ResolvedRef | undefined> {
  validate(remote);
  const target = targetOf(ref);
  if (target.kind === "commit") return FULL_SHA.test(target.commit) ? pinned(target, target.commit) : undefined;
  const refs = await guarded(remote, "list refs of", (bound) => listRefs(bound, target));
  const found = locate(target, refs);
  return found && { revision: revision(found.label, found.commit), commit: found.commit, refName: found.refName };
}

/**
 * Fetches the ref into `dir` (empty or missing) at depth 1, one ref, no tags, and writes its tree
 * (regular files and directories only, see writeCommitTree) next to `.git`, within `limits`. A
 * pinned commit needs its branch's history (as in Flux), so that one is not shallow.
 */
export async function checkout(
  remote: GitRemote,
  ref: GitRef | undefined,
  dir: string,
  limits: ExtractLimits = defaultExtractLimits,
): Promise<ResolvedRef & { message?: string }> {
  const { revision, commit, refName, message } = await fetchTree(remote, ref, dir, limits, writeCommitTree);
  return { revision, commit, refName, message };
}

/**
 * checkout's result with the tree read into memory (same checks and bounds) instead of written: what a
 * GitRepository's artifact is archived from. A branch, tag, semver range or ref name is fetched at depth 1 straight
 * into memory (git-fetch.ts), nothing written; a pinned commit, which needs its branch's history, goes through
 * isomorphic-git's object store in `dir`. `keep`: a folder of this GitRepository's own where the fetched commit's
 * objects are kept, so that the next fetch of a branch, tag, semver range or ref name receives only what changed.
 */
export function checkoutInMemory(
  remote: GitRemote,
  ref: GitRef | undefined,
  dir: string,
  limits: ExtractLimits = defaultExtractLimits,
  keep?: string,
): Promise<ResolvedRef & { message?: string; tree: MemoryTree }> {
  const target = targetOf(ref);
  if (target.kind === "commit") return fetchTree(remote, ref, dir, limits, readCommitTree);
  validate(remote);
  const maxBytes = limits.maxBytes ?? defaultExtractLimits.maxBytes;
  return guarded(
    remote,
    "check out",
    async (bound) => {
      const wire = transport(bound);
      const { refs } = await advertisedRefs(wire);
      if (refs.length === 0)
        throw new GitError(REASON.gitOperationFailed, `git repository ${maskUrl(remote.url)} is empty`);
      const found = target.kind === "semver" ? await chooseTag(bound, target, refs) : locate(target, refs);
      if (!found) throw new Error(`couldn't find remote ref ${refNameOf(target as NamedTarget)}`);
      // The ref's own object: a server gives what it advertised, and an annotated tag is peeled here.
      const want = refs.find((r) => r.ref === found.refName)!.oid;
      const kept = keep === undefined ? undefined : { folder: keep, url: remote.url };
      const { commit, message, tree } = await fetchCommitTree(wire, want, limits, kept);
      return { revision: revision(found.label, commit), commit, refName: found.refName, message, tree };
    },
    maxBytes,
  );
}

/**
 * `want`'s commit and tree at depth 1; with `keep`, on top of the objects kept there from the previous fetch
 * (of the same URL), which the commit's objects then replace. Kept objects that do not complete the commit
 * (lost or damaged since, or a server that deltas against what it should not) mean one fetch of the whole commit.
 */
async function fetchCommitTree(
  wire: FetchTransport,
  want: string,
  limits: ExtractLimits,
  keep?: { folder: string; url: string },
): Promise<{ commit: string; message: string; tree: MemoryTree }> {
  const maxBytes = limits.maxBytes ?? defaultExtractLimits.maxBytes;
  const read = async (kept?: KeptObjects) => {
    const fetched = await fetchShallow(wire, want, maxBytes, kept);
    const objects = kept ? new Map([...kept.objects, ...fetched]) : fetched;
    const { commit, message } = peeledCommit(objects, want);
    return { objects, commit, message, tree: await treeFromObjects(objects, { oid: commit, limits }) };
  };
  if (!keep) return read();
  const kept = await loadKeptObjects(keep.folder, keep.url, maxBytes);
  let result;
  try {
    result = await read(kept);
  } catch (error) {
    if (!kept || !(error instanceof BadPackError || error instanceof MissingObjectError)) throw error;
    await dropKeptObjects(keep.folder);
    result = await read();
  }
  if (result.commit !== kept?.commit) await keepObjects(keep, result.commit, result.objects, maxBytes);
  return result;
}

/** Keeps the commit's objects for the next fetch; keeping is only a shortcut, so a failure just keeps none. */
async function keepObjects(
  keep: { folder: string; url: string },
  commit: string,
  fetched: Map<string, GitObject>,
  maxBytes: number,
): Promise<void> {
  const objects = reachableObjects(fetched, commit);
  let bytes = 0;
  for (const object of objects.values()) bytes += object.data.length;
  const saved =
    bytes <= maxBytes &&
    (await saveKeptObjects(keep.folder, keep.url, { commit, objects }).then(
      () => true,
      () => false,
    ));
  if (!saved) await dropKeptObjects(keep.folder).catch(() => undefined);
}

/** The commit `oid` is or (through annotated tags) points to, and its message. */
function peeledCommit(objects: Map<string, GitObject>, oid: string): { commit: string; message: string } {
  for (let depth = 0, at = oid; depth < 16; depth++) {
    const object = objects.get(at);
    const text = object?.data.toString("utf8");
    if (object?.type === "commit") return { commit: at, message: text!.slice(text!.indexOf("\n\n") + 2) };
    const target = object?.type === "tag" ? /^object ([0-9a-f]{40})\n/.exec(text!)?.[1] : undefined;
    if (!target) throw new MissingObjectError(`${at} is not a commit or a tag in the fetched pack`);
    at = target;
  }
  throw new Error(`${oid}: too many nested tags`);
}

async function fetchTree<T>(
  remote: GitRemote,
  ref: GitRef | undefined,
  dir: string,
  limits: ExtractLimits,
  materialise: (options: WriteTreeOptions) => Promise<T>,
): Promise<ResolvedRef & { message?: string; tree: T }> {
  validate(remote);
  const target = targetOf(ref);
  return guarded(
    remote,
    "check out",
    async (bound) => {
      await mkdir(dir, { recursive: true });
      await git.init({ fs, dir });
      // isomorphic-git records fetched refs through the remote's refspec; keep credentials off disk.
      await git.addRemote({ fs, dir, remote: "origin", url: maskUrl(remote.url) });
      const fetched =
        target.kind === "commit" ? await fetchCommit(bound, target, dir) : await fetchRef(bound, target, dir);
      const cache = {};
      // An annotated tag's oid reads as the commit it points to.
      const { oid: commit, commit: parsed } = await git.readCommit({ fs, dir, oid: fetched.oid, cache });
      const tree = await materialise({ dir, oid: commit, limits, cache });
      const resolved = { revision: revision(fetched.label, commit), commit, refName: fetched.refName };
      return { ...resolved, message: parsed.message, tree };
    },
    limits.maxBytes ?? defaultExtractLimits.maxBytes,
  );
}

type Target =
  | { kind: "commit"; commit: string; branch?: string }
  | { kind: "name"; name: string }
  | { kind: "semver"; range: string }
  | { kind: "tag"; tag: string }
  | { kind: "branch"; branch: string };
type NamedTarget = Exclude<Target, { kind: "commit" | "semver" }>;
type RefTarget = Exclude<Target, { kind: "commit" }>;

/**
 * Flux's precedence (as documented): commit > name > semver > tag > branch; no ref at all means
 * branch `master`. A commit may be written in either case (go-git decodes hex either way); Git names
 * objects in lower case.
 */
function targetOf(ref: GitRef | undefined): Target {
  if (ref?.commit) return { kind: "commit", commit: ref.commit.toLowerCase(), branch: ref.branch };
  if (ref?.name) return { kind: "name", name: ref.name };
  if (ref?.semver) return { kind: "semver", range: ref.semver };
  if (ref?.tag) return { kind: "tag", tag: ref.tag };
  return { kind: "branch", branch: ref?.branch ?? "master" };
}

/** Flux's revision: `<label>@sha1:<sha>`, or `sha1:<sha>` for a commit pinned without a branch. */
function revision(label: string | undefined, commit: string): string {
  return label ? `${label}@sha1:${commit}` : `sha1:${commit}`;
}

function pinned(target: Extract<Target, { kind: "commit" }>, commit: string): ResolvedRef {
  return { revision: revision(target.branch, commit), commit, refName: target.branch && `refs/heads/${target.branch}` };
}

function refNameOf(target: NamedTarget): string {
  if (target.kind === "branch") return `refs/heads/${target.branch}`;
  if (target.kind === "tag") return `refs/tags/${target.tag}`;
  return target.name;
}

/** Branches and tags are labelled by their short name, `name` by the full ref (Flux's AbsoluteReference). */
function labelOf(target: NamedTarget): string {
  return target.kind === "branch" ? target.branch : target.kind === "tag" ? target.tag : target.name;
}

interface Located {
  refName: string;
  label: string;
  commit: string;
}

/**
 * The refs `target` may name, from the same v0 advertisement the depth-1 fetch reads (one request, where
 * isomorphic-git's protocol v2 listing takes two).
 */
async function listRefs(remote: BoundRemote, target: RefTarget): Promise<ServerRef[]> {
  const { refs } = await advertisedRefs(transport(remote));
  const prefix = target.kind === "semver" ? "refs/tags/" : refNameOf(target);
  return refs.filter((r) => r.ref.startsWith(prefix));
}

/** Annotated tags resolve to the commit they point to (the peeled `^{}` entry). */
function locate(target: RefTarget, refs: ServerRef[]): Located | undefined {
  if (target.kind === "semver") return highestTag(target.range, refs);
  const refName = refNameOf(target);
  const found = refs.find((r) => r.ref === refName);
  return found && { refName, label: labelOf(target), commit: found.peeled ?? found.oid };
}

/**
 * The highest tag (optional `v` prefix, as Flux accepts) in the range. Flux's ranges are
 * Masterminds/semver's, where a comma means AND; node-semver spells that with a space.
 */
function highestTag(range: string, refs: ServerRef[]): Located | undefined {
  const valid = semver.validRange(range.replaceAll(",", " "));
  if (!valid) throw new GitError(REASON.gitOperationFailed, `semver parse error: invalid range '${range}'`);
  let best: (Located & { version: semver.SemVer }) | undefined;
  for (const r of refs) {
    const tag = r.ref.slice("refs/tags/".length);
    const version = r.ref.startsWith("refs/tags/") ? semver.parse(tag) : null;
    if (!version || !semver.satisfies(version, valid)) continue;
    if (!best || semver.gt(version, best.version))
      best = { refName: r.ref, label: tag, commit: r.peeled ?? r.oid, version };
  }
  return best;
}

interface Fetched {
  oid: string;
  label?: string;
  refName?: string;
}

async function fetchRef(remote: BoundRemote, target: RefTarget, dir: string): Promise<Fetched> {
  const { refName, label } =
    target.kind === "semver" ? await chooseTag(remote, target) : { refName: refNameOf(target), label: labelOf(target) };
  const { fetchHead } = await git.fetch({
    fs,
    dir,
    ...transport(remote),
    remoteRef: refName,
    singleBranch: true,
    depth: 1,
    tags: false,
  });
  if (!fetchHead) throw new GitError(REASON.gitOperationFailed, `git repository ${maskUrl(remote.url)} is empty`);
  return { oid: fetchHead, label, refName };
}

async function chooseTag(
  remote: BoundRemote,
  target: Extract<Target, { kind: "semver" }>,
  refs?: ServerRef[],
): Promise<Located> {
  const found = locate(target, refs ?? (await listRefs(remote, target)));
  if (!found)
    throw new GitError(
      REASON.gitOperationFailed,
      `no match found for semver: ${target.range} in ${maskUrl(remote.url)}`,
    );
  return found;
}

/** Without a branch, every branch is fetched: the commit may be on any of them. */
async function fetchCommit(
  remote: BoundRemote,
  target: Extract<Target, { kind: "commit" }>,
  dir: string,
): Promise<Fetched> {
  const { refName } = pinned(target, target.commit);
  await git.fetch({
    fs,
    dir,
    ...transport(remote),
    remoteRef: refName,
    singleBranch: Boolean(refName),
    tags: false,
  });
  const where = target.branch ? `branch '${target.branch}' of ${maskUrl(remote.url)}` : maskUrl(remote.url);
  const oid = await git.expandOid({ fs, dir, oid: target.commit }).catch(() => {
    throw new GitError(REASON.gitOperationFailed, `commit '${target.commit}' not found in ${where}`);
  });
  return { oid, label: target.branch, refName };
}

/** HTTP(S), or ssh:// with Flux's required SSH keys (Flux's API admits no scp-like `host:path`). */
function validate({ url, auth }: GitRemote): void {
  if (isSshUrl(url)) {
    const problem = sshAuthProblem(auth);
    if (problem) throw new GitError(REASON.authenticationFailed, problem);
    try {
      parseSshUrl(url);
    } catch (error) {
      throw new GitError(REASON.gitOperationFailed, `${maskUrl(url)}: ${(error as Error).message}`);
    }
    return;
  }
  if (!/^https?:\/\//i.test(url))
    throw new GitError(
      REASON.gitOperationFailed,
      `unsupported Git URL ${maskUrl(url)}: must start with https://, http:// or ssh://`,
    );
  if (auth.bearerToken && (auth.username || auth.password)) {
    throw new GitError(REASON.gitOperationFailed, "basic auth and bearer token cannot be set at the same time");
  }
}

/** Fresh per call: isomorphic-git writes the negotiated Authorization into `headers`. */
function transport({ url, auth, http }: BoundRemote): {
  http: HttpClient;
  url: string;
  headers: Record<string, string>;
  onAuth?: AuthCallback;
} {
  if (isSshUrl(url)) return { http, url: SSH_STAND_IN_URL, headers: {} };
  const basic = auth.username || auth.password;
  return {
    http,
    url,
    headers: auth.bearerToken ? { Authorization: `Bearer ${auth.bearerToken}` } : {},
    onAuth: basic ? () => ({ username: auth.username, password: auth.password }) : undefined,
  };
}

/**
 * Runs one Git operation within the remote's timeout, over one client (over SSH, one connection, closed at
 * the end); any failure becomes a GitError naming the action. A pack is never larger than the tree it
 * carries, so the checkout's byte bound bounds each response too.
 */
async function guarded<T>(
  remote: GitRemote,
  action: string,
  run: (bound: BoundRemote) => Promise<T>,
  maxResponseBytes = defaultExtractLimits.maxBytes,
): Promise<T> {
  const { timeoutMs } = remote;
  const deadline = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  let close: (() => void) | undefined;
  try {
    const client = await gitClient(remote, maxResponseBytes);
    close = client.close;
    const http = deadline ? until(deadline, client) : client;
    const work = run({ ...remote, deadline, http });
    return await (deadline ? withinDeadline(work, deadline, timeoutMs!) : work);
  } catch (error) {
    throw toGitError(error, remote, action);
  } finally {
    close?.();
  }
}

/** The HTTP(S) client, or for ssh:// an SSH transport in its shape (the SSH library is loaded only then). */
async function gitClient(
  { url, auth, network }: GitRemote,
  maxResponseBytes: number,
): Promise<HttpClient & { close?: () => void }> {
  if (!isSshUrl(url)) return sourceHttpClient({ network, caPem: auth.caPem, maxResponseBytes });
  const { sshGitClient } = await import("./git-ssh.js");
  return sshGitClient({
    target: parseSshUrl(url),
    identity: auth.identity ?? "",
    password: auth.password,
    knownHosts: auth.knownHosts ?? "",
    network,
    maxResponseBytes,
  });
}

/**
 * The operation's result, or a timeout once the deadline passes (as a context deadline ends a Flux
 * clone). The abandoned operation stops at its next request or response chunk (see `until`).
 */
function withinDeadline<T>(work: Promise<T>, deadline: AbortSignal, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const expired = () => reject(new Error(`timed out after ${formatDuration(timeoutMs)} (spec.timeout)`));
    deadline.addEventListener("abort", expired, { once: true });
    void work.then(resolve, reject).finally(() => deadline.removeEventListener("abort", expired));
  });
}

/** An HTTP client that refuses to go on once `deadline` has passed: no new request, no further chunk. */
function until(deadline: AbortSignal, client: HttpClient): HttpClient {
  return {
    request: async (request) => {
      deadline.throwIfAborted();
      const response = await client.request(request);
      return { ...response, body: response.body && stopping(deadline, response.body) };
    },
  };
}

async function* stopping(
  deadline: AbortSignal,
  body: AsyncIterableIterator<Uint8Array>,
): AsyncIterableIterator<Uint8Array> {
  for await (const chunk of body) {
    deadline.throwIfAborted();
    yield chunk;
  }
}

/**
 * 401/403 and an SSH server refusing the identity are authentication failures; anything else is a failed
 * operation. No `cause`: it may carry credentials.
 */
function toGitError(error: unknown, { url, auth }: GitRemote, action: string): GitError {
  if (error instanceof GitError) return error;
  const status = error instanceof Errors.HttpError ? error.data.statusCode : undefined;
  const refused = status === 401 || status === 403 || error instanceof SshAuthenticationError;
  const reason = refused ? REASON.authenticationFailed : REASON.gitOperationFailed;
  const message = sanitise(error instanceof Error ? error.message : String(error), auth);
  return new GitError(reason, `failed to ${action} ${maskUrl(url)}: ${message}`);
}

/** Masks URL userinfo and every literal occurrence of a secret (raw or URL-encoded). */
function sanitise(message: string, auth: GitAuth): string {
  const secrets = [auth.password, auth.bearerToken].filter((s): s is string => Boolean(s));
  return secrets
    .flatMap((s) => [s, encodeURIComponent(s)])
    .reduce((text, secret) => text.replaceAll(secret, "***"), maskUrl(message));
}

/** Who commits: Flux's `spec.git.commit.author`, also the committer. */
export interface CommitAuthor {
  name: string;
  email: string;
}

/**
 * Commits new contents of files of a checkout (`dir`, made by checkout) on top of `parent`, without an index:
 * the changed blobs and the trees above them are written, every other entry is kept as it was; a path that does
 * not exist yet is added (with its folders). Without `parent`, `dir` becomes a repository and the commit is a
 * root commit holding `files` alone. `files` maps `/`-separated paths from the root to their new contents.
 * Returns the new commit.
 */
export async function commitFiles(options: {
  dir: string;
  parent?: string;
  files: Map<string, string>;
  author: CommitAuthor;
  message: string;
  when: Date;
}): Promise<string> {
  const { dir, parent, author, message, when } = options;
  const cache = {};
  if (!parent) await git.init({ fs, dir });
  const root = parent && (await git.readCommit({ fs, dir, oid: parent, cache })).commit.tree;
  const updates = [...options.files].map(([path, content]) => ({ path: path.split("/"), content }));
  const tree = await rewriteTree(dir, root, updates, cache);
  const signature = { ...author, timestamp: Math.floor(when.getTime() / 1000), timezoneOffset: 0 };
  return git.writeCommit({
    fs,
    dir,
    commit: { message, tree, parent: parent ? [parent] : [], author: signature, committer: signature },
  });
}

/** `oid` with `updates` written into it; undefined `oid` is an empty tree. */
async function rewriteTree(
  dir: string,
  oid: string | undefined,
  updates: { path: string[]; content: string }[],
  cache: object,
): Promise<string> {
  const tree = oid ? (await git.readTree({ fs, dir, oid, cache })).tree : [];
  const present = new Set(tree.map((entry) => entry.path));
  const added = [...new Set(updates.map((u) => u.path[0]!))]
    .filter((name) => !present.has(name))
    .map((name) => {
      const mine = updates.filter((u) => u.path[0] === name);
      const folder = mine.some((u) => u.path.length > 1);
      return { mode: folder ? "040000" : "100644", path: name, oid: "", type: folder ? "tree" : "blob" } as const;
    });
  const entries = await Promise.all(
    [...tree, ...added].map(async (entry) => {
      const mine = updates.filter((u) => u.path[0] === entry.path);
      if (mine.length === 0) return entry;
      const leaf = mine.find((u) => u.path.length === 1);
      if (leaf && entry.type === "blob")
        return { ...entry, oid: await git.writeBlob({ fs, dir, blob: Buffer.from(leaf.content) }) };
      if (entry.type !== "tree") throw new Error(`cannot update ${mine[0]!.path.join("/")}: not a file in the commit`);
      const below = mine.map((u) => ({ ...u, path: u.path.slice(1) }));
      return { ...entry, oid: await rewriteTree(dir, entry.oid || undefined, below, cache) };
    }),
  );
  return git.writeTree({ fs, dir, tree: entries });
}

/**
 * Pushes `commit` to `remoteRef` of the remote, never forced: a remote that moved meanwhile rejects it
 * (a GitError). `remoteRef` is a full ref name (`refs/heads/main`). `pushOptions` (`key=value` lines, see
 * pushOptionLines) go with it when the server takes push options.
 */
export async function pushCommit(
  remote: GitRemote,
  dir: string,
  commit: string,
  remoteRef: string,
  pushOptions: string[] = [],
): Promise<void> {
  validate(remote);
  await guarded(remote, `push to '${remoteRef}' of`, async (bound) => {
    const localRef = "refs/sluice/push";
    await git.writeRef({ fs, dir, ref: localRef, value: commit, force: true });
    const http = pushOptions.length > 0 ? withPushOptions(bound.http, pushOptions) : bound.http;
    const result = await git.push({ fs, dir, ...transport({ ...bound, http }), ref: localRef, remoteRef });
    const refResult = result.refs[remoteRef];
    if (!result.ok || (refResult && !refResult.ok))
      throw new Error(`the remote refused the update: ${refResult?.error ?? result.error ?? "unknown reason"}`);
  });
}
