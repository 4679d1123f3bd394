import fs from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import git from "isomorphic-git";
import { defaultExtractLimits, type ExtractLimits } from "../artifacts/extract.js";

/** A tree entry a checkout must not write, or a tree over the limits. */
export class UnsafeTreeError extends Error {
  override name = "UnsafeTreeError";
}

export interface WriteTreeOptions {
  /** The repository whose object store holds the fetched objects (its `.git` lives in `dir`). */
  dir: string;
  /** Commit (or annotated tag) whose tree is written into `dir`. */
  oid: string;
  limits?: ExtractLimits;
  /** isomorphic-git's object cache: packfile indexes parsed once for the whole tree. */
  cache: object;
}

const FILE_MODES: Record<string, number> = { "100644": 0o644, "100755": 0o755 };
const TREE_MODE = "040000";
/**
 * Files of one folder written at once: reading a blob and writing it overlap, without a descriptor per file of a
 * huge folder.
 */
const PARALLEL_WRITES = 64;

interface BlobEntry {
  oid: string;
  path: string;
  target: string;
  mode: number;
}

/**
 * Writes a commit's tree from the object store, instead of a worktree checkout that would write what
 * a hostile server sent: only regular files and directories; symlinks (120000) and submodules
 * (160000) are skipped, as source-controller leaves them out of the artifact. Names are checked
 * (no empty, `.`, `..`, `/`, NUL or `.git` in any case), every file is created exclusively so a
 * duplicate name fails, and entries and bytes are bounded as an extraction is.
 */
export async function writeCommitTree(options: WriteTreeOptions): Promise<{ files: number; bytes: number }> {
  const { dir, cache } = options;
  const { maxBytes, maxFiles } = { ...defaultExtractLimits, ...options.limits };
  let entries = 0;
  let files = 0;
  let bytes = 0;

  const writeBlob = async ({ oid, path, target, mode }: BlobEntry): Promise<void> => {
    const { blob } = await git.readBlob({ fs, dir, oid, cache });
    bytes += blob.byteLength;
    if (bytes > maxBytes) throw new UnsafeTreeError(`tree holds more than ${maxBytes} bytes`);
    await created(path, writeFile(target, blob, { flag: "wx", mode }));
    files++;
  };
  const write = async (oid: string, folder: string, prefix: string): Promise<void> => {
    const blobs: BlobEntry[] = [];
    const subtrees: { oid: string; path: string; target: string }[] = [];
    for (const entry of (await git.readTree({ fs, dir, oid, cache })).tree) {
      const name = checkedName(entry.path, prefix);
      const [path, target] = [prefix + name, join(folder, name)];
      if (++entries > maxFiles) throw new UnsafeTreeError(`tree has more than ${maxFiles} entries`);
      const mode = FILE_MODES[entry.mode];
      if (entry.mode === TREE_MODE) {
        await created(path, mkdir(target));
        subtrees.push({ oid: entry.oid, path, target });
      } else if (mode !== undefined) {
        blobs.push({ oid: entry.oid, path, target, mode });
      }
    }
    for (let i = 0; i < blobs.length; i += PARALLEL_WRITES)
      await Promise.all(blobs.slice(i, i + PARALLEL_WRITES).map(writeBlob));
    for (const subtree of subtrees) await write(subtree.oid, subtree.target, `${subtree.path}/`);
  };

  await write(options.oid, dir, "");
  return { files, bytes };
}

/** The entry name, when it names one new entry of this folder. */
function checkedName(name: string, prefix: string): string {
  const invalid = name === "" || name === "." || name === ".." || /[/\\\0]/.test(name) || name.toLowerCase() === ".git";
  if (invalid) throw new UnsafeTreeError(`tree entry '${prefix}${name}': invalid name`);
  return name;
}

async function created(path: string, write: Promise<unknown>): Promise<void> {
  await write.catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
    throw new UnsafeTreeError(`tree entry '${path}': duplicate name`);
  });
}
