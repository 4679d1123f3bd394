import { constants } from "node:fs";
import { lstat, open, readdir, readlink, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { BuildError } from "./build-error.js";
import { checkFileSize, type RenderLimits } from "./limits.js";

/** The file names kustomize recognises, in its order of preference. */
export const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** The kustomization file of `dir`, as kustomize finds it: a symlink to a file counts (kustomize follows it). */
export async function findKustomizationFile(dir: string): Promise<string | undefined> {
  for (const name of KUSTOMIZATION_FILES) {
    if ((await stat(join(dir, name)).catch(() => undefined))?.isFile()) return join(dir, name);
  }
  return undefined;
}

/** `path` is `root` or below it (both resolved already). */
export function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path of `path` (relative to `from`) if it exists, undefined if not. A BuildError when it is
 * absolute or leaves `root`, as written or through symlinks; checked before existence, so nothing
 * tells whether a path outside the source exists.
 */
export async function existingInside(
  root: string,
  from: string,
  path: string,
  what: string,
): Promise<string | undefined> {
  if (isAbsolute(path)) throw new BuildError(`${what} is an absolute path; paths must be relative to the source`);
  const realRoot = await realpath(root);
  const lexical = resolve(await realpath(from), path);
  if (!isWithin(realRoot, lexical)) throw new BuildError(`${what} points outside the source`);
  const real = await realpath(lexical).catch(() => undefined);
  if (real !== undefined && !isWithin(realRoot, real)) throw new BuildError(`${what} points outside the source`);
  return real;
}

/**
 * Checks a whole tree (or its folder `top`) before anything reads it or kustomize sees it: every file within
 * maxFileBytes, every symlink resolving inside the tree, nothing but files, folders and symlinks.
 */
export async function checkSourceTree(root: string, limits: RenderLimits, top = root): Promise<void> {
  const realRoot = await realpath(root);
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      const name = relative(root, path);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) checkFileSize(name, (await lstat(path)).size, limits);
      else if (entry.isSymbolicLink()) {
        // A dangling link counts by where it points: something may appear there while kustomize runs.
        const target =
          (await realpath(path).catch(() => undefined)) ?? resolve(await realpath(folder), await readlink(path));
        if (!isWithin(realRoot, target)) throw new BuildError(`${name} is a symlink to outside the source`);
      } else throw new BuildError(`${name} is not a regular file, folder or symlink`);
    }
  };
  await walk(top);
}

/** A source file's text, its size checked before it is read; never through a symlink. */
export async function readSourceFile(path: string, name: string, limits: RenderLimits): Promise<string> {
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    checkFileSize(name, (await file.stat()).size, limits);
    return await file.readFile("utf8");
  } finally {
    await file.close();
  }
}
