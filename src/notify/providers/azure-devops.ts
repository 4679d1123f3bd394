import { randomUUID } from "node:crypto";
import { REASON } from "../../api/reasons.js";
import type { ProviderRequest } from "../payloads.js";
import { expectSuccess, PostError } from "../post.js";
import { answerJson, basicAuth } from "./answers.js";
import { commitOf, nameAndDescription } from "./commit-status.js";
import type { Deliver, DeliveryContext } from "./delivery.js";
import { gitAddress } from "./git-address.js";

// Azure DevOps commit statuses, as notification-controller v1.9.3 sets them (internal/notifier/
// azure_devops.go) through azure-devops-go-api v6.0.1: the organisation's resource locations are read
// once (OPTIONS <org>/_apis) to find the statuses route and negotiate the API version, then the
// commit's statuses are listed and a status posted unless the key (name and genre) already has this
// state and description. The token is a PAT, sent as basic auth with an empty user.

/** The git statuses resource (git.ClientImpl's CreateCommitStatus/GetStatuses location id). */
const STATUSES_LOCATION = "428dd4fb-fda5-4722-af02-9313b80305da";
const REQUESTED_VERSION = { major: 6, minor: 0 };
/** The client's session id: one per process, as the library's. */
const SESSION = randomUUID();
/** Resource locations by organisation URL, as the library caches them (bounded: addresses are anyone's choice). */
const locations = new Map<string, Location>();
const MAX_CACHED = 64;

interface Location {
  routeTemplate: string;
  area: string;
  resourceName: string;
  minVersion: string;
  maxVersion: string;
  releasedVersion: string;
}

function headers(token: string, accept: string): Record<string, string> {
  return {
    authorization: basicAuth("", token),
    accept,
    "x-tfs-fedauthredirect": "Suppress",
    "x-tfs-session": SESSION,
    "user-agent": "azure-devops-go-api/6.0.0-b1 (dev)",
  };
}

/** The statuses resource's location in the organisation, read once. */
async function statusesLocation(context: DeliveryContext, orgUrl: string, token: string): Promise<Location> {
  const cached = locations.get(orgUrl);
  if (cached) return cached;
  const answer = await context.send({
    method: "OPTIONS",
    url: new URL(`${orgUrl}/_apis`),
    headers: headers(token, "application/json"),
    body: Buffer.alloc(0),
  });
  expectSuccess(answer, (failed) => `could not list commit statuses: ${failed}`);
  const { value } = (answerJson(answer, "the resource locations") ?? {}) as { value?: unknown };
  const location = (Array.isArray(value) ? (value as Record<string, unknown>[]) : []).find(
    (l) => String(l.id).toLowerCase() === STATUSES_LOCATION,
  );
  const fields = ["routeTemplate", "area", "resourceName", "minVersion", "maxVersion", "releasedVersion"] as const;
  if (!location || fields.some((f) => typeof location[f] !== "string"))
    throw new PostError(
      `could not list commit statuses: API resource location ${STATUSES_LOCATION} is not registered on ${orgUrl}`,
    );
  if (locations.size >= MAX_CACHED) locations.delete(locations.keys().next().value!);
  locations.set(orgUrl, location as unknown as Location);
  return location as unknown as Location;
}

function version(text: string): { major: number; minor: number } {
  const [major = "", minor = ""] = text.split(".");
  if (!/^\d+$/.test(major) || !/^\d+$/.test(minor)) throw new PostError(`invalid API version '${text}'`);
  return { major: Number(major), minor: Number(minor) };
}
const compare = (a: { major: number; minor: number }, b: { major: number; minor: number }) =>
  a.major - b.major || a.minor - b.minor;

/** The library's negotiateRequestVersion for a request of 6.0. */
function negotiate(location: Location): string {
  if (compare(version(location.minVersion), REQUESTED_VERSION) > 0) return "6.0";
  if (compare(version(location.maxVersion), REQUESTED_VERSION) < 0)
    return location.releasedVersion < location.maxVersion ? `${location.maxVersion}-preview` : location.maxVersion;
  const released = version(location.releasedVersion);
  return (released.major === 0 && released.minor === 0) || compare(released, REQUESTED_VERSION) < 0
    ? "6.0-preview"
    : "6.0";
}

/** The route template with its values filled, each path-escaped (the library's transformRouteTemplate). */
function route(location: Location, values: Record<string, string>): string {
  const all = { ...values, area: location.area, resource: location.resourceName };
  return location.routeTemplate
    .replaceAll("{*", "{")
    .split("/")
    .flatMap((segment) => {
      const name = /^\{(.+)\}$/.exec(segment)?.[1];
      if (segment.length <= 2 || name === undefined) return [segment];
      return name in all ? [encodeURIComponent(all[name as keyof typeof all]!)] : [];
    })
    .join("/");
}

export const azureDevOps: Deliver = async (event, context) => {
  const token = context.endpoint.token;
  if (!token)
    throw new PostError(
      "failed to acquire azure devops token: a token is needed (workload identity is not supported by Sluice yet)",
    );
  const { host, id } = gitAddress(context.endpoint.url);
  const parts = id.split("/");
  if (parts.length !== 4) throw new PostError(`invalid repository id "${id}"`);
  const [org, project, , repository] = parts as [string, string, string, string];
  if (event.reason === REASON.progressing) return;
  const sha = commitOf(event);
  const state = event.severity === "error" ? "error" : "succeeded";
  const genre = event.metadata.summary !== undefined ? `fluxcd:${event.metadata.summary}` : "fluxcd";
  const { description } = nameAndDescription(event);
  const orgUrl = `${host}/${org}`;
  const location = await statusesLocation(context, orgUrl, token);
  const accept = `application/json;api-version=${negotiate(location)}`;
  const url = new URL(
    `${orgUrl}/${route(location, { project, repositoryId: repository, commitId: sha }).replace(/^\/+/, "")}`,
  );
  const listed = await context.send({ method: "GET", url, headers: headers(token, accept), body: Buffer.alloc(0) });
  expectSuccess(listed, (failed) => `could not list commit statuses: ${failed}`);
  const { value } = (answerJson(listed, "commit statuses") ?? {}) as { value?: unknown };
  const latest = (Array.isArray(value) ? (value as Record<string, unknown>[]) : []).find((s) => {
    const c = s.context as Record<string, unknown> | undefined;
    return (
      c?.name === context.commitStatus && c.genre === genre && s.state !== undefined && s.description !== undefined
    );
  });
  if (latest?.state === state && latest.description === description) return;
  const body = { context: { genre, name: context.commitStatus }, description, state };
  const request: ProviderRequest = {
    url,
    headers: { ...headers(token, accept), "content-type": "application/json;charset=utf-8" },
    body: Buffer.from(JSON.stringify(body)),
  };
  const created = await context.send(request);
  expectSuccess(created, (failed) => `could not create commit status: ${failed}`);
};
