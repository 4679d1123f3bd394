import type { Cluster } from "../cluster/cluster.js";
import { describeApiError } from "./errors.js";
import { parseEntryId, type InventoryEntry } from "./inventory.js";
import { canaryHealth } from "./health/canary-target.js";
import type { CustomHealth } from "./health/expressions.js";
import { isCanary } from "./health/flagger.js";
import { computeStatus } from "./health/kstatus.js";
import { type Status } from "./health/status.js";
import { formatId, type KubeObject } from "./object.js";
import { getObject } from "./objects-api.js";

/** Enough to find an object: a rendered object, or an inventory entry turned into a reference. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** One object's health, by kstatus rules. */
export interface ObjectHealth {
  subject: string;
  status: Status;
  message: string;
}

/** The health of a set: `healthy` when all are Current; `failed` when any is Failed (no point waiting). */
export interface HealthReport {
  healthy: boolean;
  failed: boolean;
  objects: ObjectHealth[];
}

/**
 * Reads each object once and answers now — the reconciler requeues instead of sleeping on a
 * rollout, so a Lambda never waits. One GET per object.
 */
export async function checkHealth(cluster: Cluster, refs: ObjectRef[], custom?: CustomHealth): Promise<HealthReport> {
  const objects = await Promise.all(refs.map((ref) => healthOf(cluster, ref, custom)));
  return {
    healthy: objects.every((o) => o.status === "Current"),
    failed: objects.some((o) => o.status === "Failed"),
    objects,
  };
}

async function healthOf(cluster: Cluster, ref: ObjectRef, custom: CustomHealth | undefined): Promise<ObjectHealth> {
  const subject = formatId({ kind: ref.kind, namespace: ref.metadata.namespace ?? "", name: ref.metadata.name });
  const info = await cluster.discovery.find(ref.apiVersion, ref.kind);
  if (!info)
    return { subject, status: "Unknown", message: `${ref.apiVersion} ${ref.kind} is not served by the cluster` };
  try {
    const live: KubeObject | undefined = await getObject(
      cluster,
      info,
      ref.metadata.namespace ?? "",
      ref.metadata.name,
    );
    const verdict = (live && !live.metadata.deletionTimestamp && custom?.(live)) || computeStatus(live);
    const { status, message } = live && isCanary(live) ? await canaryHealth(cluster, live, verdict) : verdict;
    return { subject, status, message };
  } catch (error) {
    return {
      subject,
      status: "Unknown",
      message: describeApiError(error, { secret: false, identity: cluster.client.identity }),
    };
  }
}

/** Options for {@link waitForHealth}. */
export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Time between checks. @default 2_000 (as Flux) */
  intervalMs?: number;
  /** Flux's `healthCheckExprs`, compiled. */
  custom?: CustomHealth;
}

/**
 * Blocks until every object is Current, one is Failed (fail fast), or the timeout passes; for the
 * CLI, local mode and the apply engine's short wait on CRDs and Namespaces.
 */
export async function waitForHealth(cluster: Cluster, refs: ObjectRef[], options: WaitOptions): Promise<HealthReport> {
  const deadline = cluster.clock.now() + options.timeoutMs;
  for (;;) {
    const report = await checkHealth(cluster, refs, options.custom);
    if (report.healthy || report.failed || cluster.clock.now() >= deadline) return report;
    await cluster.clock.sleep(Math.min(options.intervalMs ?? 2_000, Math.max(0, deadline - cluster.clock.now())));
  }
}

/** A reference to the object an inventory entry names. */
export function refOfEntry(entry: InventoryEntry): ObjectRef {
  return refOf(parseEntryId(entry.id), entry.v);
}

/** A reference from an inventory-style identity plus version. */
export function refOf(
  object: { group: string; kind: string; namespace: string; name: string },
  version: string,
): ObjectRef {
  return {
    apiVersion: object.group ? `${object.group}/${version}` : version,
    kind: object.kind,
    metadata: { name: object.name, namespace: object.namespace || undefined },
  };
}
