import { link, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";

/**
 * Copies a tree of regular files and directories as hard links: a private working copy of an
 * extracted artifact in milliseconds, sharing file data. Callers must replace files, never write
 * into them. Nothing else is copied: extraction never produces symlinks, and a link found here is
 * not recreated, so the copy holds no path that leads outside it.
 */
export async function linkTree(source: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) await linkTree(from, to);
    else if (entry.isFile()) await link(from, to);
  }
}
