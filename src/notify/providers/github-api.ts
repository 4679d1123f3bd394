import { jsonRequest } from "../payloads.js";
import { expectSuccess, PostError } from "../post.js";
import { fluxEventJson } from "../payloads.js";
import type { Deliver, DeliveryContext } from "./delivery.js";
import { ownerAndRepo } from "./git-address.js";

// GitHub's REST API as go-github v64 calls it for notification-controller v1.9.3 (internal/notifier/
// github_helpers.go, github_dispatch.go): api.github.com for github.com, an enterprise server's API
// under /api/v3/, the token (or the secret's password) as Bearer.

/** The repository an address names, the API's base and go-github's headers. */
export function githubApi(context: DeliveryContext): {
  base: string;
  repoPath: string;
  headers: Record<string, string>;
} {
  const token = context.endpoint.token || context.endpoint.password;
  if (!token) throw new PostError("github token or github app details must be specified");
  const { host, owner, repo } = ownerAndRepo(context.endpoint.url);
  return {
    base: new URL(host).host === "github.com" ? "https://api.github.com/" : `${host}/api/v3/`,
    repoPath: `repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`,
    headers: {
      accept: "application/vnd.github.v3+json",
      authorization: `Bearer ${token}`,
      "user-agent": "go-github/v64.0.0",
      "x-github-api-version": "2022-11-28",
    },
  };
}

/** github_dispatch.go: a repository_dispatch event typed `Kind/name.namespace`, the Flux event as its client payload. */
export const githubDispatch: Deliver = async (event, context) => {
  const { base, repoPath, headers } = githubApi(context);
  const { kind, name, namespace } = event.involvedObject;
  const answer = await context.send(
    jsonRequest(
      new URL(`${repoPath}/dispatches`, base),
      { event_type: `${kind}/${name}.${namespace}`, client_payload: fluxEventJson(event) },
      headers,
    ),
  );
  expectSuccess(answer, (failed) => `could not send github repository dispatch webhook: ${failed}`);
};
