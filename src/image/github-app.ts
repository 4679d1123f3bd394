import { createSign } from "node:crypto";
import { Octokit } from "@octokit/core";
import type { NetworkPolicy } from "../sources/network-guard.js";
import { guardedFetch } from "./forge-fetch.js";

// GitHub App credentials for the pull request extension, from the Secret keys Flux's GitHub App support reads
// (githubAppID, githubAppInstallationID, githubAppPrivateKey): a JWT signed with the app's key (RS256, "Generating a
// JSON Web Token (JWT) for a GitHub App") exchanged for an installation token ("Create an installation access token
// for an app", POST /app/installations/{installation_id}/access_tokens).

export interface GitHubApp {
  appId: string;
  installationId: string;
  privateKeyPem: string;
}

/** The app's credentials in a Secret's data, when it holds them; an error naming what half of them lacks. */
export function githubAppOf(data: Record<string, string>): GitHubApp | undefined {
  const { githubAppID: appId, githubAppInstallationID: installationId, githubAppPrivateKey: privateKeyPem } = data;
  if (!appId && !installationId && !privateKeyPem) return undefined;
  if (!appId || !installationId || !privateKeyPem)
    throw new Error("GitHub App credentials need githubAppID, githubAppInstallationID and githubAppPrivateKey");
  return { appId, installationId, privateKeyPem };
}

/** A token of the app's installation, valid for an hour. */
export async function installationToken(
  app: GitHubApp,
  apiUrl: string,
  network: NetworkPolicy,
  now: Date,
): Promise<string> {
  const octokit = new Octokit({
    baseUrl: apiUrl.replace(/\/$/, ""),
    userAgent: "sluice-image-automation",
    request: { fetch: guardedFetch(network), retries: 0 },
  });
  const answer = await octokit.request("POST /app/installations/{installation_id}/access_tokens", {
    installation_id: Number(app.installationId),
    headers: { authorization: `Bearer ${appJwt(app, now)}` },
  });
  return answer.data.token;
}

/** GitHub's app JWT: issued 60 s in the past against clock drift, expiring within its 10-minute limit. */
function appJwt(app: GitHubApp, now: Date): string {
  const seconds = Math.floor(now.getTime() / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ alg: "RS256", typ: "JWT" })}.${encode({ iat: seconds - 60, exp: seconds + 540, iss: app.appId })}`;
  const signature = createSign("RSA-SHA256").update(unsigned).sign(app.privateKeyPem).toString("base64url");
  return `${unsigned}.${signature}`;
}
