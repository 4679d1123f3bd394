import type { ComponentChildren } from "preact";
import type { HealthState, ReadyState } from "../api/types.js";
import { objectPath } from "./data.js";
import { Link } from "./router.js";

// Small pieces every page uses. Everything here renders text as text: Preact escapes it, and nothing uses
// dangerouslySetInnerHTML (an object's message is written by whoever controls its repository).

const READY_LABEL: Record<ReadyState, string> = {
  True: "Ready",
  False: "Failing",
  Unknown: "In progress",
  "-": "Pending",
};
const READY_ICON: Record<ReadyState, string> = { True: "✔", False: "✗", Unknown: "◎", "-": "·" };

export function Ready({ state, suspended }: { state: ReadyState; suspended?: boolean }) {
  return (
    <span class={`ready ${toneClass(state)}`}>
      <span aria-hidden="true">{READY_ICON[state]}</span> {READY_LABEL[state]}
      {suspended && <span class="suspended"> (suspended)</span>}
    </span>
  );
}

/** kstatus as the page words it, with the Ready colour it shares; undefined: not checked. */
export const HEALTH: Record<HealthState | "none", { label: string; icon: string; tone: ReadyState }> = {
  Current: { label: "Healthy", icon: "✔", tone: "True" },
  InProgress: { label: "Progressing", icon: "◎", tone: "Unknown" },
  Failed: { label: "Failed", icon: "✗", tone: "False" },
  Terminating: { label: "Terminating", icon: "◎", tone: "Unknown" },
  NotFound: { label: "Missing", icon: "✗", tone: "False" },
  Unknown: { label: "Unknown", icon: "?", tone: "-" },
  none: { label: "Not checked", icon: "·", tone: "-" },
};

export const toneClass = (tone: ReadyState) => `ready-${tone === "-" ? "none" : tone.toLowerCase()}`;

/** An inventory object's live health (kstatus) and, unless healthy, why. */
export function Health({ state, message }: { state?: HealthState; message?: string }) {
  const { label, icon, tone } = HEALTH[state ?? "none"];
  return (
    <span class={`ready ${toneClass(tone)}`} data-health={state ?? "none"}>
      <span aria-hidden="true">{icon}</span> {label}
      {message && state !== "Current" && <span class="note"> {message}</span>}
    </span>
  );
}

/** "3m", "2h", "5d": how long ago an RFC 3339 time was; "" when unknown. */
export function ago(time: string | undefined, now = Date.now()): string {
  const at = time ? Date.parse(time) : NaN;
  if (Number.isNaN(at)) return "";
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function Time({ time }: { time: string | undefined }) {
  if (!time) return <span>-</span>;
  return (
    <time dateTime={time} title={time}>
      {ago(time)}
    </time>
  );
}

const FLUX_KINDS =
  "GitRepository|OCIRepository|Bucket|HelmRepository|HelmChart|ExternalArtifact|ArtifactGenerator|Kustomization|HelmRelease|Alert|Provider|Receiver|ImageRepository|ImagePolicy|ImageUpdateAutomation";
// `Kind/namespace/name`, `Kind/name` (the object's namespace), `Kind 'name'`, and a field path such as `spec.path`.
const MENTION = new RegExp(
  `\\b(${FLUX_KINDS})(?:/([a-z0-9][-a-z0-9.]*))?/([a-z0-9][-a-z0-9.]*)|\\b(${FLUX_KINDS}) '([a-z0-9][-a-z0-9.]*)'|\\b((?:spec|status)(?:\\.[A-Za-z][A-Za-z0-9]*(?:\\[\\d+\\])?)+)`,
  "g",
);

/**
 * A message with what it names made links: the Flux objects it mentions to their pages, the fields (`spec.path`) to
 * the field on the page of the object `at` (whose message it is). Text stays text.
 */
export function Linked({ text, at }: { text: string; at: { kind: string; namespace: string; name: string } }) {
  const { namespace } = at;
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const m of text.matchAll(MENTION)) {
    parts.push(text.slice(last, m.index));
    const [whole, kind, ns, name, kind2, name2, field] = m;
    if (field) parts.push(<Link href={`${objectPath(at.kind, namespace, at.name)}#field-${field}`}>{whole}</Link>);
    else {
      const target = kind ? objectPath(kind, ns ?? namespace, name!) : objectPath(kind2!, namespace, name2!);
      parts.push(<Link href={target}>{whole}</Link>);
    }
    last = m.index + whole.length;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}

export function Loading({ error }: { error?: string }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : (
    <p aria-busy="true">Loading…</p>
  );
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return "-";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Arrow keys move between the links of a table's first column, as in a list. */
export function onTableKeys(event: KeyboardEvent): void {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const links = [...(event.currentTarget as HTMLElement).querySelectorAll<HTMLAnchorElement>("tbody a.row-link")];
  const at = links.indexOf(document.activeElement as HTMLAnchorElement);
  const next = links[at + (event.key === "ArrowDown" ? 1 : -1)] ?? (at < 0 ? links[0] : undefined);
  if (!next) return;
  event.preventDefault();
  next.focus();
}
