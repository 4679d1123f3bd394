import { describe, expect, it } from "vitest";
import { CEL_DEADLINE_MS } from "../../src/apply/health/cel-deadline.js";
import { readyByExpr, ReadyExprError } from "../../src/controllers/ready-expr.js";

const self = { metadata: { name: "apps", namespace: "team", generation: 3 }, spec: { interval: "5m" } };
const dep = {
  metadata: { name: "infra", namespace: "team", generation: 2 },
  spec: { suspend: false, retries: 1.5 },
  status: {
    observedGeneration: 2,
    conditions: [{ type: "Ready", status: "False", reason: "BuildFailed" }],
  },
};

/** The error a call throws (the test fails if it returns). */
function thrown(expr: string, of: unknown = dep): Error {
  try {
    readyByExpr(expr, self, of);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`'${expr}' did not throw`);
}

describe("dependsOn[].readyExpr (pure, CEL)", () => {
  it("sees self and dep, with JSON integers as CEL ints (Flux's int64) and fractions as doubles", () => {
    expect(readyByExpr("dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')", self, dep)).toBe(
      true,
    );
    expect(readyByExpr("dep.metadata.generation + 1 == self.metadata.generation", self, dep)).toBe(true);
    expect(readyByExpr("dep.metadata.generation == dep.status.observedGeneration", self, dep)).toBe(true);
    expect(readyByExpr("dep.spec.retries > 1.0", self, dep)).toBe(true);
    expect(readyByExpr("self.metadata.name == 'infra'", self, dep)).toBe(false);
  });

  it("refuses, as terminal, what does not compile to a bool: syntax, an unknown variable, another output type", () => {
    const syntax = thrown("dep.status.conditions.exists(c, c.type == 'Ready'");
    expect(syntax).toBeInstanceOf(ReadyExprError);
    expect(syntax.message).toMatch(
      /^failed to parse the CEL expression 'dep\.status\.conditions\.exists\(c, c\.type == 'Ready'': ./,
    );
    // Only self and dep exist: no way to name the process, the environment or other objects.
    for (const name of ["process", "globalThis", "secrets", "ports"]) {
      const error = thrown(`${name}.env.AWS_SECRET_ACCESS_KEY == 'x'`);
      expect(error).toBeInstanceOf(ReadyExprError);
      expect(error.message).toContain(`Unknown variable: ${name}`);
    }
    const dyn = thrown("dep.spec.suspend");
    expect(dyn).toBeInstanceOf(ReadyExprError);
    expect(dyn.message).toBe("CEL expression output type mismatch: expected bool, got dyn");
    expect(thrown("1 + 1").message).toBe("CEL expression output type mismatch: expected bool, got int");
  });

  it("remembers a compile error: the same expression fails the same way without compiling again", () => {
    expect(thrown("dep.x ==")).toBe(thrown("dep.x =="));
  });

  it("words an evaluation error as Flux, not terminal: a missing field, a JavaScript property of the object", () => {
    const missing = thrown("dep.status.lastAppliedRevision == 'main@sha1:1'");
    expect(missing).not.toBeInstanceOf(ReadyExprError);
    expect(missing.message).toBe(
      "failed to evaluate the CEL expression 'dep.status.lastAppliedRevision == 'main@sha1:1'': No such key: lastAppliedRevision",
    );
    // The objects' JavaScript prototype is not part of them.
    for (const key of ["constructor", "__proto__", "toString"])
      expect(thrown(`dep.${key} == dep`).message).toContain(`No such key: ${key}`);
    expect(readyByExpr("has(dep.constructor) || 'toString' in dep", self, dep)).toBe(false);
  });

  it("stops an expensive expression at the deadline: nested comprehensions, a backtracking regular expression", () => {
    const thousand = `[${Array.from({ length: 1000 }, (_, i) => i).join(",")}]`;
    const cubic = `${thousand}.all(a, ${thousand}.all(b, ${thousand}.all(c, a + b + c >= 0)))`;
    const redos = "dep.metadata.name.matches('^(a+)+$')";
    const victim = { ...dep, metadata: { ...dep.metadata, name: `${"a".repeat(40)}-b` } };
    for (const [expr, of] of [
      [cubic, dep],
      [redos, victim],
    ] as const) {
      const started = performance.now();
      const error = thrown(expr, of);
      const took = performance.now() - started;
      expect(error).not.toBeInstanceOf(ReadyExprError);
      expect(error.message).toMatch(/took longer than 200ms$/);
      // The deadline plus scheduling slack on a loaded machine; unbounded, either runs for minutes.
      expect(took).toBeLessThan(CEL_DEADLINE_MS + 5_000);
    }
    // And the next evaluation runs normally.
    expect(readyByExpr("dep.metadata.name == 'infra'", self, dep)).toBe(true);
  });
});
