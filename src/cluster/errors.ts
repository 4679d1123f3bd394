/** A Kubernetes `Status` failure answered by the API server. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly causes: { field?: string; message?: string; reason?: string }[] = [],
  ) {
    super(message);
  }
}

/** True for a 404 from the API server. */
export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

/** True for a 403 from the API server. */
export function isForbidden(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 403;
}
