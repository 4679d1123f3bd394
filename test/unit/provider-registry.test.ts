import { describe, expect, it } from "vitest";
import { DELIVERED_PROVIDER_TYPES } from "../../src/api/unsupported.js";
import { DELIVERY_TYPES, deliveryFor } from "../../src/notify/providers/registry.js";

// The Provider types admitted as delivered (api/unsupported.ts) and those with a delivery
// (notify/providers/registry.ts) are two lists in two layers: they must name the same types.

describe("Provider type registry", () => {
  it("delivers exactly the types unsupported.ts admits, and nothing for a name off the list", () => {
    expect([...DELIVERY_TYPES].sort()).toEqual([...DELIVERED_PROVIDER_TYPES].sort());
    expect(deliveryFor("pagerduty-typo")).toBeUndefined();
    expect(deliveryFor("constructor")).toBeUndefined();
  });
});
