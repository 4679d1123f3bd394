import type { Condition } from "../api/meta.js";
import { CONDITION, MESSAGE_MAX_CHARS } from "../api/reasons.js";

export type ConditionInput = Pick<Condition, "type" | "status" | "reason" | "message">;

/**
 * Sets a condition the way Kubernetes' meta.SetStatusCondition does: lastTransitionTime moves only
 * when the status changes. Returns a new array; other conditions keep their order.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  input: ConditionInput,
  generation: number,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    ...input,
    message: input.message.slice(0, MESSAGE_MAX_CHARS),
    observedGeneration: generation,
    lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : now.toISOString(),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Ready=True for the object's current generation. */
export function isReady(object: {
  metadata: { generation?: number };
  status?: { conditions?: Condition[]; observedGeneration?: number };
}): boolean {
  const ready = findCondition(object.status?.conditions, CONDITION.ready);
  return ready?.status === "True" && (object.status?.observedGeneration ?? -1) === (object.metadata.generation ?? 1);
}
