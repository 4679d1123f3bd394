import { describe, expect, it } from "vitest";
import { ChartReferenceError, pickChartVersion } from "../../src/sources/helm-chart-version.js";
import { loadHelmIndex } from "../../src/sources/helm-index.js";

// Which version a HelmChart's spec.version picks, as source-controller picks it with Masterminds/semver:
// the cases where node-semver alone would read the range differently.

const index = loadHelmIndex(
  Buffer.from(
    JSON.stringify({
      apiVersion: "v1",
      entries: {
        app: ["1.0.0", "1.2.0", "1.2.5", "1.3.0", "2.0.0-rc.1", "2.0.0-rc.2", "v2.1", "3.0.0+build.1"].map((v) => ({
          name: "app",
          version: v,
          created: "2026-01-01T00:00:00Z",
        })),
        twins: [
          { name: "twins", version: "1.0.0+a", created: "2026-01-01T00:00:00Z" },
          { name: "twins", version: "1.0.0+b", created: "2026-03-01T00:00:00Z" },
          { name: "twins", version: "1.0.0+c", created: "2026-02-01T00:00:00Z" },
        ],
        empty: [],
      },
    }),
  ),
);

describe("pickChartVersion", () => {
  it.each([
    ["*", "3.0.0+build.1"],
    ["", "3.0.0+build.1"],
    [">=1.0.0, <1.3.0", "1.2.5"],
    [">= 1.0.0 , < 1.3.0", "1.2.5"],
    ["1.2.x", "1.2.5"],
    ["~1.2.0", "1.2.5"],
    ["^1.0.0", "1.3.0"],
    ["<1.2.0 || 1.3.0", "1.3.0"],
    ["!=1.3.0, <2.0.0", "1.2.5"],
    ["!=1.2, <1.3.0", "1.0.0"],
    ["1.2.0", "1.2.0"],
    ["v2.1", "v2.1"],
    [">=2.0.0-0", "3.0.0+build.1"],
    [">=2.0.0-0, <2.1.0-0", "2.0.0-rc.2"],
    ["2.0.0-rc.1", "2.0.0-rc.1"],
    [">=2.0.0-0, <3.0.0", "v2.1"],
    ["<2.0.0", "1.3.0"],
  ])("%s picks %s", (range, version) => {
    expect(pickChartVersion(index, "app", range).version).toBe(version);
  });

  it("orders equal versions by their created time, the newest first", () => {
    expect(pickChartVersion(index, "twins", "1.0.0").version).toBe("1.0.0+b");
  });

  it.each([
    ["nothing", "*", "no chart name found"],
    ["empty", "*", "no chart version found"],
    ["app", "9.x", "no 'app' chart with version matching '9.x' found"],
    ["app", "not a range!", "improper constraint: not a range!"],
  ])("refuses %s %s: %s", (chart, range, message) => {
    expect(() => pickChartVersion(index, chart, range)).toThrow(new ChartReferenceError(message));
  });
});
