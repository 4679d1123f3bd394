import type { FluxEvent } from "../events.js";
import { requestFor, type ProviderRequest } from "../payloads.js";
import { settle } from "../post.js";
import type { ProviderEndpoint } from "../provider-endpoint.js";
import { azureDevOps } from "./azure-devops.js";
import { CHANGE_REQUEST_DELIVERIES } from "./change-request-comment.js";
import { CHAT_REQUESTS } from "./chat.js";
import { COMMIT_STATUS_DELIVERIES } from "./commit-status.js";
import type { Deliver } from "./delivery.js";
import { githubDispatch } from "./github-api.js";
import { INCIDENT_DELIVERIES, INCIDENT_REQUESTS } from "./incident.js";
import { otel } from "./otel.js";
import { sentryRequest } from "./sentry.js";

// Which delivery each Provider type Sluice implements uses: a module per family of types. The list
// of delivered types in api/unsupported.ts must name exactly these (a unit test holds them together).

/** A type that makes one request of each event, answered 2xx. */
function oneRequest(build: (endpoint: ProviderEndpoint, event: FluxEvent) => ProviderRequest): Deliver {
  return async (event, context) => {
    const request = build(context.endpoint, event);
    settle(request, await context.send(request));
  };
}

const DELIVERIES: Record<string, Deliver> = {
  generic: oneRequest(requestFor),
  "generic-hmac": oneRequest(requestFor),
  slack: oneRequest(requestFor),
  msteams: oneRequest(requestFor),
  discord: oneRequest(requestFor),
  ...mapValues(CHAT_REQUESTS, oneRequest),
  ...mapValues(INCIDENT_REQUESTS, oneRequest),
  ...INCIDENT_DELIVERIES,
  ...COMMIT_STATUS_DELIVERIES,
  azuredevops: azureDevOps,
  githubdispatch: githubDispatch,
  sentry: oneRequest(sentryRequest),
  // The NATS client (about 270 KB) is loaded by the first nats delivery, not by every process that delivers alerts.
  nats: async (event, context) => (await import("./nats.js")).publishNats(event, context),
  ...CHANGE_REQUEST_DELIVERIES,
  otel,
};

function mapValues<A, B>(record: Record<string, A>, map: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]));
}

/** The Provider types with a delivery. */
export const DELIVERY_TYPES: readonly string[] = Object.keys(DELIVERIES);

/** The delivery of a Provider type; undefined for a type Sluice refuses. */
export function deliveryFor(type: string): Deliver | undefined {
  return Object.hasOwn(DELIVERIES, type) ? DELIVERIES[type] : undefined;
}
