/** Where a referenced Secret or ConfigMap comes from. */
export interface SecretRef {
  namespace: string;
  name: string;
}

/**
 * `secretRef` and `substituteFrom` resolution: the decoded key/value data of a Secret (or a
 * ConfigMap), undefined when it does not exist. Values must never reach logs, status or events.
 */
export interface Secrets {
  secret(ref: SecretRef): Promise<Record<string, string> | undefined>;
  configMap(ref: SecretRef): Promise<Record<string, string> | undefined>;
}

/** A referenced Secret is missing, or lacks what the referring field needs. */
export class SecretError extends Error {
  override name = "SecretError";
}
