import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { InventoryItem, ObjectDetail } from "../api/types.js";
import { act, objectPath, useLive } from "./data.js";
import { Graph } from "./graph.js";
import { Linked, Loading, Ready, Time } from "./parts.js";
import { Link, useLocation } from "./router.js";

/** One object: what it says, what it did (history, events), what it applied (inventory, graph), and its actions. */
export function ObjectPage({ kind, namespace, name }: { kind: string; namespace: string; name: string }) {
  const path = `objects/${[kind, namespace, name].map(encodeURIComponent).join("/")}`;
  const { data, error } = useLive<ObjectDetail>(path);
  const { hash } = useLocation();
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
        <Graph graph={data.graph} />
      </Section>
      {status.history && status.history.length > 0 && (
        <Section title="Revision history">
          <History history={status.history} />
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
          <Inventory items={data.inventory} />
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
  return (
    <div class="scroll">
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

/** The inventory as a tree: namespace → kind → objects, Flux objects with their Ready and a link. */
function Inventory({ items }: { items: InventoryItem[] }) {
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
                        <li>
                          {i.ready ? (
                            <>
                              <Link href={objectPath(i.kind, i.namespace, i.name)}>{i.name}</Link>{" "}
                              <Ready state={i.ready} />
                            </>
                          ) : (
                            <span>
                              {i.name} <span class="note">{i.group ? `${i.group}/${i.version}` : i.version}</span>
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
