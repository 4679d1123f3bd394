/** kstatus results. */
export type Status = "InProgress" | "Failed" | "Current" | "Terminating" | "NotFound" | "Unknown";

/** A status and a short human message, e.g. "Deployment is available. Replicas: 3". */
export interface StatusResult {
  status: Status;
  message: string;
}

/**
 * The generation an object's controller has not observed yet (`status.observedGeneration` set and
 * behind `metadata.generation`), with the one it has; undefined when it is caught up or does not say.
 */
export function unobservedGeneration(
  object: Record<string, unknown>,
): { generation: number; observed: number } | undefined {
  const generation = (object.metadata as { generation?: unknown } | undefined)?.generation;
  const observed = (object.status as { observedGeneration?: unknown } | undefined)?.observedGeneration;
  if (typeof generation !== "number" || typeof observed !== "number" || observed === generation) return undefined;
  return { generation, observed };
}
