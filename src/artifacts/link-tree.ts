import { link, lstat, mkdir, readdir } from "node:fs/promises";
import { dirname, join, sep } from "node:path";

/** Parts of a tree, relative to its root: folders (with everything below them) and single files. */
export interface LinkedPaths {
  folders: string[];
  files: string[];
}

/**
 * Copies part of a tree into `target` as hard links: a private working copy of an extracted artifact in milliseconds,
 * sharing file data. Callers must replace files, never write into them. The folders are copied whole, the files one
 * by one (a folder named as a file is created empty), each with the folders above it. Only regular files and folders
 * are copied: extraction never produces symlinks, and a link found here is not recreated, so the copy holds no path
 * that leads outside it. What is not named is absent from the copy: reading past it finds nothing, never other data.
 */
export async function linkPaths(source: string, target: string, { folders, files }: LinkedPaths): Promise<void> {
  const outermost = [...new Set(folders)]
    .sort()
    .filter((folder, i, all) => !all.slice(0, i).some((above) => within(above, folder)));
  for (const folder of outermost) await linkTree(join(source, folder), join(target, folder));
  for (const file of files) {
    if (outermost.some((folder) => within(folder, file))) continue;
    const from = join(source, file);
    if ((await lstat(from)).isDirectory()) await mkdir(join(target, file), { recursive: true });
    else {
      await mkdir(dirname(join(target, file)), { recursive: true });
      await link(from, join(target, file)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error; // named twice
      });
    }
  }
}

/** `path` is `folder` or below it (relative paths; "" is the root). */
function within(folder: string, path: string): boolean {
  return folder === "" || path === folder || path.startsWith(folder + sep);
}

async function linkTree(source: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) await linkTree(from, to);
    else if (entry.isFile()) await link(from, to);
  }
}
