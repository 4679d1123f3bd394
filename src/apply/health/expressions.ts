import { Environment } from "@marcbachmann/cel-js";
import { CEL_DEADLINE_MS, pastDeadline, withinDeadline } from "./cel-deadline.js";
import { unobservedGeneration, type StatusResult } from "./status.js";

// Flux's `spec.healthCheckExprs`: CEL expressions deciding the health of a custom resource kind,
// evaluated as Flux does (RFC 0009): an unobserved generation is InProgress; then `inProgress`,
// `failed` and `current` in that order, the first true one wins; none true is InProgress. The
// object's top-level fields (metadata, spec, status, …) are the expressions' variables. Rules apply
// by API group and kind, whatever the version (runtime/cel's StatusReader); a rule without `kind`
// applies to every kind of its group that has no rule of its own.

export interface HealthCheckExpr {
  apiVersion: string;
  kind?: string;
  current: string;
  inProgress?: string;
  failed?: string;
}

/** An expression that does not parse; the message names the field, e.g. `spec.healthCheckExprs[0].current`. */
export class HealthExpressionError extends Error {
  override name = "HealthExpressionError";
}

type Compiled = (object: Record<string, unknown>) => unknown;
export type CustomHealth = (object: Record<string, unknown>) => StatusResult | undefined;

/** The CEL dialect of Flux's expressions in Sluice (also `dependsOn[].readyExpr`, which declares its variables). */
export const CEL_OPTIONS = {
  unlistedVariablesAreDyn: true,
  enableOptionalTypes: true,
  homogeneousAggregateLiterals: false,
} as const;

const environment = new Environment(CEL_OPTIONS);

/**
 * Compiles the expressions once; the result rates objects of the listed kinds and leaves others (undefined) to
 * kstatus.
 */
export function customHealth(exprs: HealthCheckExpr[] | undefined): CustomHealth | undefined {
  if (!exprs?.length) return undefined;
  const rules = new Map<string, { status: "InProgress" | "Failed" | "Current"; evaluate: Compiled }[]>();
  exprs.forEach((expr, i) => {
    const compile = (field: "inProgress" | "failed" | "current"): Compiled | undefined => {
      const source = expr[field];
      if (!source) return undefined;
      try {
        return environment.parse(source) as unknown as Compiled;
      } catch (error) {
        throw new HealthExpressionError(
          `spec.healthCheckExprs[${i}].${field}: ${(error as Error).message.split("\n")[0]}`,
        );
      }
    };
    const ordered = [
      { status: "InProgress" as const, evaluate: compile("inProgress") },
      { status: "Failed" as const, evaluate: compile("failed") },
      { status: "Current" as const, evaluate: compile("current") },
    ].filter((r): r is { status: "InProgress" | "Failed" | "Current"; evaluate: Compiled } => r.evaluate !== undefined);
    const key = groupKind(expr.apiVersion, expr.kind ?? "");
    if (rules.has(key)) {
      const group = key.slice(0, key.indexOf("|"));
      throw new HealthExpressionError(
        `spec.healthCheckExprs[${i}]: a second rule for ${expr.kind ?? "every kind"} of API group '${group}'`,
      );
    }
    rules.set(key, ordered);
  });
  return (object) => {
    const apiVersion = String(object.apiVersion);
    const ordered = rules.get(groupKind(apiVersion, String(object.kind))) ?? rules.get(groupKind(apiVersion, ""));
    if (!ordered) return undefined;
    const behind = unobservedGeneration(object);
    if (behind) {
      const { generation, observed } = behind;
      return {
        status: "InProgress",
        message: `generation ${generation} not yet observed (status.observedGeneration is ${observed})`,
      };
    }
    for (const rule of ordered) {
      try {
        if (withinDeadline(() => rule.evaluate(object)) === true)
          return { status: rule.status, message: `healthCheckExprs: ${rule.status}` };
      } catch (error) {
        // A field the resource has not populated yet: keep waiting, as Flux does, and say why. An expression that
        // runs past the deadline never will finish: it keeps the object in progress until the health timeout.
        const why = pastDeadline(error) ? `took longer than ${CEL_DEADLINE_MS}ms` : (error as Error).message;
        return { status: "InProgress", message: `healthCheckExprs: ${why.split("\n")[0]}` };
      }
    }
    return { status: "InProgress", message: "healthCheckExprs: no expression is true yet" };
  };
}

/** `group|kind` of an apiVersion (`apps/v1` → `apps`, `v1` → the core group, ""). */
function groupKind(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf("/");
  return `${slash >= 0 ? apiVersion.slice(0, slash) : ""}|${kind}`;
}
