import { describe, expect, it } from "vitest";
import { ByteLru } from "../../src/artifacts/byte-lru.js";
import { keptInMemory, keptKey, forgetKeptInMemory } from "../../src/artifacts/kept-memory.js";

describe("kept values in memory (a byte budget, least recently used first)", () => {
  it("drops the least recently used entries to stay within the budget", () => {
    const lru = new ByteLru<string>(100);
    lru.set("a", "A", 40);
    lru.set("b", "B", 40);
    expect(lru.get("a")).toBe("A"); // a is now more recent than b
    lru.set("c", "C", 40);
    expect([lru.get("a"), lru.get("b"), lru.get("c")]).toEqual(["A", undefined, "C"]);
    expect(lru.bytes).toBe(80);
    // Replacing an entry counts its new size only.
    lru.set("a", "A2", 60);
    expect(lru.bytes).toBe(100);
    expect(lru.get("a")).toBe("A2");
  });

  it("never holds one entry larger than the whole budget, nor lets it evict the others", () => {
    const lru = new ByteLru<string>(100);
    lru.set("small", "s", 10);
    lru.set("huge", "h", 101);
    expect(lru.get("huge")).toBeUndefined();
    expect(lru.get("small")).toBe("s");
    expect(lru.bytes).toBe(10);
  });

  it("forgets one folder's values only, whatever the folder's name has in common with another's", () => {
    keptInMemory.set(keptKey("/work/git-kept/ab", "git-objects"), 1, 1);
    keptInMemory.set(keptKey("/work/git-kept/ab", "gzip-segments"), 2, 1);
    keptInMemory.set(keptKey("/work/git-kept/abc", "git-objects"), 3, 1);
    forgetKeptInMemory("/work/git-kept/ab");
    expect(keptInMemory.get(keptKey("/work/git-kept/ab", "git-objects"))).toBeUndefined();
    expect(keptInMemory.get(keptKey("/work/git-kept/ab", "gzip-segments"))).toBeUndefined();
    expect(keptInMemory.get(keptKey("/work/git-kept/abc", "git-objects"))).toBe(3);
    forgetKeptInMemory("/work/git-kept/abc");
  });
});
