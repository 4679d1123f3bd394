/**
 * Health of Flagger `Canary` objects (flagger.app/v1beta1), read as Flagger writes them (Flagger
 * v1.44: pkg/apis/flagger/v1beta1/status.go, pkg/canary/status.go, pkg/controller/scheduler.go).
 * Flagger sets `status.phase` and, in the same status update, one condition `Promoted` whose reason
 * is the phase. Pure: objects in, status out.
 *
 * | phase                      | kstatus     | why
 * |
 * |----------------------------|-------------|-------------------------------------------------------------------------|
 * | "" (no status)             | InProgress  | Flagger has not picked the Canary up yet (or is not installed)
 * |
 * | Initializing               | InProgress  | Flagger is creating the primary workload and services
 * |
 * | Initialized                | Current     | the first revision is promoted as is; Flagger never analyses it
 * |
 * | Waiting                    | InProgress  | a confirm-rollout gate holds the analysis back
 * |
 * | Progressing                | InProgress  | the analysis runs: traffic weight, iterations, failed checks
 * |
 * | WaitingPromotion           | InProgress  | a confirm-promotion gate holds the promotion back
 * |
 * | Promoting, Finalising      | InProgress  | the primary takes the new revision, then all traffic again
 * |
 * | Succeeded                  | Current     | the analysis passed and the primary runs the new revision
 * |
 * | Failed                     | Failed      | Flagger rolled back: canary scaled to zero, primary on the old
 * revision |
 * | Terminating, Terminated    | Terminating | Flagger reverts the target on deletion (`revertOnDeletion`)
 * |
 * | anything else              | Unknown     | a phase this port does not know is never healthy
 * |
 *
 * Current also needs `Promoted` to agree (status True, reason = phase): Flagger writes both at once,
 * so a disagreement means the status was not written by Flagger.
 */

import { parseDuration } from "../../api/duration.js";
import type { StatusResult } from "./status.js";

type Obj = Record<string, unknown>;
interface PromotedCondition {
  status?: unknown;
  reason?: unknown;
  message?: unknown;
  lastUpdateTime?: unknown;
}

/** Where a Canary's target lives: Flagger refuses cross-namespace references, so in the Canary's namespace. */
export interface CanaryTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

const IN_PROGRESS = new Map([
  ["", "Canary is waiting for Flagger to initialize it"],
  ["Initializing", "Flagger is initializing the primary workload"],
  ["Waiting", "Canary analysis is waiting for approval (confirm-rollout gate)"],
  ["WaitingPromotion", "Canary promotion is waiting for approval (confirm-promotion gate)"],
  ["Promoting", "Canary analysis passed, the primary is rolling out the new revision"],
  ["Finalising", "Canary promoted, Flagger is routing all traffic to the primary"],
]);
const PROMOTED = new Set(["Initialized", "Succeeded"]);
const TERMINATING = new Set(["Terminating", "Terminated"]);
// Flagger's defaults and floor for `analysis.interval` (GetAnalysisInterval).
const DEFAULT_INTERVAL_MS = 60_000;
const MIN_INTERVAL_MS = 10_000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
// Text from the cluster goes into conditions and terminals: bounded, on one line.
const MAX_TEXT = 240;

/** True for Flagger's Canary kind. */
export function isCanary(object: { apiVersion?: unknown; kind?: unknown }): boolean {
  return (
    object.kind === "Canary" && typeof object.apiVersion === "string" && object.apiVersion.startsWith("flagger.app/")
  );
}

/** kstatus of a Canary from its phase and `Promoted` condition (see the table above). */
export function canaryStatus(canary: Obj): StatusResult {
  const status = (canary.status ?? {}) as Obj;
  const phase = typeof status.phase === "string" ? status.phase : "";
  const promoted = promotedCondition(canary);
  const waiting = IN_PROGRESS.get(phase);
  if (waiting) return { status: "InProgress", message: waiting };
  if (phase === "Progressing")
    return { status: "InProgress", message: `Canary analysis in progress: ${progressOf(canary)}` };
  if (phase === "Failed") {
    const why = text(promoted?.message) || "Canary analysis failed";
    return {
      status: "Failed",
      message: `Flagger rolled back: ${why} (phase Failed, ${num(status.failedChecks)} failed checks)`,
    };
  }
  if (TERMINATING.has(phase)) return { status: "Terminating", message: `Canary is ${phase.toLowerCase()}` };
  if (PROMOTED.has(phase)) {
    if (promoted?.status === "True" && promoted.reason === phase)
      return { status: "Current", message: text(promoted.message) || `Canary ${phase}` };
    return { status: "InProgress", message: `Canary phase is ${phase} but its Promoted condition does not confirm it` };
  }
  return { status: "Unknown", message: `Canary has an unknown Flagger phase "${text(phase)}"` };
}

/** The object a Canary analyses (`spec.targetRef`), or undefined when the reference is incomplete. */
export function canaryTarget(canary: Obj): CanaryTarget | undefined {
  const ref = ((canary.spec ?? {}) as Obj).targetRef as Obj | undefined;
  const namespace = ((canary.metadata ?? {}) as Obj).namespace;
  if (!ref || typeof namespace !== "string") return undefined;
  const { apiVersion, kind, name } = ref;
  if (
    typeof apiVersion !== "string" ||
    typeof kind !== "string" ||
    typeof name !== "string" ||
    !apiVersion ||
    !kind ||
    !name
  )
    return undefined;
  return { apiVersion, kind, namespace, name };
}

/**
 * Holds back a verdict about the previous revision. Flagger writes no observedGeneration, and its
 * `lastAppliedSpec` is an FNV hash of a Go dump of the target's pod template that cannot be
 * recomputed outside Flagger, so freshness is judged by time: a verdict (Current or Failed) reached
 * before the target's pod template last changed (the newest managedFields time of a writer owning
 * `spec.template`) is about the previous revision, and the Canary is InProgress until Flagger moves
 * to a new phase. Flagger looks for changes once per analysis interval; after two intervals without
 * a new phase it has found nothing to analyse (say, a change outside what it hashes), and the
 * verdict stands. `target` undefined: the target does not exist, so nothing is promoted.
 */
export function holdForAnalysis(
  canary: Obj,
  verdict: StatusResult,
  target: Obj | undefined,
  nowMs: number,
): StatusResult {
  if (verdict.status !== "Current" && verdict.status !== "Failed") return verdict;
  const ref = canaryTarget(canary);
  if (!ref) return verdict;
  const subject = `${ref.kind}/${ref.namespace}/${ref.name}`;
  if (!target) return { status: "InProgress", message: `Canary target ${subject} not found` };
  const changed = lastTemplateChange(target);
  const decided = timeOf(promotedCondition(canary)?.lastUpdateTime);
  if (changed === undefined || changed <= decided || nowMs - changed > 2 * analysisIntervalMs(canary)) return verdict;
  const phase = text(((canary.status ?? {}) as Obj).phase);
  const since = Number.isNaN(decided) ? "" : ` since ${new Date(decided).toISOString()}`;
  return {
    status: "InProgress",
    message: `waiting for Flagger to analyse ${subject} changed at ${new Date(changed).toISOString()} (phase ${phase}${since})`,
  };
}

/** Newest time a writer of the target's pod template (its whole spec for kinds without one) changed it. */
function lastTemplateChange(target: Obj): number | undefined {
  const entries = ((target.metadata ?? {}) as Obj).managedFields;
  if (!Array.isArray(entries)) return undefined;
  let newest: number | undefined;
  for (const entry of entries as Obj[]) {
    if (typeof entry !== "object" || entry === null || entry.subresource) continue;
    const spec = ((entry.fieldsV1 ?? {}) as Obj)["f:spec"] as Obj | undefined;
    const owns = spec && typeof spec === "object" && (spec["f:template"] !== undefined || !hasPodTemplate(target));
    const time = timeOf(entry.time);
    if (owns && !Number.isNaN(time) && (newest === undefined || time > newest)) newest = time;
  }
  return newest;
}

/** Milliseconds of a Kubernetes timestamp (RFC 3339); NaN for anything else, which Date.parse would guess at. */
function timeOf(value: unknown): number {
  return typeof value === "string" && RFC3339.test(value) ? Date.parse(value) : NaN;
}

function hasPodTemplate(target: Obj): boolean {
  const spec = target.spec as Obj | undefined;
  return typeof spec?.template === "object" && spec.template !== null;
}

function analysisIntervalMs(canary: Obj): number {
  const spec = (canary.spec ?? {}) as Obj;
  const interval = ((spec.analysis ?? spec.canaryAnalysis ?? {}) as Obj).interval;
  if (typeof interval !== "string" || !interval) return DEFAULT_INTERVAL_MS;
  try {
    return Math.max(parseDuration(interval), MIN_INTERVAL_MS);
  } catch {
    return DEFAULT_INTERVAL_MS;
  }
}

function progressOf(canary: Obj): string {
  const status = (canary.status ?? {}) as Obj;
  const spec = (canary.spec ?? {}) as Obj;
  const analysis = (spec.analysis ?? spec.canaryAnalysis ?? {}) as Obj;
  const threshold = num(analysis.threshold) > 0 ? num(analysis.threshold) : 1;
  const step =
    num(analysis.iterations) > 0
      ? `iteration ${num(status.iterations)}/${num(analysis.iterations)}`
      : `weight ${num(status.canaryWeight)}%`;
  return `${step}, ${num(status.failedChecks)}/${threshold} failed checks`;
}

function promotedCondition(canary: Obj): PromotedCondition | undefined {
  const conditions = ((canary.status ?? {}) as Obj).conditions;
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as unknown[]).find(
    (c): c is PromotedCondition => typeof c === "object" && c !== null && (c as Obj).type === "Promoted",
  );
}

/** Cluster-written text, on one line and bounded. */
function text(value: unknown): string {
  // eslint-disable-next-line no-control-regex
  const controls = /[\u0000-\u001f\u007f-\u009f]+/g;
  const line = String(value ?? "")
    .replace(controls, " ")
    .trim();
  return line.length > MAX_TEXT ? `${line.slice(0, MAX_TEXT)}…` : line;
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}
