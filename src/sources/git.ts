import * as fs from "node:fs";
import { request as httpsRequest } from "node:https";
import git, { Errors, type HttpClient, type GitHttpRequest, type GitHttpResponse } from "isomorphic-git";
import nodeHttp from "isomorphic-git/http/node";
import semver from "semver";
import type { GitRepositoryRef } from "../api/gitrepository.js";

/** Credentials from a GitRepository's `secretRef`. */
export interface GitAuth {
  username?: string;
  password?: string;
  bearerToken?: string;
  caPem?: string;
}

/** What a ref points at, with the revision in Flux's format. */
export interface ResolvedRef {
  /** `main@sha1:<sha>`, `v1.0.0@sha1:<sha>`, `refs/heads/main@sha1:<sha>` or `sha1:<sha>`. */
  revision: string;
  commit: string;
  /** The full ref fetched (`refs/heads/main`, `refs/tags/v1.0.0`), absent for a bare commit. */
  refName?: string;
}

/** Flux's FetchFailed reasons. Messages never carry credentials. */
export class GitError extends Error {
  override name = "GitError";
  constructor(
    readonly reason: "AuthenticationFailed" | "GitOperationFailed",
    message: string,
  ) {
    super(message);
  }
}

/** The URL without userinfo, for anything a user or log may see. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//");
  }
}

/**
 * Which commit the ref names now, from the ref advertisement alone (no objects fetched), so an
 * unchanged remote costs one small request. Precedence as Flux: commit > name > semver > tag > branch.
 */
export async function resolveRemoteRef(url: string, ref: GitRepositoryRef, auth: GitAuth): Promise<ResolvedRef> {
  assertSupported(url);
  if (ref.commit) {
    // A pinned commit needs no advertisement; the branch only names where it is fetched from.
    return { revision: ref.branch ? `${ref.branch}@sha1:${ref.commit}` : `sha1:${ref.commit}`, commit: ref.commit, refName: ref.branch && `refs/heads/${ref.branch}` };
  }
  const refs = await gitCall(url, () => git.listServerRefs({ ...transport(url, auth), protocolVersion: 2, prefix: prefixFor(ref), peelTags: true }));
  const find = (name: string) => {
    const found = refs.find((r) => r.ref === name);
    return found && (found.peeled ?? found.oid);
  };
  if (ref.name) return resolved(ref.name, find(ref.name), ref.name, `reference '${ref.name}' not found`);
  if (ref.semver) {
    const tags = refs.filter((r) => r.ref.startsWith("refs/tags/")).map((r) => r.ref.slice("refs/tags/".length));
    const valid = tags.filter((t) => semver.valid(t, { loose: true }));
    const best = semver.maxSatisfying(valid, ref.semver, { loose: true });
    if (!best) throw new GitError("GitOperationFailed", `no match found for semver: ${ref.semver}`);
    return resolved(best, find(`refs/tags/${best}`), `refs/tags/${best}`, "");
  }
  if (ref.tag) return resolved(ref.tag, find(`refs/tags/${ref.tag}`), `refs/tags/${ref.tag}`, `unable to resolve tag '${ref.tag}' to a commit`);
  const branch = ref.branch ?? "master";
  return resolved(branch, find(`refs/heads/${branch}`), `refs/heads/${branch}`, `unable to resolve branch '${branch}': reference not found`);
}

function resolved(label: string, commit: string | undefined, refName: string, missing: string): ResolvedRef {
  if (!commit) throw new GitError("GitOperationFailed", missing);
  return { revision: `${label}@sha1:${commit}`, commit, refName };
}

function prefixFor(ref: GitRepositoryRef): string {
  if (ref.name) return ref.name;
  if (ref.semver) return "refs/tags/";
  if (ref.tag) return `refs/tags/${ref.tag}`;
  return `refs/heads/${ref.branch ?? "master"}`;
}

/**
 * Checks the ref out into `dir` (empty or absent): depth 1, one ref, no tags — except a pinned
 * commit, whose branch history is fetched so the commit can be found in it.
 */
export async function checkout(url: string, ref: GitRepositoryRef, auth: GitAuth, dir: string): Promise<ResolvedRef & { message: string }> {
  const target = await resolveRemoteRef(url, ref, auth);
  await git.init({ fs, dir, defaultBranch: "sluice" });
  await git.addRemote({ fs, dir, remote: "origin", url: maskUrl(url) });
  const pinned = Boolean(ref.commit);
  const remoteRef = target.refName ?? "HEAD";
  await gitCall(url, () =>
    git.fetch({ fs, dir, ...transport(url, auth), remoteRef, ref: remoteRef, singleBranch: true, tags: false, ...(pinned ? {} : { depth: 1 }) }),
  );
  try {
    await git.writeRef({ fs, dir, ref: "refs/heads/sluice", value: target.commit, force: true });
    await git.checkout({ fs, dir, ref: "sluice", force: true });
    const { commit } = await git.readCommit({ fs, dir, oid: target.commit });
    return { ...target, message: commit.message.trim() };
  } catch (error) {
    if (pinned) throw new GitError("GitOperationFailed", `commit '${target.commit}' not found on ${target.refName ?? "the default branch"}`);
    throw new GitError("GitOperationFailed", `checkout of ${target.revision} failed: ${sanitize((error as Error).message, url)}`);
  }
}

function assertSupported(url: string): void {
  if (/^ssh:\/\//.test(url) || /^[\w.-]+@[\w.-]+:/.test(url)) {
    throw new GitError("GitOperationFailed", `${maskUrl(url)}: SSH is not supported yet; use an https:// URL with a secretRef (username/password or bearerToken)`);
  }
  if (!/^https?:\/\//.test(url)) throw new GitError("GitOperationFailed", `${maskUrl(url)}: unsupported URL scheme; use https:// (or http://)`);
}

/** Runs a git network operation and maps its failures to Flux's reasons, without credentials. */
async function gitCall<T>(url: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof GitError) throw error;
    const status = error instanceof Errors.HttpError ? (error.data as { statusCode?: number }).statusCode : undefined;
    const detail = sanitize((error as Error).message, url);
    if (status === 401 || status === 403 || error instanceof Errors.UserCanceledError) throw new GitError("AuthenticationFailed", `failed to authenticate to ${maskUrl(url)}: HTTP ${status ?? 401}`);
    throw new GitError("GitOperationFailed", `failed to fetch from ${maskUrl(url)}: ${detail}`);
  }
}

function sanitize(message: string, url: string): string {
  return message.replaceAll(url, maskUrl(url)).replace(/\/\/[^@/\s]*@/g, "//");
}

/** URL (userinfo moved into auth), auth callbacks and headers for isomorphic-git. */
function transport(url: string, auth: GitAuth): { url: string; http: HttpClient; onAuth?: () => { username: string; password: string }; onAuthFailure?: () => { cancel: true }; headers?: Record<string, string> } {
  const parsed = new URL(url);
  const username = auth.username ?? (decodeURIComponent(parsed.username) || undefined);
  const password = auth.password ?? (decodeURIComponent(parsed.password) || undefined);
  const clean = maskUrl(url);
  const http = auth.caPem ? httpWithCa(auth.caPem) : nodeHttp;
  const headers = auth.bearerToken ? { authorization: `Bearer ${auth.bearerToken}` } : undefined;
  return {
    url: clean,
    http,
    ...(username !== undefined && { onAuth: () => ({ username, password: password ?? "" }) }),
    // Without this, a rejected credential makes isomorphic-git ask again forever.
    onAuthFailure: () => ({ cancel: true }),
    headers,
  };
}

/** An isomorphic-git HTTP client trusting an extra CA (the secret's `ca.crt`). */
function httpWithCa(caPem: string): HttpClient {
  return {
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      const chunks: Uint8Array[] = [];
      for await (const chunk of req.body ?? []) chunks.push(chunk);
      return new Promise((resolve, reject) => {
        const r = httpsRequest(req.url, { method: req.method ?? "GET", headers: req.headers, ca: caPem }, (res) => {
          resolve({
            url: req.url,
            method: req.method,
            statusCode: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? "",
            headers: res.headers as Record<string, string>,
            body: res[Symbol.asyncIterator]() as AsyncIterableIterator<Uint8Array>,
          });
        });
        r.on("error", reject);
        r.end(Buffer.concat(chunks));
      });
    },
  };
}
