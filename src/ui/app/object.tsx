import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { DRIFT_LIMIT, HEALTH_LIMIT, type EventRow, type InventoryItem, type ObjectDetail } from "../api/types.js";
import { act, objectPath, useLive } from "./data.js";
import { Graph } from "./graph.js";
import { useHealth, type HealthLoad } from "./health.js";
import { Health, Linked, Loading, Ready, Time } from "./parts.js";
import { Link, useLocation } from "./router.js";

/** One object: what it says, what it did (history, events), what it applied (inventory, graph), and its actions. */
export function ObjectPage({ kind, namespace, name }: { kind: string; namespace: string; name: string }) {
  const path = `objects/${[kind, namespace, name].map(encodeURIComponent).join("/")}`;
  const { data, error } = useLive<ObjectDetail>(path);
  const { hash } = useLocation();
  // Objects with no Ready of their own (not Flux objects) get their live health, read again when this one changes.
  const health = useHealth(
    path,
    data ? `${data.row.revision} ${data.row.ready} ${data.row.since}` : "",
    data?.inventory.some((i) => i.ready === undefined) ?? false,
  );
  // A deep link to a field (`#field-spec.path`) scrolls once the page has it.
  useEffect(() => {
    if (data && hash) document.getElementById(decodeURIComponent(hash.slice(1)))?.scrollIntoView();
  }, [data, hash]);
  if (!data) return <Loading error={error} />;
  const { row } = data;
  const status = (data.object.status ?? {}) as { history?: Record<string, unknown>[] };
  return (
    <article aria-labelledby="object-title">
      <p class="crumbs">
        <Link href="/">Fleet</Link> / {kind}
      </p>
      <h1 id="object-title">
        {kind} {namespace}/{name}
      </h1>
      <p class="headline">
        <Ready state={row.ready} suspended={row.suspended} /> {row.reason && <code>{row.reason}</code>}{" "}
        {row.revision && <span class="revision">{row.revision}</span>}
        {row.cluster && <span> on cluster {row.cluster}</span>}
      </p>
      {row.message && (
        <p class={`message-full${row.ready === "False" ? " failing" : ""}`} data-testid="ready-message">
          <Linked text={row.message} at={row} />
        </p>
      )}
      <Actions detail={data} path={path} />
      <Section title="Conditions">
        <table>
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
              <th scope="col">Since</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {data.conditions.map((c) => (
              <tr>
                <th scope="row">{c.type}</th>
                <td>{c.status}</td>
                <td>{c.reason}</td>
                <td>
                  <Time time={c.lastTransitionTime} />
                </td>
                <td class="message">
                  <Linked text={c.message} at={row} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Graph">
        <Graph graph={data.graph} health={health.health?.objects} />
      </Section>
      {status.history && status.history.length > 0 && (
        <Section title="Revision history">
          <History history={status.history} />
        </Section>
      )}
      {data.events.some((e) => e.drift) && (
        <Section title="Drift corrections">
          <p class="note">
            Fields each correction reverted, newest first (the last {DRIFT_LIMIT}; older ones are in the events).
          </p>
          <DriftCorrections events={data.events.filter((e) => e.drift)} />
        </Section>
      )}
      <Section title={`Events (${data.events.length})`}>
        <p class="note">Newest first; each apply's change set is in its message.</p>
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Revision</th>
              <th scope="col">By</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {data.events.map((e) => (
              <tr class={e.severity === "error" ? "failing" : undefined}>
                <td>
                  <Time time={e.timestamp} />
                </td>
                <td>{e.severity === "error" ? "Warning" : "Normal"}</td>
                <td>{e.reason}</td>
                <td class="revision">{e.revision ?? ""}</td>
                <td>{e.actor ?? ""}</td>
                <td class="message pre">
                  <Linked text={e.message} at={row} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      {data.inventory.length > 0 && (
        <Section title={`Inventory (${data.inventory.length})`}>
          <HealthNote load={health} />
          <Inventory items={data.inventory} health={health} />
        </Section>
      )}
      <Section title="Spec and status">
        <Fields value={{ spec: data.object.spec, status: data.object.status }} />
      </Section>
    </article>
  );
}

function Section({ title, children }: { title: string; children: ComponentChildren }) {
  const id = `section-${title.split(" ")[0]!.toLowerCase()}`;
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

function Actions({ detail, path }: { detail: ObjectDetail; path: string }) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<{ text: string; error: boolean }>();
  const run = (action: string, label: string) => async () => {
    setBusy(true);
    setSaid({ text: `${label}…`, error: false });
    try {
      setSaid({ text: await act(`${path}/${action}`), error: false });
    } catch (error) {
      setSaid({ text: (error as Error).message, error: true });
    } finally {
      setBusy(false);
    }
  };
  const { actions } = detail;
  if (!actions.reconcile && !actions.resume) return null;
  return (
    <div class="actions" role="group" aria-label="Actions">
      {actions.reconcile && (
        <button type="button" disabled={busy} onClick={run("reconcile", "Reconciling")}>
          Reconcile
        </button>
      )}
      {actions.reconcile && actions.withSource && (
        <button type="button" disabled={busy} onClick={run("reconcile?withSource=true", "Reconciling with source")}>
          Reconcile with source
        </button>
      )}
      {actions.suspend && (
        <button type="button" disabled={busy} onClick={run("suspend", "Suspending")}>
          Suspend
        </button>
      )}
      {actions.resume && (
        <button type="button" disabled={busy} onClick={run("resume", "Resuming")}>
          Resume
        </button>
      )}
      <output aria-live="polite" class={said?.error ? "error" : undefined}>
        {said?.text}
      </output>
    </div>
  );
}

/** status.history as each kind writes it (Kustomization snapshots, HelmRelease releases): its scalar fields. */
function History({ history }: { history: Record<string, unknown>[] }) {
  const columns = [...new Set(history.flatMap((h) => Object.keys(h)))].filter((k) =>
    history.some((h) => ["string", "number"].includes(typeof h[k])),
  );
  // Focusable, so a keyboard can scroll a wide history (axe: scrollable-region-focusable).
  return (
    <div class="scroll" tabIndex={0} role="region" aria-label="Revision history">
      <table>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col">{c}</th>
            ))}
            <th scope="col">metadata</th>
          </tr>
        </thead>
        <tbody>
          {history.map((h) => (
            <tr>
              {columns.map((c) => (
                <td>{typeof h[c] === "object" ? "" : String(h[c] ?? "")}</td>
              ))}
              <td>
                {Object.entries((h.metadata ?? {}) as Record<string, string>)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(", ")}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Where the inventory's health comes from: whom the cluster was read as and when, or why it was not read. */
function HealthNote({ load }: { load: HealthLoad }) {
  const { health, error, busy, again } = load;
  let said;
  if (error) said = <span class="error">Health not read: {error}</span>;
  else if (!health) said = busy ? "Reading health from the cluster…" : "";
  else if (health.notChecked) said = `Health not checked: ${health.notChecked}.`;
  else
    said = (
      <>
        Health read from the cluster as {health.identity} <Time time={health.at} /> ago
        {health.skipped > 0 && `; ${health.skipped} objects past the first ${HEALTH_LIMIT} not checked`}.
      </>
    );
  return (
    <p class="note" data-testid="health-note">
      {said}{" "}
      {health && !health.notChecked && (
        <button type="button" disabled={busy} onClick={again}>
          Check health again
        </button>
      )}
    </p>
  );
}

/** Each drift correction: per object, the fields it reverted, as the drift left them and as the apply restored them. */
function DriftCorrections({ events }: { events: EventRow[] }) {
  return (
    <>
      {events.map((e) => (
        <div class="drift">
          <p>
            <Time time={e.timestamp} /> ago{e.revision && <span class="revision"> {e.revision}</span>}
            {e.driftOmitted ? <span class="note"> ({e.driftOmitted} more objects not recorded)</span> : null}
          </p>
          {e.drift!.map((o) => (
            <table data-subject={o.subject}>
              <caption>{o.subject}</caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Drifted to</th>
                  <th scope="col">Restored to</th>
                </tr>
              </thead>
              <tbody>
                {o.changes.map((c) => (
                  <tr>
                    <th scope="row">
                      <code>{c.path}</code>
                    </th>
                    <td>{c.before === undefined ? <span class="note">(not set)</span> : <code>{c.before}</code>}</td>
                    <td>{c.after === undefined ? <span class="note">(removed)</span> : <code>{c.after}</code>}</td>
                  </tr>
                ))}
                {o.omitted > 0 && (
                  <tr>
                    <td colSpan={3} class="note">
                      {o.omitted} more fields not recorded
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          ))}
        </div>
      ))}
    </>
  );
}

/**
 * The inventory as a tree: namespace → kind → objects, Flux objects with their Ready and a link, the others with
 * their live health once read.
 */
function Inventory({ items, health }: { items: InventoryItem[]; health: HealthLoad }) {
  const tree = new Map<string, Map<string, InventoryItem[]>>();
  for (const item of items) {
    const ns = item.namespace || "(cluster)";
    const kinds = tree.get(ns) ?? new Map<string, InventoryItem[]>();
    kinds.set(item.kind, [...(kinds.get(item.kind) ?? []), item]);
    tree.set(ns, kinds);
  }
  return (
    <ul class="tree">
      {[...tree].map(([ns, kinds]) => (
        <li>
          <details open>
            <summary>{ns}</summary>
            <ul>
              {[...kinds].map(([kind, list]) => (
                <li>
                  <details open={list.length <= 20}>
                    <summary>
                      {kind} ({list.length})
                    </summary>
                    <ul>
                      {list.map((i) => (
                        <li data-object={`${i.kind}/${i.namespace}/${i.name}`}>
                          {i.ready ? (
                            <>
                              <Link href={objectPath(i.kind, i.namespace, i.name)}>{i.name}</Link>{" "}
                              <Ready state={i.ready} />
                            </>
                          ) : (
                            <span>
                              {i.name} <span class="note">{i.group ? `${i.group}/${i.version}` : i.version}</span>
                              {health.health && !health.health.notChecked && (
                                <>
                                  {" "}
                                  <Health {...liveHealth(health, i)} />
                                </>
                              )}
                            </span>
                          )}
                        </li>
                      ))}
                    </ul>
                  </details>
                </li>
              ))}
            </ul>
          </details>
        </li>
      ))}
    </ul>
  );
}

/** An inventory object's health as read (the key is the graph node id); absent: not checked. */
function liveHealth(load: HealthLoad, i: InventoryItem) {
  const read = load.health?.objects[`${i.kind}/${i.namespace}/${i.name}`];
  return { state: read?.status, message: read?.message };
}

/** Spec and status as an indented list; each field has an id (`field-spec.path`) that messages link to. */
function Fields({ value, at = "" }: { value: unknown; at?: string }) {
  if (value === null || typeof value !== "object") return <code>{JSON.stringify(value) ?? ""}</code>;
  const entries = Array.isArray(value)
    ? value.map((v, i) => [`[${i}]`, v] as const)
    : Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return (
    <ul class="fields">
      {entries.map(([k, v]) => {
        const path = at ? (k.startsWith("[") ? `${at}${k}` : `${at}.${k}`) : k;
        return (
          <li id={`field-${path}`}>
            <span class="field-name">{k}</span>: <Fields value={v} at={path} />
          </li>
        );
      })}
    </ul>
  );
}
