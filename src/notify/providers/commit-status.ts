import { createHash } from "node:crypto";
import { REASON } from "../../api/reasons.js";
import type { FluxEvent } from "../events.js";
import { jsonRequest } from "../payloads.js";
import { expectSuccess, PostError } from "../post.js";
import { answerJson, basicAuth } from "./answers.js";
import type { Deliver } from "./delivery.js";
import { gitAddress } from "./git-address.js";
import { giteaApi, gitlabProject } from "./forge-api.js";
import { githubApi } from "./github-api.js";

// Git commit statuses, as notification-controller v1.9.3 sets them (internal/notifier/{github,gitlab,
// gitea,bitbucketserver,util}.go) through each forge's SDK (go-github v64, GitLab client-go v1.46,
// Gitea SDK v0.25.1, Bitbucket Server's REST API): the commit from the event's revision, success or
// failure from its severity, the description from its reason ("ReconciliationSucceeded" →
// "reconciliation succeeded"), the Provider's status key as the status' name; the commit's statuses
// are read first and nothing is posted when the key already has this state and description.
// Progressing events are skipped (Gitea's become `pending`).

const PROGRESSING = REASON.progressing;

/**
 * The commit of the event's revision (`main@sha1:<hash>`, or the legacy `main/<hash>`): Flux's
 * parseRevision, which takes 40 characters as a SHA-1; Sluice also asks for hex, since the hash
 * goes into the API's URL.
 */
export function commitOf(event: FluxEvent): string {
  const revision = event.metadata.commit ?? event.metadata.originRevision ?? event.metadata.revision;
  if (revision === undefined) throw new PostError("missing revision metadata");
  const colon = revision.lastIndexOf(":");
  const hash = colon >= 0 ? revision.slice(colon + 1) : revision.slice(revision.lastIndexOf("/") + 1);
  if (!/^[0-9a-f]{40}$/i.test(hash)) throw new PostError(`failed to extract commit hash from '${revision}' revision`);
  return hash;
}

/** `kustomization/podinfo` and the reason in lower-case words, as Flux's formatNameAndDescription writes them. */
export function nameAndDescription(event: FluxEvent): { name: string; description: string } {
  const { kind, name } = event.involvedObject;
  return {
    name: `${kind}/${name}`.toLowerCase(),
    description: splitCamelCase(event.reason).join(" ").toLowerCase(),
  };
}

/** fatih/camelcase's Split, which Flux's splitCamelcase is: runs of one character class, an upper letter moved to the lower run after it. */
function splitCamelCase(text: string): string[] {
  const classOf = (c: string) => (/\p{Ll}/u.test(c) ? 1 : /\p{Lu}/u.test(c) ? 2 : /\p{Nd}/u.test(c) ? 3 : 4);
  const runs: string[][] = [];
  let last = 0;
  for (const c of text) {
    const current = classOf(c);
    if (current === last) runs[runs.length - 1]!.push(c);
    else runs.push([c]);
    last = current;
  }
  for (let i = 0; i < runs.length - 1; i++) {
    if (classOf(runs[i]![0]!) === 2 && classOf(runs[i + 1]![0]!) === 1) runs[i + 1]!.unshift(runs[i]!.pop()!);
  }
  return runs.filter((run) => run.length > 0).map((run) => run.join(""));
}

const SEVERITY_STATES = {
  github: { info: "success", error: "failure" },
  gitlab: { info: "success", error: "failed" },
  gitea: { info: "success", error: "failure" },
  bitbucketserver: { info: "SUCCESSFUL", error: "FAILED" },
  bitbucket: { info: "SUCCESSFUL", error: "FAILED" },
} as const;

/** github.go: GET the commit's statuses (50), POST a status unless the key's latest has this state and description. */
const github: Deliver = async (event, context) => {
  const { base, repoPath, headers } = githubApi(context);
  if (event.reason === PROGRESSING) return;
  const sha = commitOf(event);
  const state = SEVERITY_STATES.github[event.severity];
  const { description } = nameAndDescription(event);
  const listed = await context.send({
    method: "GET",
    url: new URL(`${repoPath}/commits/${sha}/statuses?per_page=50`, base),
    headers,
    body: Buffer.alloc(0),
  });
  expectSuccess(listed, (failed) => `could not list commit statuses: ${failed}`);
  const statuses = answerJson(listed, "commit statuses");
  const latest = Array.isArray(statuses)
    ? (statuses as Record<string, unknown>[]).find(
        (s) => s.context === context.commitStatus && typeof s.state === "string" && typeof s.description === "string",
      )
    : undefined;
  if (latest?.state === state && latest.description === description) return;
  const created = await context.send(
    jsonRequest(
      new URL(`${repoPath}/statuses/${sha}`, base),
      { state, description, context: context.commitStatus },
      headers,
    ),
  );
  expectSuccess(created, (failed) => `could not create commit status: ${failed}`);
};

/** gitlab.go: GET the commit's statuses named by the key, POST a status unless one has this state and description. */
const gitlab: Deliver = async (event, context) => {
  const { project, headers } = gitlabProject(context);
  if (event.reason === PROGRESSING) return;
  const sha = commitOf(event);
  const state = SEVERITY_STATES.gitlab[event.severity];
  const { description } = nameAndDescription(event);
  const listed = await context.send({
    method: "GET",
    url: new URL(
      `${project}/repository/commits/${sha}/statuses?${new URLSearchParams({ name: context.commitStatus })}`,
    ),
    headers,
    body: Buffer.alloc(0),
  });
  expectSuccess(listed, (failed) => `unable to list commit status: ${failed}`);
  const statuses = answerJson(listed, "commit statuses");
  const duplicate =
    Array.isArray(statuses) &&
    (statuses as Record<string, unknown>[]).some(
      (s) => s.sha === sha && s.status === state && s.description === description && s.name === context.commitStatus,
    );
  if (duplicate) return;
  const created = await context.send(
    jsonRequest(new URL(`${project}/statuses/${sha}`), { state, name: context.commitStatus, description }, headers),
  );
  expectSuccess(created);
};

/** gitea.go: the SDK's server version check (1.11 or later), then like GitHub; Progressing events are `pending`. */
const gitea: Deliver = async (event, context) => {
  const { repoPath, headers, checkVersion } = giteaApi(context);
  await checkVersion();
  const sha = commitOf(event);
  const state = event.reason === PROGRESSING ? "pending" : SEVERITY_STATES.gitea[event.severity];
  const { description } = nameAndDescription(event);
  const listed = await context.send({
    method: "GET",
    url: new URL(`${repoPath}/commits/${sha}/statuses?limit=50&page=1`),
    headers,
    body: Buffer.alloc(0),
  });
  expectSuccess(listed, (failed) => `could not list commit statuses: ${failed}`);
  const statuses = answerJson(listed, "commit statuses");
  const latest = Array.isArray(statuses)
    ? (statuses as Record<string, unknown>[]).find(
        (s) => s.context && s.state && s.description && s.context === context.commitStatus,
      )
    : undefined;
  if (latest?.state === state && latest.description === description) return;
  const created = await context.send(
    jsonRequest(
      new URL(`${repoPath}/statuses/${sha}`),
      { state, target_url: "", description, context: context.commitStatus },
      { authorization: headers.authorization },
    ),
  );
  expectSuccess(created);
};

/** The build-status URL of a Bitbucket Server clone address (`…/scm/<project>/<repo>.git`), as Flux's parseBitbucketServerGitAddress builds it. */
function bitbucketServerCommits(url: URL): URL {
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new PostError(
      `could not parse git address: unsupported scheme type in address: ${url.protocol.slice(0, -1)}. Must be http or https`,
    );
  const path = url.pathname.replace(/\.git$/, "");
  const at = path.lastIndexOf("/scm/");
  if (at < 0)
    throw new PostError("could not parse git address: supplied provider address is not http(s) git clone url");
  const id = path.slice(at + "/scm/".length);
  const parts = id.split("/");
  if (parts.length !== 2) throw new PostError(`could not parse git address: invalid repository id "${id}"`);
  const commits = new URL(url.href);
  commits.pathname = `${path.slice(0, at)}/rest/api/latest/projects/${parts[0]}/repos/${parts[1]}/commits`;
  commits.search = "";
  return commits;
}

/** bitbucketserver.go: GET the build status of the key (sha1 of the status key), POST it unless unchanged. */
const bitbucketServer: Deliver = async (event, context) => {
  const { endpoint } = context;
  const commits = bitbucketServerCommits(endpoint.url);
  if (!endpoint.token && !(endpoint.username && endpoint.password))
    throw new PostError("invalid credentials, expected to be one of username/password or API Token");
  if (event.reason === PROGRESSING) return;
  const sha = commitOf(event);
  const state = SEVERITY_STATES.bitbucketserver[event.severity];
  const { name: objectName, description } = nameAndDescription(event);
  // Bitbucket Server shows the name in the browser, so Flux puts the description in it too.
  const name = `${objectName} [${description}]`;
  const key = createHash("sha1").update(context.commitStatus).digest("hex");
  const headers = {
    authorization: endpoint.token ? `Bearer ${endpoint.token}` : basicAuth(endpoint.username!, endpoint.password!),
    "x-atlassian-token": "no-check",
    "x-requested-with": "XMLHttpRequest",
  };
  const builds = `${commits.href}/${sha}/builds`;
  const existing = await context.send({
    method: "GET",
    url: new URL(`${builds}?key=${key}`),
    headers,
    body: Buffer.alloc(0),
  });
  if (existing.status > 399 && existing.status !== 404)
    throw new PostError(
      `could not get existing commit status: failed api call to check duplicate commit status: ${existing.status}`,
      existing.status === 429 || (existing.status >= 500 && existing.status !== 501),
    );
  if (existing.status === 200) {
    const current = answerJson(existing, "the existing commit status") as Record<string, unknown>;
    if (current.key === key && current.state === state && current.description === description && current.name === name)
      return;
  }
  // The body's fields in Flux's struct order; `url` is the Provider's address.
  const posted = await context.send(
    jsonRequest(new URL(builds), { description, key, name, state, url: endpoint.url.href }, headers),
  );
  if (posted.status > 399)
    throw new PostError(
      `could not post build status: could not post build commit status: ${posted.status}`,
      posted.status === 429 || (posted.status >= 500 && posted.status !== 501),
    );
};

/**
 * bitbucket.go (go-bitbucket v0.10.0): Bitbucket Cloud's API at api.bitbucket.org whatever the
 * address' host (the address names the workspace and repository), the token `<user>:<app password>`
 * as basic auth; the build status keyed by the sha1 of the status key is read (404: none) and
 * posted unless it has this state and description.
 */
const bitbucket: Deliver = async (event, context) => {
  const token = context.endpoint.token;
  if (!token) throw new PostError("bitbucket token cannot be empty");
  const { id } = gitAddress(context.endpoint.url);
  const credentials = token.split(":");
  if (credentials.length !== 2) throw new PostError("invalid token format, expected to be <user>:<password>");
  const parts = id.split("/");
  if (parts.length !== 2) throw new PostError(`invalid repository id "${id}"`);
  if (event.reason === PROGRESSING) return;
  const sha = commitOf(event);
  const state = SEVERITY_STATES.bitbucket[event.severity];
  const { name, description } = nameAndDescription(event);
  const key = createHash("sha1").update(context.commitStatus).digest("hex");
  const authorization = basicAuth(credentials[0]!, credentials[1]!);
  const statuses = `https://api.bitbucket.org/2.0/repositories/${encodeURIComponent(parts[0]!)}/${encodeURIComponent(parts[1]!)}/commit/${sha}/statuses/build`;
  const existing = await context.send({
    method: "GET",
    url: new URL(`${statuses}/${key}`),
    headers: { authorization },
    body: Buffer.alloc(0),
  });
  if (existing.status !== 404) {
    expectSuccess(existing, (failed) => `could not get commit status: ${failed}`);
    const current = answerJson(existing, "the commit status") as Record<string, unknown> | null;
    if (current?.state === state && current.description === description) return;
  }
  const created = await context.send(
    jsonRequest(new URL(statuses), { key, url: "https://bitbucket.org", state, name, description }, { authorization }),
  );
  expectSuccess(created);
};

/** The commit status provider types Sluice sets statuses for. */
export const COMMIT_STATUS_DELIVERIES: Record<string, Deliver> = {
  github,
  gitlab,
  gitea,
  bitbucketserver: bitbucketServer,
  bitbucket,
};
