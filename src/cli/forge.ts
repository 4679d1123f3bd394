// What `sluice bootstrap github|gitlab` asks of a Git forge's REST API, whichever forge it is: the calls
// go-git-providers v0.27 makes for `flux bootstrap` (get the repository, create it when missing, grant teams,
// reconcile the deploy key by title), and Sluice's own: the repository's push webhook to its Receiver.

/** The repository as the forge describes it: its clone URLs, checked by `checkedCloneUrls`. */
export interface ForgeRepository {
  /** HTTPS clone URL (what Sluice pushes the sync manifests to, and `--token-auth` syncs from). */
  httpUrl: string;
  /** `ssh://` clone URL (what the cluster syncs from with the deploy key). */
  sshUrl: string;
  created: boolean;
}

/** What a reconcile step did: nothing (already as wanted), or created/updated it. */
export type Outcome = "unchanged" | "created" | "updated";

export interface Forge {
  /** "GitHub", "GitLab": for messages. */
  readonly name: string;
  /** The repository, created (empty, with the visibility asked) when missing. */
  repository(): Promise<ForgeRepository>;
  /** Gives each team (GitHub team slug, GitLab group path) its permission on the repository, when it has none yet. */
  grantTeams(teams: Map<string, string>): Promise<Map<string, Outcome>>;
  /** The deploy key titled `title`: created, or replaced when its key or write access differs. */
  deployKey(title: string, publicKey: string, readOnly: boolean): Promise<Outcome>;
  /**
   * The push webhook to `url` with `secret`: created, or updated when `secretChanged` or it does not send pushes.
   * `others` counts the repository's other webhooks whose URL starts with `sameBase` (another Receiver of the
   * same control plane, or one left behind when the token changed: Sluice cannot tell, so it leaves them).
   */
  pushWebhook(
    url: string,
    secret: string,
    secretChanged: boolean,
    sameBase: string,
  ): Promise<{ outcome: Outcome; others: number }>;
}

/** A forge API call that failed, or an answer Sluice refuses; never holds the token. */
export class ForgeError extends Error {
  override name = "ForgeError";
  /** The HTTP status, when the API answered one. */
  status?: number;
}

/**
 * The API's clone URLs, refused unless they are what a forge hands out: `https://` (`http://` only when
 * allowed) on the forge's host, and `ssh://` or scp-like `user@host:path` on its SSH host. A hostile or
 * confused API could otherwise point the push, and the cluster, at `file://`, `ext::` or another server.
 * scp-like URLs are rewritten as `ssh://` (what a GitRepository admits).
 */
export function checkedCloneUrls(
  forge: string,
  answer: { httpUrl: unknown; sshUrl: unknown },
  hosts: { http: string; ssh: string; allowHttp: boolean },
): { httpUrl: string; sshUrl: string } {
  const refuse = (field: string, value: unknown, why: string) =>
    new ForgeError(
      `${forge} API answered a clone URL this bootstrap will not use (${field} ${JSON.stringify(String(value).slice(0, 200))}): ${why}`,
    );
  if (typeof answer.httpUrl !== "string") throw refuse("HTTPS", answer.httpUrl, "not a string");
  const http = parseUrl(answer.httpUrl);
  if (!http || !(http.protocol === "https:" || (hosts.allowHttp && http.protocol === "http:")))
    throw refuse("HTTPS", answer.httpUrl, hosts.allowHttp ? "not http(s)://" : "not https://");
  if (http.host.toLowerCase() !== hosts.http.toLowerCase())
    throw refuse("HTTPS", answer.httpUrl, `not on ${hosts.http}`);
  if (http.username || http.password || http.search || http.hash)
    throw refuse("HTTPS", answer.httpUrl, "credentials, a query or a fragment in it");
  if (typeof answer.sshUrl !== "string") throw refuse("SSH", answer.sshUrl, "not a string");
  const sshUrl = asSshUrl(answer.sshUrl);
  const ssh = sshUrl && parseUrl(sshUrl);
  if (!ssh || ssh.protocol !== "ssh:" || !ssh.username || ssh.password)
    throw refuse("SSH", answer.sshUrl, "not ssh:// or user@host:path");
  if (ssh.hostname.toLowerCase() !== hosts.ssh.toLowerCase()) throw refuse("SSH", answer.sshUrl, `not on ${hosts.ssh}`);
  return { httpUrl: http.href, sshUrl: ssh.href };
}

function parseUrl(text: string): URL | undefined {
  if (/[\s\\]/.test(text)) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** `git@host:owner/repo.git` → `ssh://git@host/owner/repo.git`; `ssh://` as it is; anything else undefined. */
function asSshUrl(text: string): string | undefined {
  if (text.startsWith("ssh://")) return text;
  const scp = /^([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+):(?!\/\/)([^\s:]+)$/.exec(text);
  return scp ? `ssh://${scp[1]}@${scp[2]}/${scp[3]!.replace(/^\/+/, "")}` : undefined;
}

/** Secrets a forge may echo back are masked out of its error messages. */
export function masked(text: string, secrets: string[]): string {
  return secrets.filter(Boolean).reduce((t, secret) => t.replaceAll(secret, "***"), text);
}

/** Public keys compare by type and base64 body: forges drop or change the comment. */
export function sameKey(a: string | undefined, b: string): boolean {
  const body = (key: string) => key.trim().split(/\s+/).slice(0, 2).join(" ");
  return a !== undefined && body(a) === body(b);
}

/** For `.catch`: a 404 from the API is `value` (the thing is missing), anything else is rethrown. */
export function notFoundAs<T>(value: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof ForgeError && error.status === 404) return value;
    throw error;
  };
}
