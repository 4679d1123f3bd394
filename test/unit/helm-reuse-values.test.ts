import { describe, expect, it } from "vitest";
import type { ReleaseRecord, ReleaseStatus } from "../../src/helm/release-record.js";
import { currentRelease, reuseValues } from "../../src/helm/reuse-values.js";

// upgrade.preserveValues as Helm v4's Upgrade.reuseValues (ReuseValues, not ResetValues): pure.

const release = (
  version: number,
  status: ReleaseStatus,
  config: Record<string, unknown> = {},
  chartValues: Record<string, unknown> = {},
): ReleaseRecord => ({
  name: "app",
  info: { status },
  chart: {
    metadata: { name: "app", version: "1.0.0" },
    lock: null,
    templates: [],
    values: chartValues,
    schema: null,
    files: [],
  },
  config,
  version,
  namespace: "apps",
});

describe("reuseValues", () => {
  it("renders the new values over the previous release's, and the chart's defaults are the previous coalesced values", () => {
    const previous = release(
      3,
      "deployed",
      { image: { tag: "1.2" }, ui: { message: "kept", color: null }, replicas: 5 },
      { image: { repository: "old", tag: "1.0" }, ui: { color: "blue", logo: "x" }, extra: true },
    );
    const reused = reuseValues({ replicas: 2, image: { pullPolicy: "Always" } }, previous);
    expect(reused.values).toEqual({
      replicas: 2,
      image: { pullPolicy: "Always", tag: "1.2" },
      ui: { message: "kept", color: null },
    });
    // A null in the previous values removes the chart's default, as Helm's coalesce does.
    expect(reused.chartValues).toEqual({
      image: { repository: "old", tag: "1.2" },
      ui: { message: "kept", logo: "x" },
      replicas: 5,
      extra: true,
    });
    expect(previous.config).toEqual({ image: { tag: "1.2" }, ui: { message: "kept", color: null }, replicas: 5 });
  });

  it("deletes a key the new values set to null when the previous release had a value, keeps the null otherwise", () => {
    const reused = reuseValues(
      { ui: { message: null, logo: null } },
      release(1, "deployed", { ui: { message: "old" } }),
    );
    expect(reused.values).toEqual({ ui: { logo: null } });
  });

  it("never lets a new scalar be overwritten by a previous table, nor the reverse", () => {
    const reused = reuseValues({ a: "text", b: { c: 1 } }, release(1, "deployed", { a: { nested: 1 }, b: "scalar" }));
    expect(reused.values).toEqual({ a: "text", b: { c: 1 } });
  });
});

describe("currentRelease (whose values are reused)", () => {
  it("takes the newest deployed version, else a failed or superseded newest one", () => {
    expect(currentRelease([release(1, "superseded"), release(2, "deployed")])?.version).toBe(2);
    expect(currentRelease([release(1, "deployed"), release(2, "failed")])?.version).toBe(1);
    expect(currentRelease([release(1, "superseded"), release(2, "failed")])?.version).toBe(2);
    expect(currentRelease([release(1, "uninstalled")])).toBeUndefined();
    expect(currentRelease([])).toBeUndefined();
  });
});
