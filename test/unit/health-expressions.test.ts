import { describe, expect, it } from "vitest";
import { CEL_DEADLINE_MS } from "../../src/apply/health/cel-deadline.js";
import { customHealth } from "../../src/apply/health/expressions.js";

const certificate = (conditions: unknown[], generation = 1, observedGeneration?: number) => ({
  apiVersion: "cert-manager.io/v1",
  kind: "Certificate",
  metadata: { name: "tls", generation },
  status: { conditions, ...(observedGeneration !== undefined && { observedGeneration }) },
});
const rules = customHealth([
  {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    failed: "status.conditions.filter(e, e.type == 'Issuing').all(e, e.status == 'False')",
    current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
  },
])!;

describe("healthCheckExprs (pure, CEL)", () => {
  it("evaluates inProgress, failed, current in Flux's order; the first true one wins; none true is InProgress", () => {
    expect(
      rules(
        certificate([
          { type: "Ready", status: "True" },
          { type: "Issuing", status: "True" },
        ]),
      )?.status,
    ).toBe("Current");
    expect(
      rules(
        certificate([
          { type: "Ready", status: "True" },
          { type: "Issuing", status: "False" },
        ]),
      )?.status,
    ).toBe("Failed");
    expect(
      rules(
        certificate([
          { type: "Ready", status: "False" },
          { type: "Issuing", status: "True" },
        ]),
      )?.status,
    ).toBe("InProgress");
  });

  it("an unobserved generation is InProgress before any expression; other kinds are left to kstatus", () => {
    expect(rules(certificate([{ type: "Ready", status: "True" }], 2, 1))).toMatchObject({
      status: "InProgress",
      message: expect.stringContaining("generation 2 not yet observed"),
    });
    expect(rules({ apiVersion: "cert-manager.io/v1", kind: "Issuer", metadata: { name: "x" } })).toBeUndefined();
  });

  it("a field the resource has not populated yet keeps it InProgress and says so", () => {
    expect(
      rules({ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name: "tls" }, status: {} }),
    ).toMatchObject({ status: "InProgress", message: expect.stringContaining("conditions") });
  });

  it("stops a tenant's expensive expression at the deadline and keeps the object in progress, saying why", () => {
    // Arrange: a cubic comprehension (1e9 steps) and a backtracking pattern, each minutes of event loop unbounded;
    // a quadratic one finished inside the deadline on a fast CI machine.
    const thousand = `[${Array.from({ length: 1000 }, (_, i) => i).join(",")}]`;
    const expensive = customHealth([
      {
        apiVersion: "example.com/v1",
        kind: "Cubic",
        current: `${thousand}.all(a, ${thousand}.all(b, ${thousand}.all(c, a + b + c >= 0)))`,
      },
      { apiVersion: "example.com/v1", kind: "Redos", current: "metadata.name.matches('^(a+)+$')" },
    ])!;
    for (const [kind, name] of [
      ["Cubic", "x"],
      ["Redos", `${"a".repeat(40)}-b`],
    ]) {
      // Act
      const started = performance.now();
      const verdict = expensive({ apiVersion: "example.com/v1", kind, metadata: { name } });
      // Assess: the deadline plus scheduling slack on a loaded machine.
      expect(performance.now() - started).toBeLessThan(CEL_DEADLINE_MS + 5_000);
      expect(verdict).toEqual({ status: "InProgress", message: "healthCheckExprs: took longer than 200ms" });
    }
    // And the next object is rated normally.
    const issued = [
      { type: "Issuing", status: "True" },
      { type: "Ready", status: "True" },
    ];
    expect(rules(certificate(issued))).toMatchObject({ status: "Current" });
  });

  it("an expression that does not parse is refused at once, naming its field", () => {
    expect(() => customHealth([{ apiVersion: "v1", kind: "X", current: "status.phase ==" }])).toThrow(
      "spec.healthCheckExprs[0].current: Unexpected token",
    );
    expect(customHealth([])).toBeUndefined();
  });
});
