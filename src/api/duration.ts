import { z } from "zod";

// Go's time.Duration text as Flux's CRDs accept it: one or more <number><unit>, units ms, s, m, h.
const PATTERN = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Flux duration such as `1m30s` or `10m`; throws on anything else. */
export function parseDuration(text: string): number {
  if (!PATTERN.test(text)) throw new Error(`"${text}" is not a duration like 30s, 5m or 1h30m`);
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ms|s|m|h)/g))
    total += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(total);
}

/** Formats milliseconds the way Go prints a duration (`1m0s`, `10m0s`, `1h0m0s`, `500ms`), as Flux echoes it. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1_000;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** A duration field: kept as written (so `--export` round-trips), validated as Flux validates it. */
export const duration = z
  .string()
  .regex(PATTERN, { message: "must be a duration like 30s, 5m or 1h30m (units ms, s, m, h)" });

/** A duration field whose CRD pattern has no hours (GitRepository's `timeout`): `1h` is refused, `60m` is not. */
export const minutesDuration = z
  .string()
  .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m))+$/, { message: "must be a duration like 30s or 5m (units ms, s, m)" });
