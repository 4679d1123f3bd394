import { createHash, randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { ByteLru } from "../artifacts/byte-lru.js";
import type { ChartRecord } from "./chart.js";
import type { HookRecord } from "./render.js";

// Helm's release record (helm v4 pkg/release/v1 Release) and how its Secrets driver stores it:
// JSON, gzip, base64, in a Secret `sh.helm.release.v1.<name>.v<version>` of type
// helm.sh/release.v1 labelled owner=helm, name, status, version. Sluice writes exactly this, so
// `helm list`, `helm history`, Flux's helm-controller and Sluice share one storage.

/** Helm's release statuses (pkg/release/common Status). */
export type ReleaseStatus =
  | "unknown"
  | "deployed"
  | "uninstalled"
  | "superseded"
  | "failed"
  | "uninstalling"
  | "pending-install"
  | "pending-upgrade"
  | "pending-rollback";

export interface ReleaseInfo {
  first_deployed?: string;
  last_deployed?: string;
  deleted?: string;
  description?: string;
  status: ReleaseStatus;
  notes?: string;
}

/** A release record, its keys in Helm's JSON order (name, info, chart, config, manifest, hooks, version, namespace). */
export interface ReleaseRecord {
  name: string;
  info: ReleaseInfo;
  chart: ChartRecord;
  config?: Record<string, unknown>;
  manifest?: string;
  hooks?: HookRecord[];
  version: number;
  namespace: string;
  apply_method?: "ssa" | "csa";
}

export const RELEASE_SECRET_TYPE = "helm.sh/release.v1";

/** The Secret holding one version of a release. */
export function recordSecretName(name: string, version: number): string {
  return `sh.helm.release.v1.${name}.v${version}`;
}

/**
 * The record in Helm's storage encoding: gzip (best compression, as Helm) of the JSON, base64. The gzip stream is
 * three members — the JSON before the chart, the chart, the JSON after it — which every gzip reader (Go's, which
 * Helm uses, and Node's) reads as one: the chart, most of a record's bytes and the same in every version and every
 * release of it, is compressed once per process instead of at every write (9 ms of a podinfo record's 10).
 */
export function encodeRecord(record: ReleaseRecord): string {
  const ordered = inHelmOrder(record);
  // The slot takes the chart's place in Helm's key order.
  const parts = JSON.stringify({ ...ordered, chart: CHART_SLOT }).split(`"${CHART_SLOT}"`);
  if (parts.length !== 2) return gzip(JSON.stringify(ordered)).toString("base64");
  const [before, after] = parts as [string, string];
  return Buffer.concat([gzip(before), compressedChart(JSON.stringify(ordered.chart)), gzip(after)]).toString("base64");
}

/** Where the chart goes in the record's JSON: a string that JSON-encodes to itself, unknown outside this process. */
const CHART_SLOT = `chart-${randomUUID()}`;
/**
 * Charts kept compressed: the few a process releases at once (each some tens of KiB), within a byte budget, not a
 * count, since a tenant's chart may expand to 100 MiB and compress to several.
 */
const compressedCharts = new ByteLru<Buffer>(16 << 20);

const gzip = (text: string) => gzipSync(Buffer.from(text), { level: 9 });

function compressedChart(chartJson: string): Buffer {
  const key = createHash("sha256").update(chartJson).digest("hex");
  let member = compressedCharts.get(key);
  if (!member) {
    member = gzip(chartJson);
    compressedCharts.set(key, member, member.length);
  }
  return member;
}

/** The most a decoded record may expand to: a release is its chart and manifest, far below this. */
const MAX_RECORD_BYTES = 64 << 20;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

/** A storage Secret that is not a release record Helm could have written. */
export class ReleaseRecordError extends Error {
  override name = "ReleaseRecordError";
}

/**
 * A record from a storage Secret's `release` value (as the Secret's data holds it, base64): Helm's
 * base64 of gzip of JSON (plain JSON from before Helm compressed), bounded so a planted Secret
 * cannot exhaust memory.
 */
export function decodeRecord(secretName: string, data: string): ReleaseRecord {
  const fail = (why: string) => new ReleaseRecordError(`release Secret '${secretName}' ${why}`);
  let bytes = Buffer.from(Buffer.from(data, "base64").toString("latin1"), "base64");
  if (bytes.subarray(0, 3).equals(GZIP_MAGIC)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_RECORD_BYTES });
    } catch (error) {
      throw fail(`cannot be decompressed: ${(error as Error).message}`);
    }
  }
  let record: ReleaseRecord;
  try {
    record = JSON.parse(bytes.toString("utf8")) as ReleaseRecord;
  } catch {
    throw fail("does not hold a JSON release record");
  }
  if (typeof record !== "object" || record === null || typeof record.name !== "string" || !record.info)
    throw fail("does not hold a release record");
  if (recordSecretName(record.name, record.version) !== secretName)
    throw fail(`holds release ${record.name} v${record.version}, not the one its name says`);
  return record;
}

/** The Secret Helm's driver writes for a record (labels as Helm sets them; modifiedAt on updates). */
export function recordSecret(
  record: ReleaseRecord,
  now: Date,
  existingLabels: Record<string, string> = {},
): { metadata: { name: string; labels: Record<string, string> }; type: string; data: { release: string } } {
  const seconds = String(Math.floor(now.getTime() / 1000));
  const labels = {
    createdAt: seconds,
    ...existingLabels,
    ...(existingLabels.createdAt && { modifiedAt: seconds }),
    name: record.name,
    owner: "helm",
    status: record.info.status,
    version: String(record.version),
  };
  const release = Buffer.from(encodeRecord(record)).toString("base64");
  return {
    metadata: { name: recordSecretName(record.name, record.version), labels },
    type: RELEASE_SECRET_TYPE,
    data: { release },
  };
}

/** The record's keys in Helm's order, whatever order the object was built in; empty fields left out as Helm's omitempty does. */
function inHelmOrder(record: ReleaseRecord): ReleaseRecord {
  const { name, info, chart, config, manifest, hooks, version, namespace, apply_method } = record;
  return {
    name,
    info,
    chart,
    ...(config && Object.keys(config).length > 0 && { config }),
    ...(manifest && { manifest }),
    ...(hooks && hooks.length > 0 && { hooks }),
    version,
    namespace,
    ...(apply_method && { apply_method }),
  };
}
