import { Environment } from "@marcbachmann/cel-js";
import { CEL_DEADLINE_MS, pastDeadline, withinDeadline } from "../apply/health/cel-deadline.js";
import { CEL_OPTIONS } from "../apply/health/expressions.js";

// Flux's `dependsOn[].readyExpr` (kustomize-controller and helm-controller `evalReadyExpr`): a CEL expression over
// `self` (the object) and `dep` (the dependency) that must compile to a bool. Only those two variables exist, so an
// expression cannot reach anything else of the control plane.

/** An expression that cannot be used as written: terminal in Flux (InvalidCELExpression, Stalled). */
export class ReadyExprError extends Error {
  override name = "ReadyExprError";
}

const environment = new Environment({ ...CEL_OPTIONS, unlistedVariablesAreDyn: false })
  .registerVariable("self", "map")
  .registerVariable("dep", "map");

type Compiled = (vars: { self: unknown; dep: unknown }) => unknown;

/** Compiled expressions by text (a compile error is remembered too): dependents are reconciled again and again. */
const compiled = new Map<string, Compiled | ReadyExprError>();
const COMPILED_MAX = 512;
/** Longer expressions are compiled each time: a tenant's megabyte-sized ones must not pile up in memory. */
const CACHED_MAX_CHARS = 4096;

/**
 * Whether `dep` is ready by the expression. Throws ReadyExprError when it does not compile to a bool, and an Error
 * worded as Flux's (`failed to evaluate the CEL expression '…': …`) when evaluating it fails (a missing field).
 */
export function readyByExpr(source: string, self: unknown, dep: unknown): boolean {
  const expr = compile(source);
  let result: unknown;
  try {
    result = withinDeadline(() => expr({ self: celValue(self), dep: celValue(dep) }));
  } catch (error) {
    // Past the deadline counts as failed, retried like any evaluation error.
    const why = pastDeadline(error) ? `took longer than ${CEL_DEADLINE_MS}ms` : firstLine(error);
    throw new Error(`failed to evaluate the CEL expression '${source}': ${why}`, { cause: error });
  }
  if (typeof result !== "boolean") throw new Error(`failed to evaluate CEL expression as boolean: '${source}'`);
  return result;
}

function compile(source: string): Compiled {
  let expr = compiled.get(source);
  if (!expr) {
    expr = check(source);
    if (source.length <= CACHED_MAX_CHARS) {
      if (compiled.size >= COMPILED_MAX) compiled.clear();
      compiled.set(source, expr);
    }
  }
  if (expr instanceof ReadyExprError) throw expr;
  return expr;
}

/** Parses and type-checks as Flux's cel.NewExpression(WithCompile, WithOutputType(bool)) does. */
function check(source: string): Compiled | ReadyExprError {
  const failed = (error: unknown) =>
    new ReadyExprError(`failed to parse the CEL expression '${source}': ${firstLine(error)}`);
  let parsed: ReturnType<typeof environment.parse>;
  try {
    parsed = environment.parse(source);
  } catch (error) {
    return failed(error);
  }
  const checked = parsed.check();
  if (!checked.valid) return failed(checked.error);
  if (checked.type !== "bool")
    return new ReadyExprError(`CEL expression output type mismatch: expected bool, got ${checked.type}`);
  return parsed as unknown as Compiled;
}

/** The object as Flux's unstructured form holds it: JSON integers as CEL ints (int64), other numbers as doubles. */
function celValue(value: unknown): unknown {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(celValue);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, celValue(v)]));
  return value;
}

function firstLine(error: unknown): string {
  return String((error as Error | undefined)?.message ?? error).split("\n")[0]!;
}
