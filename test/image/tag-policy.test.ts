import { describe, expect, it } from "vitest";
import { GoRegexp } from "../../src/sources/image/go-regexp.js";
import { latestTag, parseGoFloat, parseTagVersion } from "../../src/sources/image/tag-policy.js";

// Each ImagePolicy kind against tables of tags, with the answers image-reflector-controller v1.2.4's
// policies (Masterminds semver v3.5, Go's sort and strconv.ParseFloat, Go's regexp) give for them.

const semver = (range: string) => ({ policy: { semver: { range } } });
const alphabetical = (order?: "asc" | "desc") => ({ policy: { alphabetical: { order } } });
const numerical = (order?: "asc" | "desc") => ({ policy: { numerical: { order } } });

describe("semver policy (Masterminds rules)", () => {
  const tags = ["1.0.0", "1.2.3", "1.2.4-rc.1", "1.3.0-alpha.1", "v1.2.5", "2.0.0", "latest", "1.2", "1.10.0+build.7"];
  it.each([
    // A range without a pre-release never picks one; one that names a pre-release may.
    [">=1.0.0 <2.0.0", "1.10.0+build.7"],
    ["~1.2", "v1.2.5"],
    ["^1.2.3", "1.10.0+build.7"],
    // One comparator naming a pre-release opens the whole group (Masterminds v3.5), unlike node-semver, which
    // takes pre-releases of 1.2.4 only: 1.3.0-alpha.1 is below 1.3.0.
    [">=1.2.4-0 <1.3.0", "1.3.0-alpha.1"],
    [">=1.3.0-0 <1.3.1", "1.3.0-alpha.1"],
    [">1.2.3-0, <1.2.5", "1.2.4-rc.1"],
    ["1.0.0 || 2.0.0", "2.0.0"],
    ["!=2.0.0", "1.10.0+build.7"],
    ["*", "2.0.0"],
  ])("%s picks %s", (range, expected) => {
    expect(latestTag(semver(range), tags)).toBe(expected);
  });

  it("reads tags as fluxcd/pkg/version does: three dot-separated parts, a v prefix, leading zeros coerced", () => {
    expect(parseTagVersion("1.2")).toBeNull(); // two parts: not a version for Flux (Masterminds alone would take it)
    expect(parseTagVersion("v1.2.3")?.version).toBe("1.2.3");
    expect(parseTagVersion("01.02.003")?.version).toBe("1.2.3");
    expect(parseTagVersion("1.2.3beta")).toBeNull(); // node-semver's loose mode would take this; Masterminds does not
    expect(parseTagVersion("1.2.3-01")).toBeNull(); // a numeric pre-release identifier with a leading zero
    expect(parseTagVersion("1.2.3-rc.1+sha.abc")?.build).toEqual(["sha", "abc"]);
    expect(parseTagVersion(`1.2.3-${"a".repeat(300)}`)).toBeNull(); // over Masterminds' 256 characters
  });

  it("orders by precedence, build metadata ignored: of equal versions the first listed wins", () => {
    expect(latestTag(semver(">=1.0.0"), ["1.0.0+b", "1.0.0+a", "0.9.0"])).toBe("1.0.0+b");
    expect(latestTag(semver(">=1.0.0-0"), ["1.0.0-rc.10", "1.0.0-rc.9", "1.0.0-beta"])).toBe("1.0.0-rc.10");
  });

  it("fails as Flux does when nothing matches, and refuses a range that is not one", () => {
    expect(() => latestTag(semver(">=9.0.0"), tags)).toThrow("unable to determine latest version from provided list");
    expect(() => latestTag(semver("not a range"), tags)).toThrow(/^invalid policy: improper constraint/);
    expect(() => latestTag(semver(">=1.0.0"), [])).toThrow("version list argument cannot be empty");
  });
});

describe("alphabetical policy", () => {
  const tags = ["RELEASE.2024-01-01T00-00-00Z", "RELEASE.2024-03-01T00-00-00Z", "RELEASE.2023-12-31T23-59-59Z"];
  it("asc (the default) picks the last in byte order, desc the first", () => {
    expect(latestTag(alphabetical(), tags)).toBe("RELEASE.2024-03-01T00-00-00Z");
    expect(latestTag(alphabetical("asc"), ["a", "B", "b", "A"])).toBe("b");
    expect(latestTag(alphabetical("desc"), ["a", "B", "b", "A"])).toBe("A");
  });
});

describe("numerical policy (Go's strconv.ParseFloat)", () => {
  it("asc picks the highest, desc the lowest; of equal values the last listed wins", () => {
    expect(latestTag(numerical(), ["1", "10", "9", "2.5"])).toBe("10");
    expect(latestTag(numerical("desc"), ["1", "10", "-3", "2.5"])).toBe("-3");
    expect(latestTag(numerical(), ["1.0", "1", "0.5"])).toBe("1");
  });
  it("fails on the first tag that is not a number", () => {
    expect(() => latestTag(numerical(), ["1", "v2", "3"])).toThrow("failed to parse invalid numeric value 'v2'");
  });
  it.each([
    ["12", 12],
    ["-1.5e3", -1500],
    [".5", 0.5],
    ["5.", 5],
    ["0x1p4", 16],
    ["Inf", Infinity],
    ["-infinity", -Infinity],
    ["1_000", undefined], // underscores only after a base prefix
    ["0x10", undefined], // a hexadecimal float needs its p exponent
    ["1e400", undefined], // out of range: an error in Go
    ["", undefined],
    [" 1", undefined],
    ["+nan", undefined],
  ])("ParseFloat(%j) is %s", (text, value) => {
    expect(parseGoFloat(text)).toBe(value);
  });
});

describe("filterTags", () => {
  const tags = ["main-abc1234-1700000100", "main-def5678-1700000200", "dev-0a0a0a0-1700000300", "1.0.0"];
  it("keeps the tags the pattern matches and orders them by what extract takes out; latestRef is the tag", () => {
    const spec = {
      ...numerical(),
      filterTags: { pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract: "$ts" },
    };
    expect(latestTag(spec, tags)).toBe("main-def5678-1700000200");
  });
  it("without extract, filters only", () => {
    expect(latestTag({ ...alphabetical("desc"), filterTags: { pattern: "^main-" } }, tags)).toBe(
      "main-abc1234-1700000100",
    );
  });
  it("refuses a pattern that is not a Go regular expression, or one that matches nothing", () => {
    expect(() => latestTag({ ...alphabetical(), filterTags: { pattern: "(?<=x)y" } }, tags)).toThrow(
      /^failed to filter tags: invalid regular expression pattern '\(\?<=x\)y'/,
    );
    expect(() => latestTag({ ...alphabetical(), filterTags: { pattern: "^nothing" } }, tags)).toThrow(
      "version list argument cannot be empty",
    );
  });
  it("matches a pattern built to backtrack in linear time", () => {
    // Prepare: (a+)+$ against a's and a final b takes a backtracking engine 2^n steps
    const hostile = { ...alphabetical(), filterTags: { pattern: "^(a+)+$" } };
    const tags = Array.from({ length: 5_000 }, () => `${"a".repeat(100)}b`);
    tags.push("aaa");
    // Act
    const started = performance.now();
    const picked = latestTag(hostile, tags);
    // Assess
    expect(picked).toBe("aaa");
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("Go's Regexp.Expand", () => {
  it.each([
    ["$1", "v1.2.3", "1"],
    ["${1}x", "v1.2.3", "1x"],
    ["$1x", "v1.2.3", ""], // Go reads the name `1x`: no such group
    ["$major.$minor", "v1.2.3", "1.2"],
    ["$$1", "v1.2.3", "$1"],
    ["$9", "v1.2.3", ""],
    ["${", "v1.2.3", "${"],
  ])("%j on %s gives %j", (template, tag, expected) => {
    expect(GoRegexp.compile("^v(?P<major>[0-9]+)\\.(?P<minor>[0-9]+)").expand(tag, template)).toBe(expected);
  });
});
