import type { LabelSelector } from "../../api/imageupdateautomation.js";

/** A `spec.policySelector` that cannot be a selector (an unknown operator, values where none may be). */
export class PolicySelectorError extends Error {
  override name = "PolicySelectorError";
}

/**
 * metav1.LabelSelectorAsSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist), ANDed;
 * no selector selects everything. Invalid requirements are refused as apimachinery refuses them.
 */
export function labelSelectorMatcher(selector: LabelSelector | undefined): (labels: Record<string, string>) => boolean {
  const tests: ((labels: Record<string, string>) => boolean)[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) tests.push((l) => l[key] === value);
  for (const [i, { key, operator, values = [] }] of (selector?.matchExpressions ?? []).entries()) {
    const field = `spec.policySelector.matchExpressions[${i}]`;
    if (operator === "In" || operator === "NotIn") {
      if (values.length === 0)
        throw new PolicySelectorError(`${field}.values: must be specified when operator is ${operator}`);
      tests.push(operator === "In" ? (l) => key in l && values.includes(l[key]!) : (l) => !values.includes(l[key]!));
    } else if (operator === "Exists" || operator === "DoesNotExist") {
      if (values.length > 0)
        throw new PolicySelectorError(`${field}.values: may not be specified when operator is ${operator}`);
      tests.push(operator === "Exists" ? (l) => key in l : (l) => !(key in l));
    } else throw new PolicySelectorError(`${field}.operator: "${operator}" is not a valid label selector operator`);
  }
  return (labels) => tests.every((test) => test(labels));
}
