import type { ChangeSetEntry } from "./changeset.js";
import { KubeApiError } from "../cluster/errors.js";

/** An error about one object: the message starts with `Kind/namespace/name` and the verb that failed. */
export class ObjectError extends Error {
  override name = "ObjectError";
  constructor(
    readonly subject: string,
    readonly verb: string,
    detail: string,
    /** The API server's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(`${subject} ${verb} failed: ${detail}`);
  }
}

/** The apply stopped; `changeSet` holds what was done before it did, `errors` every object that failed. */
export class ApplyFailedError extends Error {
  override name = "ApplyFailedError";
  constructor(
    readonly changeSet: ChangeSetEntry[],
    readonly errors: ObjectError[],
  ) {
    super(errors.map((e) => e.message).join("\n"));
  }
}

/** Refused to prune every object because the new set is empty (see the `allowEmpty` option). */
export class EmptySetPruneError extends Error {
  override name = "EmptySetPruneError";
}

const IMMUTABLE = [
  /field is immutable/i,
  /may not change once set/i,
  /cannot change roleRef/i,
  /updates to .* are forbidden/i,
];

/** Whether an API error says an immutable field was changed (recreating the object is the only way). */
export function isImmutableError(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 422 && IMMUTABLE.some((re) => re.test(error.message));
}

/**
 * A one-line detail of an API error for a condition or log: the fields it names, and for Secrets
 * every quoted value masked, since the API server quotes invalid values back.
 */
export function describeApiError(error: unknown, options: { secret: boolean; identity?: string }): string {
  if (!(error instanceof KubeApiError)) return truncate(error instanceof Error ? error.message : String(error));
  let message = error.message;
  if (options.secret) message = maskQuoted(message);
  if (error.status === 403 && options.identity) message = `forbidden for ${options.identity}: ${message}`;
  const fields = [...new Set(error.causes.map((c) => c.field).filter(Boolean))];
  return truncate(
    fields.length > 0 && !message.includes(fields[0]!) ? `${message} (fields: ${fields.join(", ")})` : message,
  );
}

function maskQuoted(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"/g, '"*****"');
}

/** Conditions and events hold short text; long API messages are cut with a marker. */
export function truncate(text: string, max = 1024): string {
  return text.length <= max ? text : `${text.slice(0, max - 15)} …(truncated)`;
}
