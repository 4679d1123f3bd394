/** kstatus results. */
export type Status = "InProgress" | "Failed" | "Current" | "Terminating" | "NotFound" | "Unknown";

/** A status and a short human message, e.g. "Deployment is available. Replicas: 3". */
export interface StatusResult {
  status: Status;
  message: string;
}
