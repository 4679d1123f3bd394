import type { ObjectKey } from "../../api/object-key.js";
import type { Events } from "../../notify/events.js";
import type { Clock } from "../../ports/clock.js";
import { REQUESTABLE_KINDS } from "../../api/requestable-kinds.js";
import { requestReconcile, setSuspend, sourcesOf, waitHandled } from "../../store/reconcile-requests.js";
import type { Store, Stored } from "../../store/store.js";
import type { ActionResult } from "./types.js";
import { ACTOR_METADATA } from "./views.js";

// The UI's only writes: the CLI's reconcile, suspend and resume (the same functions), each recorded as an event naming
// who asked.

export type ActionName = "reconcile" | "suspend" | "resume";

export interface ActionPorts {
  store: Store;
  /** Where the audit event goes: the control plane's events, so Alerts see it too. */
  events: Events;
  clock: Clock;
  /** Tells the control plane an object changed (AWS: a queue message); locally the Store watch notices. */
  announce?: (key: ObjectKey) => Promise<void>;
  /** How long "reconcile with source" waits for the source before asking the object. @default 60_000 */
  sourceWaitMs?: number;
}

/** A refused action: the HTTP status and a message for the page. */
export class ActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const REASONS: Record<ActionName, string> = {
  reconcile: "ReconcileRequested",
  suspend: "SuspendRequested",
  resume: "ResumeRequested",
};

export async function act(
  ports: ActionPorts,
  action: ActionName,
  key: ObjectKey,
  actor: string,
  withSource: boolean,
): Promise<ActionResult> {
  if (!(REQUESTABLE_KINDS as readonly string[]).includes(key.kind))
    throw new ActionError(400, `${key.kind} cannot be reconciled, suspended or resumed`);
  const stored = await ports.store.get(key);
  if (!stored) throw new ActionError(404, `${key.kind} '${key.name}' not found in ${key.namespace} namespace`);
  let result: ActionResult;
  if (action === "reconcile") result = await reconcile(ports, stored, key, withSource);
  else {
    await setSuspend(ports.store, key, action === "suspend");
    await ports.announce?.(key);
    result = { message: `${key.kind} ${key.name} ${action === "suspend" ? "suspended" : "resumed"}` };
  }
  await ports.events.emit({
    involvedObject: { apiVersion: stored.object.apiVersion, ...key },
    severity: "info",
    reason: REASONS[action],
    message: `${action}${action === "reconcile" && withSource ? " with source" : ""} requested by ${actor} from the web UI`,
    metadata: { [ACTOR_METADATA]: actor },
    reportingController: "sluice-ui",
    timestamp: new Date(ports.clock.now()).toISOString(),
  });
  return result;
}

async function reconcile(ports: ActionPorts, stored: Stored, key: ObjectKey, withSource: boolean) {
  if ((stored.object.spec as { suspend?: boolean }).suspend)
    throw new ActionError(409, `resume ${key.kind} '${key.name}' first: it is suspended`);
  if (withSource) {
    let sources: ObjectKey[];
    try {
      sources = await sourcesOf(ports.store, stored);
    } catch (error) {
      throw new ActionError(409, (error as Error).message);
    }
    // As the CLI: each source is fetched first, so the object then reconciles the newest revision.
    for (const source of sources) {
      const token = await requestReconcile(ports.store, source, new Date(ports.clock.now()));
      if (!token)
        throw new ActionError(404, `${source.kind} '${source.name}' not found in ${source.namespace} namespace`);
      await ports.announce?.(source);
      const deadline = ports.clock.now() + (ports.sourceWaitMs ?? 60_000);
      if (!(await waitHandled(ports.store, source, token, deadline, ports.clock)))
        throw new ActionError(
          504,
          `${source.kind} ${source.name} was not reconciled in time; is the control plane running?`,
        );
    }
  }
  const token = await requestReconcile(ports.store, key, new Date(ports.clock.now()));
  if (!token) throw new ActionError(404, `${key.kind} '${key.name}' not found in ${key.namespace} namespace`);
  await ports.announce?.(key);
  return { token, message: `reconcile of ${key.kind} ${key.name} requested` };
}
