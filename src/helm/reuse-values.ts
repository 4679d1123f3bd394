import type { ReleaseRecord } from "./release-record.js";

// `upgrade.preserveValues`: helm-controller sets Helm's ReuseValues (and not ResetValues), so the upgrade
// takes the current release's values as Helm v4's Upgrade.reuseValues does (pkg/action/upgrade.go):
// - the values rendered are the new ones over the current release's user-supplied values (CoalesceTables);
// - the chart's own defaults are replaced by the current release's coalesced values (its stored chart's
//   defaults under its user-supplied values), so the new chart's values.yaml is not read at all.
// A stored chart has no sub-charts (Helm does not encode them), so only the top-level coalesce applies.

type Values = Record<string, unknown>;

export interface ReusedValues {
  /** The values to render and store as the release's config. */
  values: Values;
  /** What replaces the chart's values.yaml. */
  chartValues: Values;
}

/**
 * The release Helm's upgrade reuses values from: the newest version when it is deployed, else the newest
 * deployed one, else the newest when it failed or was superseded (Helm's currentRelease).
 */
export function currentRelease(history: ReleaseRecord[]): ReleaseRecord | undefined {
  const newest = history.at(-1);
  if (!newest || newest.info.status === "deployed") return newest;
  const deployed = history.findLast((r) => r.info.status === "deployed");
  if (deployed) return deployed;
  return newest.info.status === "failed" || newest.info.status === "superseded" ? newest : undefined;
}

export function reuseValues(values: Values, current: ReleaseRecord): ReusedValues {
  const config = current.config ?? {};
  return {
    values: coalesceTables(structuredClone(values), structuredClone(config)),
    chartValues: coalesceChartValues(structuredClone(config), current.chart.values ?? {}),
  };
}

const isTable = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Helm's coalesceValues for a chart without sub-charts: the chart's defaults fill in what `values` lacks; a null
 * in `values` removes the key; tables are coalesced key by key.
 */
function coalesceChartValues(values: Values, defaults: Values): Values {
  for (const [key, fallback] of Object.entries(structuredClone(defaults))) {
    if (!(key in values)) values[key] = fallback;
    else if (values[key] === null) delete values[key];
    else if (isTable(values[key]) && isTable(fallback)) coalesceTables(values[key], fallback);
  }
  return values;
}

/**
 * Helm's CoalesceTables (merge false): `src` fills in what `dst` lacks, recursively; `dst` wins elsewhere. A null in
 * `dst` deletes the key when `src` has a value for it, and stays null otherwise.
 */
function coalesceTables(dst: Values, src: Values): Values {
  for (const [key, value] of Object.entries(src)) {
    if (!(key in dst)) dst[key] = value;
    else if (dst[key] === null) {
      if (value !== null) delete dst[key];
    } else if (isTable(value) && isTable(dst[key])) coalesceTables(dst[key], value);
  }
  return dst;
}
