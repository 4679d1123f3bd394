import { isDeepStrictEqual } from "node:util";
import type { KubeObject } from "./object.js";

// What an apply changed in an existing object, field by field (before → after), for the record of a drift correction.
// The record outlives the apply (events, the web UI), so it never holds a Secret's values or an object SOPS decrypted:
// those fields are named as changed, their values replaced by HIDDEN.

/** One field that differs: its path (`data.level`, `spec.template.spec.containers[0].image`) and JSON values. */
export interface FieldChange {
  path: string;
  /** The value before, as JSON (clipped); absent: the field was not set. */
  before?: string;
  /** The value after, as JSON (clipped); absent: the field is removed. */
  after?: string;
}

/** One object's changed fields, at most {@link MAX_FIELDS}; `omitted` counts the rest. */
export interface FieldDiff {
  changes: FieldChange[];
  omitted: number;
}

/** The objects a drift correction wrote back, with their fields; bounded so an event stays small. */
export interface DriftReport {
  objects: { subject: string; diff: FieldDiff }[];
  /** Objects left out past the size bound. */
  omitted: number;
}

/** What stands in for a value that must not be shown. */
export const HIDDEN = "(hidden)";
const MAX_FIELDS = 30;
const VALUE_CHARS = 200;
// An event travels through SQS (256 KiB) and CloudWatch Logs on AWS and is re-read whole by the UI locally.
const REPORT_CHARS = 32_000;
/** kubectl's client-side apply copies the whole object, a Secret's values included, into this annotation. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * The fields in which `after` (what the API server stores after the apply: its dry-run result) differs from
 * `before` (the live object): labels, annotations and everything outside metadata and status. `hideValues` hides
 * every value (an object SOPS decrypted); a Secret's data, stringData and last-applied annotation are always hidden.
 */
export function fieldDiff(before: KubeObject, after: KubeObject, hideValues = false): FieldDiff {
  const changes: FieldChange[] = [];
  let omitted = 0;
  const isSecret = after.kind === "Secret" && after.apiVersion === "v1";
  const hidden = (path: Key[]) =>
    hideValues ||
    (isSecret &&
      (path[0] === "data" || path[0] === "stringData" || (path[1] === "annotations" && path[2] === LAST_APPLIED)));
  const record = (path: Key[], from: unknown, to: unknown) => {
    if (changes.length >= MAX_FIELDS) return void omitted++;
    const show = (value: unknown) => (hidden(path) ? HIDDEN : clip(JSON.stringify(value)));
    changes.push({
      path: formatPath(path),
      ...(from !== undefined && { before: show(from) }),
      ...(to !== undefined && { after: show(to) }),
    });
  };
  const walk = (path: Key[], from: unknown, to: unknown) => {
    if (isDeepStrictEqual(from, to)) return;
    if (isRecord(from) && isRecord(to)) {
      for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) walk([...path, key], from[key], to[key]);
    } else if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) {
      from.forEach((item, i) => walk([...path, i], item, to[i]));
    } else record(path, from, to);
  };
  for (const key of ["labels", "annotations"])
    walk(["metadata", key], before.metadata[key] ?? {}, after.metadata[key] ?? {});
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)]))
    if (key !== "metadata" && key !== "status") walk([key], before[key], after[key]);
  return { changes, omitted };
}

/** The configured objects of a change set with their field diffs, as much as fits the report's bound. */
export function driftReport(changeSet: { subject: string; action: string; diff?: FieldDiff }[]): DriftReport {
  const report: DriftReport = { objects: [], omitted: 0 };
  let size = 0;
  for (const { subject, action, diff } of changeSet) {
    if (action !== "configured" || !diff) continue;
    size += JSON.stringify(diff).length + subject.length;
    if (size > REPORT_CHARS) report.omitted++;
    else report.objects.push({ subject, diff });
  }
  return report;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const clip = (text: string | undefined) =>
  text === undefined ? "" : text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS)}…` : text;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A field name, or an array index. */
type Key = string | number;

/** `spec.containers[0].image`; a key that is not an identifier is quoted (`metadata.labels["app.kubernetes.io/name"]`). */
function formatPath(path: Key[]): string {
  return path
    .map((key, i) =>
      typeof key === "number"
        ? `[${key}]`
        : IDENTIFIER.test(key)
          ? `${i ? "." : ""}${key}`
          : `[${JSON.stringify(key)}]`,
    )
    .join("");
}
