import type { PullRequestSpec } from "../../api/imageupdateautomation.js";
import { githubRepositoryOf, upsertPullRequest, type PullRequestResult } from "../../image/github-pull-request.js";
import { gitlabProjectOf, upsertMergeRequest } from "../../image/gitlab-merge-request.js";
import type { FileChanges } from "../../image/update-files.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import type { NetworkPolicy } from "../../sources/network-guard.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/** Sluice's reason when the pull request of `spec.git.push.pullRequest` cannot be opened or updated. */
export const PULL_REQUEST_FAILED = "PullRequestFailed";

const GITHUB_API = "https://api.github.com";
/** GitLab's API lives on the repository's own host. */
const gitlabApi = (repositoryUrl: string) => `${new URL(repositoryUrl).origin}/api/v4`;

/**
 * Opens the automation's pull request (push branch → base; a merge request on GitLab), or updates the open one: its
 * title is the commit message's first line (or `title`), its body lists every change. The token comes from the
 * Secret's `token`.
 */
export async function openOrUpdatePullRequest(
  ports: ReconcilerPorts,
  namespace: string,
  spec: PullRequestSpec,
  update: {
    repositoryUrl: string;
    head: string;
    base: string;
    message: string;
    changes: FileChanges[];
    network: NetworkPolicy;
  },
): Promise<PullRequestResult> {
  const failed = (message: string) =>
    new ReconcileError(PULL_REQUEST_FAILED, `failed to open or update the pull request: ${message}`);
  const secret = await ports.secrets.secret({ namespace, name: spec.secretRef.name });
  const token = secret?.token;
  if (!token) throw failed(`secret '${namespace}/${spec.secretRef.name}' has no 'token'`);
  const request = {
    token,
    head: update.head,
    base: update.base,
    title: spec.title ?? (update.message.split("\n")[0] || "Update images"),
    body: pullRequestBody(update.message, update.changes),
    network: update.network,
  };
  try {
    if (spec.provider === "gitlab")
      return await upsertMergeRequest({
        ...request,
        apiUrl: spec.apiURL ?? gitlabApi(update.repositoryUrl),
        repo: gitlabProjectOf(update.repositoryUrl),
      });
    return await upsertPullRequest({
      ...request,
      apiUrl: spec.apiURL ?? GITHUB_API,
      ...githubRepositoryOf(update.repositoryUrl),
    });
  } catch (error) {
    throw failed(((error as Error).message ?? String(error)).replaceAll(token, "***"));
  }
}

/** The commit message, then each change by file and object. */
export function pullRequestBody(message: string, changes: FileChanges[]): string {
  const lines = [message.trim()];
  if (changes.length > 0) lines.push("", "Changes:");
  for (const { file, objects } of changes)
    for (const { object, changes: list } of objects)
      for (const change of list)
        lines.push(
          `- \`${file}\`${object.kind ? ` (${object.kind} ${object.name})` : ""}: \`${change.oldValue}\` → \`${change.newValue}\``,
        );
  return lines.join("\n");
}
