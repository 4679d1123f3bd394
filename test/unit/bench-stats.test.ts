import { describe, expect, it } from "vitest";
import { ratio, summarize } from "../../bench/stats.js";

describe("benchmark statistics", () => {
  it.each([
    [[5], { median: 5, min: 5, max: 5, n: 1 }],
    [[3, 1, 2], { median: 2, min: 1, max: 3, n: 3 }],
    [[4, 1, 3, 2], { median: 2.5, min: 1, max: 4, n: 4 }],
    [[10, 10, 1000], { median: 10, min: 10, max: 1000, n: 3 }],
  ])("summarizes %j", (samples, expected) => {
    expect(summarize(samples)).toEqual(expected);
  });

  it("rejects an empty sample and divides medians for the ratio", () => {
    expect(() => summarize([])).toThrow(/no samples/);
    expect(ratio(summarize([2, 2]), summarize([4, 4]))).toBe(0.5);
    expect(ratio(summarize([1]), summarize([0]))).toBeNaN();
  });
});
