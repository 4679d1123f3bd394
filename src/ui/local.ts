import { userInfo } from "node:os";
import type { ObjectKey } from "../api/object-key.js";
import type { ReconcilerPorts } from "../controllers/reconciler-ports.js";
import { readEvents } from "../notify/file-events.js";
import { loadAssets, type Assets } from "./assets.js";
import { clusterHealth } from "./cluster-health.js";
import { startUiServer, type UiServer } from "./server.js";

/** Who acts from a local UI: the OS user running `sluice run` (whoever can reach its loopback port acts as them). */
function localActor(): string {
  try {
    return userInfo().username || "local";
  } catch {
    return "local";
  }
}

/**
 * The web UI of `sluice run`: the API over the running control plane's Store and event log, its events (so the
 * actions' audit events reach Alerts too), live updates from its Store watch.
 */
export async function startLocalUi(options: {
  runtime: ReconcilerPorts;
  eventsFile: string;
  host: string;
  port: number;
  /** Calls the listener whenever the Store watch saw a change; returns the unsubscribe. */
  subscribe: (listener: () => void) => () => void;
}): Promise<UiServer> {
  const { store, events, clock } = options.runtime;
  let assets: Promise<Assets> | undefined;
  return startUiServer({
    ports: {
      store,
      events,
      clock,
      readEvents: async (key?: ObjectKey) =>
        (await readEvents(options.eventsFile)).filter(
          ({ involvedObject: o }) =>
            !key || (o.kind === key.kind && o.namespace === key.namespace && o.name === key.name),
        ),
      health: clusterHealth(options.runtime),
    },
    assets: () => (assets ??= loadAssets()),
    host: options.host,
    port: options.port,
    actor: localActor(),
    subscribe: options.subscribe,
  });
}
