import { describe, expect, it } from "vitest";
import { checkIndexEntry, refOfIndexKey } from "../../src/bundle/index-entry.js";

// The bundle index is not signed: its keys and entries are checked before the agent or the control
// plane uses them to build S3 keys, reports or sequences (pure logic).

const digest = `sha256:${"a".repeat(64)}`;
const entry = {
  kustomization: { namespace: "apps", name: "web" },
  digest,
  contentDigest: digest,
  sequence: 1_700_000_000_000,
  revision: "main@sha1:abc",
  publishedAt: "2025-01-01T00:00:00.000Z",
};

describe("bundle index entries from an untrusted index (pure)", () => {
  it.each([
    ["apps/web", { namespace: "apps", name: "web" }],
    ["apps/web.v2", { namespace: "apps", name: "web.v2" }],
    ["apps", undefined],
    ["apps/web/extra", undefined],
    ["../status/web", undefined],
    ["apps/..", undefined],
    ["Apps/web", undefined],
    ["/web", undefined],
    ["__proto__", undefined],
    [`${"n".repeat(64)}/web`, undefined],
    [`apps/${"n".repeat(254)}`, undefined],
  ])("index key %s names %o", (key, ref) => {
    expect(refOfIndexKey(key)).toEqual(ref);
  });

  it("takes a well-formed entry about the Kustomization its key names", () => {
    expect(checkIndexEntry("apps/web", entry)).toEqual({ ref: { namespace: "apps", name: "web" }, entry });
    expect(checkIndexEntry("apps/web", { ...entry, withdrawn: true })).toMatchObject({ entry: { withdrawn: true } });
  });

  it.each([
    ["null", null, "index entry apps/web: entry:"],
    [
      "another Kustomization's",
      { ...entry, kustomization: { namespace: "apps", name: "api" } },
      "index entry apps/web names Kustomization apps/api",
    ],
    [
      "another namespace's",
      { ...entry, kustomization: { namespace: "team", name: "web" } },
      "index entry apps/web names Kustomization team/web",
    ],
    [
      "a digest that is a path",
      { ...entry, digest: "sha256:../../status/x" },
      "index entry apps/web: digest: expected sha256:<64 hex digits>",
    ],
    ["an upper-case digest", { ...entry, digest: digest.toUpperCase() }, "index entry apps/web: digest:"],
    ["a negative sequence", { ...entry, sequence: -1 }, "index entry apps/web: sequence:"],
    ["an unsafe sequence", { ...entry, sequence: 2 ** 60 }, "index entry apps/web: sequence:"],
    ["a string sequence", { ...entry, sequence: "9" }, "index entry apps/web: sequence:"],
    ["a huge revision", { ...entry, revision: "r".repeat(2_000) }, "index entry apps/web: revision:"],
    ["withdrawn: false", { ...entry, withdrawn: false }, "index entry apps/web: withdrawn:"],
  ])("refuses %s entry, naming what is wrong", (_, value, problem) => {
    const checked = checkIndexEntry("apps/web", value);
    expect(checked).toMatchObject({
      ref: { namespace: "apps", name: "web" },
      problem: expect.stringContaining(problem),
    });
  });

  it("reports the entry's digest only when it is a string, and truncated", () => {
    expect(checkIndexEntry("apps/web", { ...entry, sequence: -1 })).toMatchObject({ digest });
    expect(checkIndexEntry("apps/web", { ...entry, digest: 42 })).toMatchObject({ digest: "" });
    expect(checkIndexEntry("apps/web", { ...entry, digest: "x".repeat(10_000) })).toMatchObject({
      digest: "x".repeat(100),
    });
  });

  it("ignores an entry whose key names no Kustomization (there is nowhere to report it)", () => {
    expect(checkIndexEntry("../../x", entry)).toBeUndefined();
  });
});
