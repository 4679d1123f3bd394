import { readdir, rm, stat, statfs } from "node:fs/promises";
import { join } from "node:path";

// What GitRepositories keep on disk between reconciles (one folder each, git-kept-objects.ts and kept-segments.ts)
// shares one byte budget: a fleet of large repositories must not fill the work folder's disk (on Lambda, /tmp is
// 512 MB unless configured larger). Keeping is only a shortcut, so the folders written least recently are removed
// first, and a repository whose folder was removed just fetches its next commit whole.

/** At most this much, whatever the disk's size. */
const MAX_BUDGET = 1024 ** 3;
/** At most this share of the work folder's file system. */
const DISK_SHARE = 4;

/** The budget for kept data under `workDir`: a quarter of its file system (128 MB of Lambda's 512 MB /tmp), ≤ 1 GiB. */
export async function keptBudget(workDir: string): Promise<number> {
  const fs = await statfs(workDir);
  return Math.min(MAX_BUDGET, Math.floor((fs.blocks * fs.bsize) / DISK_SHARE));
}

/**
 * Removes the folders under `root` written least recently until the rest fit in `maxBytes` together. Returns the
 * folders removed. A folder's last use is its newest file's modification time: kept data is rewritten each time it
 * serves a new commit.
 */
export async function trimKeptFolders(root: string, maxBytes: number): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const folders = await Promise.all(names.map((name) => usage(join(root, name))));
  folders.sort((a, b) => b.lastUsed - a.lastUsed);
  const removed: string[] = [];
  let total = 0;
  for (const folder of folders) {
    total += folder.bytes;
    if (total <= maxBytes) continue;
    await rm(folder.path, { recursive: true, force: true });
    removed.push(folder.path);
  }
  return removed;
}

async function usage(path: string): Promise<{ path: string; bytes: number; lastUsed: number }> {
  const files = await readdir(path).catch(() => [] as string[]);
  let [bytes, lastUsed] = [0, 0];
  for (const file of files) {
    const info = await stat(join(path, file)).catch(() => undefined);
    if (!info) continue;
    bytes += info.size;
    lastUsed = Math.max(lastUsed, info.mtimeMs);
  }
  return { path, bytes, lastUsed };
}
