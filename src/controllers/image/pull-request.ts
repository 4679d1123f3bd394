import type { PullRequestSpec } from "../../api/imageupdateautomation.js";
import { githubAppOf, installationToken } from "../../image/github-app.js";
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
  const apiUrl = spec.apiURL ?? (spec.provider === "gitlab" ? gitlabApi(update.repositoryUrl) : GITHUB_API);
  const token = await tokenOf(ports, namespace, spec, apiUrl, update.network).catch((error: Error) => {
    throw failed(error.message);
  });
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
        apiUrl,
        repo: gitlabProjectOf(update.repositoryUrl),
      });
    return await upsertPullRequest({
      ...request,
      apiUrl,
      ...githubRepositoryOf(update.repositoryUrl),
    });
  } catch (error) {
    throw failed(((error as Error).message ?? String(error)).replaceAll(token, "***"));
  }
}

/**
 * The token to call the forge with: the Secret's `token`, or for GitHub an installation token of the app whose
 * credentials the Secret holds (githubAppID, githubAppInstallationID, githubAppPrivateKey, as Flux reads them).
 */
async function tokenOf(
  ports: ReconcilerPorts,
  namespace: string,
  spec: PullRequestSpec,
  apiUrl: string,
  network: NetworkPolicy,
): Promise<string> {
  const where = `secret '${namespace}/${spec.secretRef.name}'`;
  const secret = await ports.secrets.secret({ namespace, name: spec.secretRef.name });
  if (!secret) throw new Error(`${where} not found`);
  let app;
  try {
    app = spec.provider === "github" ? githubAppOf(secret) : undefined;
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
  if (app)
    return installationToken(app, apiUrl, network, new Date(ports.clock.now())).catch((error: Error) => {
      throw new Error(`GitHub App installation token: ${error.message}`);
    });
  if (!secret.token) throw new Error(`${where} has no 'token' (nor GitHub App credentials)`);
  return secret.token;
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
