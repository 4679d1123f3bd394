import type { NetworkPolicy } from "../../sources/network-guard.js";
import type { FluxEvent } from "../events.js";
import type { ProviderRequest } from "../payloads.js";
import type { Answer } from "../post.js";
import type { ProviderEndpoint } from "../provider-endpoint.js";

// What a provider type does with one event. Most types make one request; commit status types read
// the commit's statuses first and post only when theirs changed, as their SDKs do in Flux.

/** What a provider type's delivery may use: the resolved endpoint, the status key, a retried send. */
export interface DeliveryContext {
  endpoint: ProviderEndpoint;
  /** The commit status key (the Provider's commitStatusExpr, or Flux's default); commit status types only. */
  commitStatus: string;
  /** The Alert that sent the event (otel names its trace and resource after it). */
  alert: AlertIdentity;
  /** The Provider's UID (its own, or one derived from its namespace and name): what Flux keys comments by. */
  providerUid: string;
  /** Which addresses may be connected to (a type that dials its own connections checks it). */
  network: NetworkPolicy;
  /** Sends one request with Flux's retries; the last answer, whatever its status. */
  send(request: ProviderRequest): Promise<Answer>;
}

/** An Alert's namespace, name and UID (its own, or one derived from its namespace and name). */
export interface AlertIdentity {
  namespace: string;
  name: string;
  uid: string;
}

/** Sends `event` to the endpoint; throws (a PostError when retrying later may help) when it could not. */
export type Deliver = (event: FluxEvent, context: DeliveryContext) => Promise<void>;
