import type { FluxEvent } from "../events.js";
import { sortedMetadata } from "../payloads.js";
import { expectSuccess, PostError } from "../post.js";
import { answerJson } from "./answers.js";
import type { DeliveryContext } from "./delivery.js";
import { gitAddress, ownerAndRepo } from "./git-address.js";

// What the GitLab and Gitea types (commit statuses and comments) share: the API each SDK calls for
// notification-controller v1.9.3, and Flux's markdown post (markdown.go).

/** The token for a forge that reads `token`, with the secret's `password` in its place when there is none. */
export function tokenOrPassword(context: DeliveryContext, type: string): string {
  const token = context.endpoint.token || context.endpoint.password;
  if (!token) throw new PostError(`${type} token cannot be empty`);
  return token;
}

/** GitLab client-go: `<host>/api/v4`, the project path escaped as one segment (dots too), PRIVATE-TOKEN. */
export function gitlabProject(context: DeliveryContext): {
  api: string;
  project: string;
  headers: Record<string, string>;
} {
  const token = tokenOrPassword(context, "gitlab");
  const { host, id } = gitAddress(context.endpoint.url);
  const api = `${host}/api/v4`;
  return {
    api,
    project: `${api}/projects/${encodeURIComponent(id).replaceAll(".", "%2E")}`,
    headers: { accept: "application/json", "private-token": token, "user-agent": "go-gitlab" },
  };
}

/** The Gitea SDK: `<host>/api/v1`, `token` authorization, and the server version check its NewClient makes (1.11 or later). */
export function giteaApi(context: DeliveryContext): {
  api: string;
  repoPath: string;
  headers: { authorization: string; "content-type": string };
  checkVersion(): Promise<void>;
} {
  const token = tokenOrPassword(context, "gitea");
  const { host, owner, repo } = ownerAndRepo(context.endpoint.url);
  const headers = { authorization: `token ${token}`, "content-type": "application/json" };
  const api = `${host}/api/v1`;
  return {
    api,
    repoPath: `${api}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`,
    headers,
    checkVersion: async () => {
      const version = await context.send({
        method: "GET",
        url: new URL(`${api}/version`),
        headers,
        body: Buffer.alloc(0),
      });
      expectSuccess(version, (failed) => `failed creating Gitea client: ${failed}`);
      const [major = 0, minor = 0] = String(
        (answerJson(version, "the server version") as { version?: unknown }).version,
      )
        .replace(/^v/, "")
        .split(".")
        .map(Number);
      if (!(major > 1 || (major === 1 && minor >= 11)))
        throw new PostError(`failed creating Gitea client: gitea server is older than 1.11.0`);
    },
  };
}

/** markdown.go's formatMarkdownPost: a heading, the object, the message, the metadata but change_request. */
export function markdownPost(event: FluxEvent): string {
  const { kind, namespace, name } = event.involvedObject;
  const metadata = sortedMetadata(event)
    .filter(([key]) => key !== "change_request")
    .map(([key, value]) => `* \`${key}\`: ${value}\n`)
    .join("");
  return `## Flux Status\n\n${event.severity === "error" ? "⚠️" : "ℹ️"} ${kind}/${namespace}/${name}\n\n${event.message}\n\nMetadata:\n${metadata}`;
}
