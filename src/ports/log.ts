/**
 * The structured log the core writes to: pino's call shape (fields, then message). Local mode
 * passes a pino logger; Lambda passes Powertools' logger through {@link powertoolsLog}.
 */
export interface Log {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  child(fields: Record<string, unknown>): Log;
}

/** What we use of Powertools' Logger (message first, then fields). */
export interface PowertoolsLike {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Adapts Powertools' Logger to {@link Log}; `child` fields ride along on every line. */
export function powertoolsLog(logger: PowertoolsLike, bound: Record<string, unknown> = {}): Log {
  const fieldsOf = (fields: Record<string, unknown>) => {
    const merged: Record<string, unknown> = { ...bound, ...fields };
    if (merged.err instanceof Error) merged.err = { name: merged.err.name, message: merged.err.message };
    return merged;
  };
  return {
    info: (fields, message) => logger.info(message, fieldsOf(fields)),
    warn: (fields, message) => logger.warn(message, fieldsOf(fields)),
    error: (fields, message) => logger.error(message, fieldsOf(fields)),
    child: (fields) => powertoolsLog(logger, { ...bound, ...fields }),
  };
}
