import { Component } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ObjectRow } from "../api/types.js";
import { objectPath, useLive } from "./data.js";
import { Linked, Loading, onTableKeys, Ready, Time } from "./parts.js";
import { Link, replace, useLocation } from "./router.js";

const STATES: Record<string, (r: ObjectRow) => boolean> = {
  all: () => true,
  failing: (r) => r.ready === "False",
  "not ready": (r) => r.ready !== "True",
  ready: (r) => r.ready === "True",
  suspended: (r) => r.suspended,
};

// The URL follows the search box once typing pauses: each history write re-renders every page subscribed to it.
const URL_AFTER_MS = 300;

/** The fleet: every object, failing first; the filter lives in the URL (`?q=…&state=…&kind=…`), so it pastes too. */
export function Overview() {
  const { data, error } = useLive<ObjectRow[]>("objects");
  const url = useLocation();
  // What was typed, ahead of the URL until the debounced write lands.
  const [typed, setTyped] = useState<string>();
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(pending.current), []);
  const q = typed ?? url.searchParams.get("q") ?? "";
  const state = url.searchParams.get("state") ?? "all";
  const kind = url.searchParams.get("kind") ?? "";
  const search = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const slash = (e: KeyboardEvent) => {
      if (e.key !== "/" || (e.target as HTMLElement).closest("input, select, textarea")) return;
      e.preventDefault();
      search.current?.focus();
    };
    document.addEventListener("keydown", slash);
    return () => document.removeEventListener("keydown", slash);
  }, []);
  // Lower-cased once per load, not once per row per keystroke.
  const searchable = useMemo(
    () =>
      (data ?? []).map((r) => ({
        row: r,
        text: `${r.kind} ${r.namespace}/${r.name} ${r.cluster ?? ""} ${r.revision} ${r.reason} ${r.message}`.toLowerCase(),
      })),
    [data],
  );
  const rows = useMemo(() => {
    const words = q.toLowerCase().split(/\s+/).filter(Boolean);
    const keep = STATES[state] ?? STATES.all!;
    return searchable
      .filter(({ row, text }) => keep(row) && (!kind || row.kind === kind) && words.every((w) => text.includes(w)))
      .map(({ row }) => row);
  }, [searchable, q, state, kind]);
  const kinds = useMemo(() => [...new Set((data ?? []).map((r) => r.kind))].sort(), [data]);
  const set = (name: string, value: string) => {
    const next = new URL(location.href);
    if (value) next.searchParams.set(name, value);
    else next.searchParams.delete(name);
    replace(`${next.pathname}${next.search}`);
  };
  const failing = (data ?? []).filter((r) => r.ready === "False").length;
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Fleet</h1>
      {data && (
        <p class="summary">
          {data.length} objects, {failing} failing{failing > 0 ? " (listed first)" : ""}
        </p>
      )}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span>
            Search <kbd>/</kbd>
          </span>
          <input
            ref={search}
            type="search"
            name="q"
            value={q}
            placeholder="name, namespace, revision, message…"
            onInput={(e) => {
              const value = (e.target as HTMLInputElement).value;
              setTyped(value);
              clearTimeout(pending.current);
              pending.current = setTimeout(() => {
                set("q", value);
                setTyped(undefined);
              }, URL_AFTER_MS);
            }}
          />
        </label>
        <label>
          State
          <select value={state} onChange={(e) => set("state", (e.target as HTMLSelectElement).value)}>
            {Object.keys(STATES).map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => set("kind", (e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {kinds.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </label>
        <output aria-live="polite">{data && `${rows.length} shown`}</output>
      </form>
      {!data ? <Loading error={error} /> : <ObjectTable rows={rows} />}
    </section>
  );
}

// Rows are drawn only around the viewport (the rest of the list is two spacer rows of their estimated height): a page
// of 1,000 objects costs the browser a screenful to lay out, and a search removes tens of rows, not hundreds.
const ESTIMATED_ROW_PX = 30;
const OVERSCAN_ROWS = 15;

function ObjectTable({ rows }: { rows: ObjectRow[] }) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [rowPx, setRowPx] = useState(ESTIMATED_ROW_PX);
  const [range, setRange] = useState<[number, number]>([0, Math.ceil(innerHeight / ESTIMATED_ROW_PX) + OVERSCAN_ROWS]);
  const [first, last] = [Math.min(range[0], rows.length), Math.min(range[1], rows.length)];
  useEffect(() => {
    const update = () => {
      const top = body.current ? -body.current.getBoundingClientRect().top : 0;
      const from = Math.max(0, Math.floor(top / rowPx) - OVERSCAN_ROWS);
      const to = Math.ceil((top + innerHeight) / rowPx) + OVERSCAN_ROWS;
      setRange((r) => (r[0] === from && r[1] === to ? r : [from, to]));
    };
    update();
    addEventListener("scroll", update, { passive: true });
    addEventListener("resize", update);
    return () => {
      removeEventListener("scroll", update);
      removeEventListener("resize", update);
    };
  }, [rowPx]);
  // The drawn rows' mean height replaces the estimate (messages wrap), so the spacers stay close to the real list.
  useLayoutEffect(() => {
    const drawn = body.current?.querySelectorAll<HTMLElement>("tr:not(.spacer)");
    if (!drawn?.length) return;
    const mean = [...drawn].reduce((sum, tr) => sum + tr.offsetHeight, 0) / drawn.length;
    if (Math.abs(mean - rowPx) > 1) setRowPx(mean);
  }, [first, last, rows]);
  // A row focused (by the arrow keys) gets its neighbours drawn before the next key press, not at the next scroll.
  const onFocusIn = (event: FocusEvent) => {
    const at = Number((event.target as HTMLElement).closest("tr")?.getAttribute("aria-rowindex")) - 2;
    if (!(at >= 0)) return;
    setRange(([from, to]) =>
      at - OVERSCAN_ROWS >= from && at + OVERSCAN_ROWS < to
        ? [from, to]
        : [Math.min(from, Math.max(0, at - OVERSCAN_ROWS)), Math.max(to, at + OVERSCAN_ROWS + 1)],
    );
  };
  return (
    <table class="objects" aria-rowcount={rows.length + 1} onKeyDown={onTableKeys} onFocusIn={onFocusIn}>
      <thead>
        <tr aria-rowindex={1}>
          <th scope="col">Object</th>
          <th scope="col">Kind</th>
          <th scope="col">Cluster</th>
          <th scope="col">Ready</th>
          <th scope="col">Revision</th>
          <th scope="col">Since</th>
          <th scope="col">Message</th>
        </tr>
      </thead>
      <tbody ref={body}>
        {first > 0 && <Spacer px={first * rowPx} />}
        {rows.slice(first, last).map((r, i) => (
          <Row key={`${r.kind}/${r.namespace}/${r.name}`} row={r} index={first + i + 2} />
        ))}
        {last < rows.length && <Spacer px={(rows.length - last) * rowPx} />}
      </tbody>
    </table>
  );
}

/** Stands for rows not drawn, so the scrollbar covers the whole list. */
function Spacer({ px }: { px: number }) {
  return (
    <tr class="spacer" aria-hidden="true">
      <td colSpan={7} style={{ height: `${px}px` }} />
    </tr>
  );
}

/** One object's row, redrawn only when it changes (a URL write or a scroll re-renders the table, not every row). */
class Row extends Component<{ row: ObjectRow; index: number }> {
  override shouldComponentUpdate(next: { row: ObjectRow; index: number }): boolean {
    return next.row !== this.props.row || next.index !== this.props.index;
  }

  override render({ row: r, index }: { row: ObjectRow; index: number }) {
    return (
      <tr aria-rowindex={index} class={r.ready === "False" ? "failing" : undefined}>
        <th scope="row">
          <Link class="row-link" href={objectPath(r.kind, r.namespace, r.name)}>
            {r.namespace}/{r.name}
          </Link>
        </th>
        <td>{r.kind}</td>
        <td>{r.cluster ?? "-"}</td>
        <td>
          <Ready state={r.ready} suspended={r.suspended} />
        </td>
        <td class="revision">{r.revision || "-"}</td>
        <td>
          <Time time={r.since} />
        </td>
        <td class="message">
          <Linked text={r.message} at={r} />
        </td>
      </tr>
    );
  }
}
