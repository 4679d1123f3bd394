import type { FluxEvent } from "../events.js";
import { jsonRequest, type ProviderRequest } from "../payloads.js";
import { expectSuccess, PostError } from "../post.js";
import { answerJson } from "./answers.js";
import { giteaApi, gitlabProject, markdownPost } from "./forge-api.js";
import type { Deliver, DeliveryContext } from "./delivery.js";
import { githubApi } from "./github-api.js";

// Pull (merge) request comments, as notification-controller v1.9.3 keeps one per object and Provider
// (internal/notifier/{git_change_request_comment,github_pull_request_comment,
// gitlab_merge_request_comment,gitea_pull_request_comment}.go): the request is the event's
// `change_request` metadata (the object's `event.toolkit.fluxcd.io/change_request` annotation); the
// comment carries a hidden marker `<!-- <prefix>:<provider UID>/<kind>/<namespace>/<name> -->`.
// The first 100 comments are read; the authenticated user's comment holding the marker is edited,
// otherwise a new one is posted.

/** eventv1.MetaChangeRequestKey: the metadata key naming the pull or merge request. */
export const CHANGE_REQUEST_KEY = "change_request";

/** The types that comment on a change request; Flux drops the events that name none. */
export const CHANGE_REQUEST_TYPES: readonly string[] = [
  "githubpullrequestcomment",
  "gitlabmergerequestcomment",
  "giteapullrequestcomment",
];

/** What one forge's API needs for the comment cycle. */
interface CommentApi {
  /** The authenticated user's login, which Flux compares with each comment's author. */
  login(): Promise<string>;
  list(number: number): ProviderRequest;
  /** Each listed comment's author, body and id. */
  read(listed: unknown): { author: unknown; body: unknown; id: unknown }[];
  edit(number: number, id: number, body: string): ProviderRequest;
  create(number: number, body: string): ProviderRequest;
  /** Flux's words for the failures: "pull request comment", "merge request note". */
  noun: string;
}

/** The marker and body Flux writes (formatCommentBody): the marker, a blank line, the markdown post. */
export function commentBody(prefix: string, providerUid: string, event: FluxEvent): { marker: string; body: string } {
  const { kind, namespace, name } = event.involvedObject;
  const marker = `<!-- ${prefix}:${providerUid}/${kind}/${namespace}/${name} -->`;
  return { marker, body: `${marker}\n\n${markdownPost(event)}` };
}

/** The request's number: Go's strconv.Atoi of the metadata value (sign allowed, no spaces). */
function changeRequestNumber(event: FluxEvent): number {
  const value = event.metadata[CHANGE_REQUEST_KEY];
  if (value === undefined) throw new PostError(`missing "${CHANGE_REQUEST_KEY}" metadata key`);
  if (!/^[+-]?\d{1,18}$/.test(value))
    throw new PostError(`invalid "${CHANGE_REQUEST_KEY}" metadata value ${JSON.stringify(value)}: not a number`);
  return Number(value);
}

function commenting(prefix: string, api: (context: DeliveryContext) => CommentApi): Deliver {
  return async (event, context) => {
    const forge = api(context);
    const login = await forge.login();
    const { marker, body } = commentBody(prefix, context.providerUid, event);
    const number = changeRequestNumber(event);
    const listed = await context.send(forge.list(number));
    expectSuccess(listed, (failed) => `failed to list ${forge.noun}s: ${failed}`);
    const comments = forge.read(answerJson(listed, `the ${forge.noun}s`));
    const ours = comments.find((c) => c.author === login && typeof c.body === "string" && c.body.includes(marker));
    if (ours && typeof ours.id === "number") {
      const edited = await context.send(forge.edit(number, ours.id, body));
      expectSuccess(edited, (failed) => `failed to update ${forge.noun}: ${failed}`);
      return;
    }
    const created = await context.send(forge.create(number, body));
    expectSuccess(created, (failed) => `failed to create ${forge.noun}: ${failed}`);
  };
}

const get = (url: URL, headers: Record<string, string>): ProviderRequest => ({
  method: "GET",
  url,
  headers,
  body: Buffer.alloc(0),
});

const asList = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter((v): v is Record<string, unknown> => v !== null && typeof v === "object") : [];
const field = (value: unknown, key: string): unknown =>
  value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;

/** A user object's login: the answer to "who am I", read with a clear error. */
async function whoAmI(context: DeliveryContext, request: ProviderRequest, key: string): Promise<string> {
  const answer = await context.send(request);
  expectSuccess(answer, (failed) => `failed to get authenticated user info: ${failed}`);
  const login = field(answerJson(answer, "the authenticated user"), key);
  if (typeof login !== "string") throw new PostError(`failed to get authenticated user info: no ${key} in the answer`);
  return login;
}

/** go-github's Issues API: GET /user, list (created, ascending, 100), PATCH a comment, POST one. */
const github = (context: DeliveryContext): CommentApi => {
  const { base, repoPath, headers } = githubApi(context);
  return {
    noun: "pull request comment",
    login: () => whoAmI(context, get(new URL("user", base), headers), "login"),
    list: (n) =>
      get(new URL(`${repoPath}/issues/${n}/comments?direction=asc&per_page=100&sort=created`, base), headers),
    read: (listed) => asList(listed).map((c) => ({ author: field(c.user, "login"), body: c.body, id: c.id })),
    edit: (_n, id, body) => ({
      ...jsonRequest(new URL(`${repoPath}/issues/comments/${id}`, base), { body }, headers),
      method: "PATCH",
    }),
    create: (n, body) => jsonRequest(new URL(`${repoPath}/issues/${n}/comments`, base), { body }, headers),
  };
};

/** GitLab client-go's Notes API: GET /user, list (created_at, ascending, 100), PUT a note, POST one. */
const gitlab = (context: DeliveryContext): CommentApi => {
  const { api, project, headers } = gitlabProject(context);
  const notes = (n: number) => `${project}/merge_requests/${n}/notes`;
  return {
    noun: "merge request note",
    login: () => whoAmI(context, get(new URL(`${api}/user`), headers), "username"),
    list: (n) => get(new URL(`${notes(n)}?order_by=created_at&per_page=100&sort=asc`), headers),
    read: (listed) => asList(listed).map((c) => ({ author: field(c.author, "username"), body: c.body, id: c.id })),
    edit: (n, id, body) => ({ ...jsonRequest(new URL(`${notes(n)}/${id}`), { body }, headers), method: "PUT" }),
    create: (n, body) => jsonRequest(new URL(notes(n)), { body }, headers),
  };
};

/** The Gitea SDK: its version check, GET /user, list (page 1 of 100), PATCH a comment, POST one. */
const gitea = (context: DeliveryContext): CommentApi => {
  const { api, repoPath, headers, checkVersion } = giteaApi(context);
  return {
    noun: "pull request comment",
    login: async () => {
      await checkVersion();
      return whoAmI(context, get(new URL(`${api}/user`), headers), "login");
    },
    list: (n) => get(new URL(`${repoPath}/issues/${n}/comments?limit=100&page=1`), headers),
    read: (listed) => asList(listed).map((c) => ({ author: field(c.user, "login"), body: c.body, id: c.id })),
    edit: (_n, id, body) => ({
      ...jsonRequest(new URL(`${repoPath}/issues/comments/${id}`), { body }, headers),
      method: "PATCH",
    }),
    create: (n, body) => jsonRequest(new URL(`${repoPath}/issues/${n}/comments`), { body }, headers),
  };
};

/** The change request comment types, by Provider type. */
export const CHANGE_REQUEST_DELIVERIES: Record<string, Deliver> = {
  githubpullrequestcomment: commenting("flux-pr-comment-key", github),
  gitlabmergerequestcomment: commenting("flux-mr-comment-key", gitlab),
  giteapullrequestcomment: commenting("flux-pr-comment-key", gitea),
};
