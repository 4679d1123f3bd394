import { describe, expect, it } from "vitest";
import { targetsOf } from "../../src/ports/dependents.js";

// What wakes an ArtifactGenerator: each of its sources, read from a spec as stored (possibly never admitted).

const key = { kind: "ArtifactGenerator", namespace: "flux-system", name: "monorepo" };

describe("dependents index: an ArtifactGenerator's targets", () => {
  it("is each source once, in the generator's namespace unless one is given, sorted", () => {
    const sources = [
      { alias: "b", kind: "OCIRepository", name: "charts", namespace: "shared" },
      { alias: "a", kind: "GitRepository", name: "fleet" },
      { alias: "c", kind: "GitRepository", name: "fleet" },
    ];
    expect(targetsOf(key, { sources })).toEqual(["GitRepository/flux-system/fleet", "OCIRepository/shared/charts"]);
  });

  it("skips entries that name nothing, and has none without a list of sources", () => {
    const sources = [
      null,
      5,
      { kind: "GitRepository" },
      { name: "x" },
      { kind: "GitRepository", name: "../../receivers/x" },
      { kind: "Git/Repository", name: "x" },
      { kind: "GitRepository", name: "x", namespace: "a/b" },
      { kind: "Bucket", name: "b" },
    ];
    expect(targetsOf(key, { sources })).toEqual(["Bucket/flux-system/b"]);
    expect(targetsOf(key, { sources: "GitRepository/x" })).toBeUndefined();
    expect(targetsOf(key, undefined)).toBeUndefined();
  });
});
