import { formatKey, type ObjectKey } from "../../api/object-key.js";
import type { FluxEvent } from "../../notify/events.js";
import { act, ActionError, type ActionName, type ActionPorts } from "./actions.js";
import { refusal } from "./guard.js";
import { inventoryHealth, type HealthReader } from "./health.js";
import type { UiRequest, UiResponse } from "./types.js";
import { clusters, detail, overview, sources, type HeartbeatReader } from "./views.js";

/** What the API reads and writes through; each placement (local, AWS) passes its own. */
export interface UiApiPorts extends ActionPorts {
  /** The events recorded about one object (or all), oldest first. */
  readEvents(key?: ObjectKey): Promise<FluxEvent[]>;
  heartbeat?: HeartbeatReader;
  /** Reads an inventory's live health from its cluster; absent where the UI reaches no cluster (AWS). */
  health?: HealthReader;
  /** The `host[:port]` names the UI is served as; a request with another Host is refused (DNS rebinding). */
  hosts: readonly string[];
  /** Told about an unexpected failure; the response says only "internal error". */
  onError?: (error: unknown) => void;
}

export const API_PREFIX = "/api/v1/";
const ACTIONS = new Set<ActionName>(["reconcile", "suspend", "resume"]);
// Kinds are identifiers; namespaces and names are Kubernetes names. Anything else (`..`, a slash) never reaches the Store.
const KIND = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * The web UI's API, free of any transport: `GET objects`, `objects/KIND/NS/NAME`, `sources`, `clusters`, and
 * `objects/KIND/NS/NAME/health` (the inventory's live health, read when asked), and
 * `POST objects/KIND/NS/NAME/reconcile|suspend|resume` (`?withSource=true`), all under {@link API_PREFIX}.
 */
export function uiApi(ports: UiApiPorts): (request: UiRequest) => Promise<UiResponse> {
  return async (request) => {
    const refused = refusal(request, ports.hosts);
    if (refused) return json(refused.status, { error: refused.message });
    if (!request.path.startsWith(API_PREFIX)) return json(404, { error: "not found" });
    let parts: string[];
    try {
      parts = request.path.slice(API_PREFIX.length).split("/").map(decodeURIComponent);
    } catch {
      return json(400, { error: "malformed path" });
    }
    try {
      return await route(ports, request, parts);
    } catch (error) {
      if (error instanceof ActionError) return json(error.status, { error: error.message });
      ports.onError?.(error);
      return json(500, { error: "internal error" });
    }
  };
}

async function route(ports: UiApiPorts, request: UiRequest, parts: string[]): Promise<UiResponse> {
  const [resource, kind, namespace, name, action, ...rest] = parts;
  const get = request.method === "GET" || request.method === "HEAD";
  if (get && parts.length === 1) {
    if (resource === "objects") return json(200, overview(await ports.store.list()));
    if (resource === "sources") return json(200, sources(await ports.store.list()));
    if (resource === "clusters") {
      const [registered, kustomizations] = await Promise.all([
        ports.store.list({ kind: "Cluster" }),
        ports.store.list({ kind: "Kustomization" }),
      ]);
      return json(200, await clusters(registered, kustomizations, ports.heartbeat));
    }
  }
  if (resource !== "objects" || kind === undefined || namespace === undefined || name === undefined || rest.length)
    return json(404, { error: "not found" });
  if (!KIND.test(kind) || !NAME.test(namespace) || !NAME.test(name))
    return json(400, { error: "expected objects/KIND/NAMESPACE/NAME with Kubernetes names" });
  const key = { kind, namespace, name };
  if (get && action === undefined) {
    const [stored, all, events] = await Promise.all([ports.store.get(key), ports.store.list(), ports.readEvents(key)]);
    if (!stored) return json(404, { error: `${formatKey(key)} not found` });
    return json(200, detail(stored, all, events));
  }
  if (get && action === "health") {
    const stored = await ports.store.get(key);
    if (!stored) return json(404, { error: `${formatKey(key)} not found` });
    return json(200, await inventoryHealth(stored, ports.health, new Date(ports.clock.now())));
  }
  if (request.method === "POST" && ACTIONS.has(action as ActionName)) {
    const withSource = request.query.get("withSource") === "true";
    return json(202, await act(ports, action as ActionName, key, request.actor, withSource));
  }
  return json(get ? 404 : 405, { error: get ? "not found" : `${request.method} ${request.path} is not an action` });
}

function json(status: number, body: unknown): UiResponse {
  return {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
    body: JSON.stringify(body),
  };
}
