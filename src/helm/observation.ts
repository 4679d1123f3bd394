import { createHash } from "node:crypto";
import type { ReleaseRecord } from "./release-record.js";

// helm-controller's view of a stored release (internal/release/observation.go): the record without
// the chart's files, test hooks left out, digested as Go's encoding/json writes it. A snapshot in
// status.history carries this digest; a stored release whose digest differs was changed by someone
// else (a manual `helm upgrade`), and is adopted rather than trusted.

/** The digest of a release record as helm-controller computes it (`sha256:<hex>`). */
export function releaseDigest(record: ReleaseRecord): string {
  const hooks = (record.hooks ?? []).filter((h) => !h.events.includes("test"));
  const config = record.config && Object.keys(record.config).length > 0 ? record.config : null;
  const observation = {
    name: record.name,
    version: record.version,
    info: record.info,
    chartMetadata: record.chart.metadata,
    config: config && sortedKeys(config),
    manifest: record.manifest ?? "",
    hooks: hooks.length > 0 ? hooks : null,
    namespace: record.namespace,
  };
  return `sha256:${createHash("sha256")
    .update(goJson(observation) + "\n")
    .digest("hex")}`;
}

/** JSON as Go's encoding/json writes it: `<`, `>`, `&` and the line separators escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A Go map's encoding: keys sorted at every level. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]),
  );
}
