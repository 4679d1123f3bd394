import type { Condition } from "../api/meta.js";
import { CONDITION, REASON } from "../api/reasons.js";
import { findCondition, removeCondition, setCondition, type ConditionInput } from "./conditions.js";

// The status of a Flux object, written in one place: every reconciler marks its object Ready,
// failed or progressing through these, so the rules Flux's runtime/conditions enforces hold by
// construction (and statusViolations checks them wherever a status is written).

/** The part of a Flux object's status these helpers write. */
export interface ConditionedStatus {
  conditions?: Condition[];
  observedGeneration?: number;
}

/** Which generation a status is written for, and when (the clock is passed in, never read here). */
export interface Stamp {
  generation: number;
  now: Date;
}

/** Sets one condition, stamped; the rest of the status is kept. */
export function withCondition<S extends ConditionedStatus>(status: S, input: ConditionInput, at: Stamp): S {
  return { ...status, conditions: setCondition(status.conditions, input, at.generation, at.now) };
}

export function withoutConditions<S extends ConditionedStatus>(status: S, ...types: string[]): S {
  let conditions = status.conditions;
  for (const type of types) conditions = removeCondition(conditions, type);
  return { ...status, conditions };
}

/** Ready=True for this generation; Reconciling and Stalled go. */
export function markReady<S extends ConditionedStatus>(status: S, at: Stamp, reason: string, message: string): S {
  const ready = withCondition(status, { type: CONDITION.ready, status: "True", reason, message }, at);
  return { ...withoutConditions(ready, CONDITION.reconciling, CONDITION.stalled), observedGeneration: at.generation };
}

/**
 * Ready=False with Flux's reason; Reconciling goes. `stalled`: only a change of the spec can help,
 * so Stalled=True says so; a Stalled condition from an earlier attempt goes when this one is not.
 */
export function markFailed<S extends ConditionedStatus>(
  status: S,
  at: Stamp,
  reason: string,
  message: string,
  options: { stalled?: boolean } = {},
): S {
  let next = withCondition(status, { type: CONDITION.ready, status: "False", reason, message }, at);
  next = options.stalled
    ? withCondition(next, { type: CONDITION.stalled, status: "True", reason, message }, at)
    : withoutConditions(next, CONDITION.stalled);
  return { ...withoutConditions(next, CONDITION.reconciling), observedGeneration: at.generation };
}

/**
 * Ready=Unknown while work is under way (a rollout being health-checked, an agent applying);
 * Reconciling=True keeps the time it became True, so elapsed time is measured from there.
 */
export function markProgressing<S extends ConditionedStatus>(status: S, at: Stamp, message: string): S {
  const progressing = { reason: REASON.progressing, message };
  let next = withCondition(status, { type: CONDITION.reconciling, status: "True", ...progressing }, at);
  next = withCondition(next, { type: CONDITION.ready, status: "Unknown", ...progressing }, at);
  return { ...withoutConditions(next, CONDITION.stalled), observedGeneration: at.generation };
}

/** Conditions whose True is bad news (source-controller's negative polarity): Ready cannot be True beside them. */
const NEGATIVE_POLARITY: readonly string[] = [
  CONDITION.fetchFailed,
  CONDITION.artifactOutdated,
  CONDITION.storageOperationFailed,
  CONDITION.buildFailed,
];

/**
 * What is wrong with a status, as Flux's runtime/conditions checker sees it, for an object at
 * `generation`: Ready present once any condition is; Stalled=True only beside Ready=False, never
 * beside Reconciling=True; Ready=True only for the current generation, with nothing in progress and
 * no negative-polarity condition True; no generation newer than the object's; each type once.
 * Empty when it is sound.
 */
export function statusViolations(status: ConditionedStatus | undefined, generation: number): string[] {
  const conditions = status?.conditions ?? [];
  const violations: string[] = [];
  const observed = status?.observedGeneration;
  if (observed !== undefined && observed > generation)
    violations.push(`observedGeneration ${observed} is newer than generation ${generation}`);
  if (conditions.length === 0) return violations;
  const statusOf = (type: string) => findCondition(conditions, type)?.status;
  const ready = statusOf(CONDITION.ready);
  if (!ready) violations.push("conditions are set but Ready is not");
  if (statusOf(CONDITION.stalled) === "True") {
    if (ready && ready !== "False") violations.push(`Stalled is True but Ready is ${ready}`);
    if (statusOf(CONDITION.reconciling) === "True") violations.push("Stalled and Reconciling are both True");
  }
  if (ready === "True") {
    if (observed !== generation)
      violations.push(`Ready is True but observedGeneration ${observed} is not generation ${generation}`);
    for (const type of [CONDITION.reconciling, ...NEGATIVE_POLARITY])
      if (statusOf(type) === "True") violations.push(`Ready is True beside ${type}=True`);
  }
  const seen = new Set<string>();
  for (const c of conditions) {
    if (seen.has(c.type)) violations.push(`condition ${c.type} appears twice`);
    seen.add(c.type);
    if ((c.observedGeneration ?? 0) > generation)
      violations.push(`condition ${c.type} is for generation ${c.observedGeneration}, newer than ${generation}`);
  }
  return [...new Set(violations)];
}
