import { mkdir, mkdtemp, readdir, statfs, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keptBudget, trimKeptFolders } from "../../src/sources/git-kept-budget.js";

/** A kept folder of `bytes` bytes in two files, last written `ageSeconds` ago. */
async function keptFolder(root: string, name: string, bytes: number, ageSeconds: number): Promise<void> {
  const folder = join(root, name);
  await mkdir(folder, { recursive: true });
  const when = new Date(Date.now() - ageSeconds * 1000);
  for (const [file, size] of [
    ["objects", bytes - Math.floor(bytes / 4)],
    ["segments", Math.floor(bytes / 4)],
  ] as const) {
    await writeFile(join(folder, file), Buffer.alloc(size));
    await utimes(join(folder, file), when, when);
  }
}

describe("kept Git data on disk: one byte budget across GitRepositories", () => {
  it("removes the folders written least recently until the rest fit", async () => {
    const root = await mkdtemp(join(tmpdir(), "sluice-kept-budget-"));
    await keptFolder(root, "newest", 400, 1);
    await keptFolder(root, "recent", 400, 60);
    await keptFolder(root, "old", 400, 3600);
    await keptFolder(root, "oldest", 100, 7200);
    const removed = await trimKeptFolders(root, 1000);
    // 400 + 400 fit; "old" does not, and nothing older than it stays even if it would fit.
    expect(removed.map((path) => path.slice(root.length + 1)).sort()).toEqual(["old", "oldest"]);
    expect((await readdir(root)).sort()).toEqual(["newest", "recent"]);
    expect(await trimKeptFolders(root, 1000)).toEqual([]);
  });

  it("removes even the folder just written when it alone is over the budget", async () => {
    const root = await mkdtemp(join(tmpdir(), "sluice-kept-budget-"));
    await keptFolder(root, "huge", 2000, 0);
    expect(await trimKeptFolders(root, 1000)).toHaveLength(1);
    expect(await readdir(root)).toEqual([]);
  });

  it("has nothing to do when nothing was kept yet", async () => {
    expect(await trimKeptFolders(join(tmpdir(), "sluice-kept-budget-missing"), 1000)).toEqual([]);
  });

  it("sizes the budget to a quarter of the work folder's file system, at most 1 GiB (128 MB of a 512 MB /tmp)", async () => {
    const fs = await statfs(tmpdir());
    expect(await keptBudget(tmpdir())).toBe(Math.min(1024 ** 3, Math.floor((fs.blocks * fs.bsize) / 4)));
  });
});
