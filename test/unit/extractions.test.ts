import { access, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXTRACTIONS_KEPT, Extractions } from "../../src/controllers/kustomize/render-cache.js";

const KiB = 1024;
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** An extraction of `bytes` into a new folder under `root`, counting how often it ran. */
function extraction(root: string, name: string, bytes: number) {
  const made = { count: 0, dir: join(root, name) };
  const extract = async () => {
    made.count++;
    await mkdir(made.dir, { recursive: true });
    await writeFile(join(made.dir, "file"), Buffer.alloc(bytes));
    return { dir: made.dir, bytes };
  };
  return { made, extract };
}

const budget = (bytes: number) => () => Promise.resolve(bytes);
const read = (dir: string) => Promise.resolve(dir);

describe("extracted artifacts on disk (a count and a byte budget, oldest first)", () => {
  it("removes the oldest extractions once together they hold more than the budget", async () => {
    // Arrange
    const root = await mkdtemp(join(tmpdir(), "sluice-extractions-"));
    const extractions = new Extractions();
    const names = ["a", "b", "c"];
    const [a, b, c] = names.map((name) => extraction(root, name, 300 * KiB));
    // Act
    for (const [i, { extract }] of [a!, b!, c!].entries())
      await extractions.read(names[i]!, extract, budget(700 * KiB), read);
    // Assess
    await expect.poll(() => exists(a!.made.dir)).toBe(false);
    expect([await exists(b!.made.dir), await exists(c!.made.dir)]).toEqual([true, true]);
    expect(extractions.bytes).toBe(600 * KiB);
  });

  it("keeps a folder a render is reading until it is done, and extracts it again when next needed", async () => {
    // Arrange
    const root = await mkdtemp(join(tmpdir(), "sluice-extractions-"));
    const extractions = new Extractions();
    const big = extraction(root, "big", 600 * KiB);
    const next = extraction(root, "next", 600 * KiB);
    let done!: () => void;
    const reading = extractions.read(
      "big",
      big.extract,
      budget(700 * KiB),
      (dir) => new Promise<string>((resolve) => (done = () => resolve(dir))),
    );
    await expect.poll(() => done !== undefined).toBe(true);
    // Act
    await extractions.read("next", next.extract, budget(700 * KiB), read);
    const heldWhileRead = await exists(big.made.dir);
    done();
    await reading;
    // Assess
    expect(heldWhileRead).toBe(true);
    await expect.poll(() => exists(big.made.dir)).toBe(false);
    await extractions.read("big", big.extract, budget(700 * KiB), read);
    expect(big.made.count).toBe(2);
  });

  it("keeps at most EXTRACTIONS_KEPT however small, and extracts each once for concurrent readers", async () => {
    // Arrange
    const root = await mkdtemp(join(tmpdir(), "sluice-extractions-"));
    const extractions = new Extractions();
    const all = Array.from({ length: EXTRACTIONS_KEPT + 1 }, (_, i) => extraction(root, `e${i}`, 1));
    // Act
    await Promise.all([0, 1, 2].map(() => extractions.read("e0", all[0]!.extract, budget(1 << 30), read)));
    for (const [i, { extract }] of all.entries()) await extractions.read(`e${i}`, extract, budget(1 << 30), read);
    // Assess
    expect(all[0]!.made.count).toBe(1);
    await expect.poll(() => exists(all[0]!.made.dir)).toBe(false);
    expect(await exists(all[1]!.made.dir)).toBe(true);
    expect(extractions.bytes).toBe(EXTRACTIONS_KEPT);
  });

  it("does not keep a failed extraction: the next render tries again", async () => {
    // Arrange
    const extractions = new Extractions();
    let attempts = 0;
    const failing = async () => {
      attempts++;
      throw new Error("archive over the limit");
    };
    // Act
    const first = await extractions.read("bad", failing, budget(1 << 30), read).catch((e: Error) => e.message);
    const second = await extractions.read("bad", failing, budget(1 << 30), read).catch((e: Error) => e.message);
    // Assess
    expect([first, second]).toEqual(["archive over the limit", "archive over the limit"]);
    expect(attempts).toBe(2);
    expect(extractions.bytes).toBe(0);
  });
});
