import { describe, expect, it } from "vitest";
import { labelSelectorMatcher, PolicySelectorError } from "../../src/controllers/image/policy-selector.js";

// spec.policySelector as metav1.LabelSelectorAsSelector reads it (apimachinery's labels package).

describe("policySelector", () => {
  it("selects everything without a selector, and ANDs matchLabels with each expression", () => {
    expect(labelSelectorMatcher(undefined)({})).toBe(true);
    const select = labelSelectorMatcher({
      matchLabels: { team: "web" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["front", "edge"] },
        { key: "env", operator: "NotIn", values: ["dev"] },
        { key: "auto", operator: "Exists" },
        { key: "frozen", operator: "DoesNotExist" },
      ],
    });
    expect(select({ team: "web", tier: "edge", auto: "" })).toBe(true);
    expect(select({ team: "web", tier: "edge", auto: "", env: "prod" })).toBe(true);
    expect(select({ team: "web", tier: "edge", auto: "", env: "dev" })).toBe(false);
    expect(select({ team: "web", tier: "back", auto: "" })).toBe(false);
    expect(select({ team: "web", tier: "edge" })).toBe(false);
    expect(select({ team: "web", tier: "edge", auto: "", frozen: "yes" })).toBe(false);
    expect(select({ team: "api", tier: "edge", auto: "" })).toBe(false);
  });

  it("refuses what apimachinery refuses, naming the requirement", () => {
    expect(() => labelSelectorMatcher({ matchExpressions: [{ key: "a", operator: "In", values: [] }] })).toThrow(
      new PolicySelectorError("spec.policySelector.matchExpressions[0].values: must be specified when operator is In"),
    );
    expect(() => labelSelectorMatcher({ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] })).toThrow(
      "may not be specified when operator is Exists",
    );
    expect(() => labelSelectorMatcher({ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] })).toThrow(
      '"Gt" is not a valid label selector operator',
    );
  });
});
