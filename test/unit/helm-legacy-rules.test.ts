import { describe, expect, it } from "vitest";
import { labelSelectorString, maxUnavailable, scaled } from "../../src/apply/health/helm-legacy.js";
import type { KubeObject } from "../../src/apply/object.js";

const deployment = (replicas: number, strategy: Record<string, unknown>): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "app" },
  spec: { replicas, strategy },
});

describe("Helm 3's readiness arithmetic", () => {
  it("scales a percentage up or down as intstr does, takes a number as is, and nothing else", () => {
    expect(scaled("25%", 3, true)).toBe(1);
    expect(scaled("25%", 3, false)).toBe(0);
    expect(scaled("100%", 7, false)).toBe(7);
    expect(scaled(2, 10, false)).toBe(2);
    for (const bad of ["25", "x%", "-5%", " 5%", undefined, null, {}])
      expect(scaled(bad, 10, true), String(bad)).toBe(undefined);
  });

  it("resolves a Deployment's maxUnavailable with its surge, as the Deployment controller's fenceposts", () => {
    // Kubernetes' defaults (25%/25%) on one replica: surge 1, unavailable 0, so the one pod must be ready.
    expect(
      maxUnavailable(
        deployment(1, { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } }),
      ),
    ).toBe(0);
    expect(
      maxUnavailable(
        deployment(10, { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } }),
      ),
    ).toBe(2);
    // Both resolve to zero: one may be unavailable, as validation forbids 0/0 and rounding may reach it.
    expect(
      maxUnavailable(deployment(3, { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: "10%" } })),
    ).toBe(1);
    // Never more than the replicas; nothing for Recreate or no replicas.
    expect(
      maxUnavailable(deployment(2, { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 5 } })),
    ).toBe(2);
    expect(maxUnavailable(deployment(4, { type: "Recreate" }))).toBe(0);
    expect(maxUnavailable(deployment(0, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } }))).toBe(0);
  });

  it("writes a label selector as a LIST's labelSelector, requirements ANDed", () => {
    expect(
      labelSelectorString({
        matchLabels: { app: "web", tier: "front" },
        matchExpressions: [
          { key: "env", operator: "In", values: ["a", "b"] },
          { key: "zone", operator: "NotIn", values: ["x"] },
          { key: "canary", operator: "Exists" },
          { key: "legacy", operator: "DoesNotExist" },
        ],
      }),
    ).toBe("app=web,tier=front,env in (a,b),zone notin (x),canary,!legacy");
    expect(labelSelectorString(undefined)).toBe("");
  });
});
