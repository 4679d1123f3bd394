import fs from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import git from "isomorphic-git";
import { MemoryTree } from "../artifacts/memory-tree.js";
import { defaultExtractLimits, type ExtractLimits } from "../artifacts/extract.js";
import { PackObjects, type GitObject, type GitObjectType } from "./git-pack.js";

/** A tree entry a checkout must not write, or a tree over the limits. */
export class UnsafeTreeError extends Error {
  override name = "UnsafeTreeError";
}

/** An object the commit needs is not among those fetched (and kept). */
export class MissingObjectError extends UnsafeTreeError {
  override name = "MissingObjectError";
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
const GITLINK_MODE = "160000";
/**
 * Files of one folder written at once: reading a blob and writing it overlap, without a descriptor per file of a
 * huge folder.
 */
const PARALLEL_WRITES = 64;

interface BlobEntry {
  oid: string;
  path: string;
  mode: number;
}

/** Where a commit's tree goes; `path` is `/`-separated from the root, and each one comes once. */
interface TreeSink {
  directory(path: string): Promise<unknown>;
  /** `oid`: the blob's id, which the object source checked by hashing the blob (treeFromObjects) or not. */
  file(path: string, blob: Uint8Array, mode: number, oid: string): Promise<unknown>;
}

/**
 * Writes a commit's tree from the object store, instead of a worktree checkout that would write what
 * a hostile server sent: only regular files and directories; symlinks (120000) and submodules
 * (160000) are skipped, as source-controller leaves them out of the artifact. Names are checked
 * (no empty, `.`, `..`, `/`, NUL or `.git` in any case), a name twice in one folder fails (and every file
 * is created exclusively), and entries and bytes are bounded as an extraction is.
 */
export async function writeCommitTree(options: WriteTreeOptions): Promise<{ files: number; bytes: number }> {
  const { dir } = options;
  return walkCommitTree(options, await objectReader(dir, options.cache, maxBytesOf(options.limits)), {
    directory: (path) => mkdir(join(dir, path)),
    file: (path, blob, mode) => writeFile(join(dir, path), blob, { flag: "wx", mode }),
  });
}

/**
 * writeCommitTree's tree, with the same checks and bounds, read into memory instead of written next to `.git`:
 * what an artifact is archived from, without writing every file and reading it back.
 */
export async function readCommitTree(options: WriteTreeOptions): Promise<MemoryTree> {
  return memoryTree(options, await objectReader(options.dir, options.cache, maxBytesOf(options.limits)));
}

/**
 * readCommitTree's tree from objects already in memory (a fetched pack: see git-fetch.ts), each under the id its
 * content hashes to: the files carry their blob ids as identities (SourceTree.identity).
 */
export function treeFromObjects(
  objects: Map<string, GitObject>,
  options: { oid: string; limits?: ExtractLimits },
): Promise<MemoryTree> {
  const read = (oid: string, type: GitObjectType): Buffer => {
    const object = objects.get(oid);
    if (!object) throw new MissingObjectError(`object ${oid} is missing from the fetched pack`);
    if (object.type !== type) throw new UnsafeTreeError(`object ${oid} is a ${object.type}, not a ${type}`);
    return object.data;
  };
  return memoryTree(
    options,
    {
      tree: async (oid) => {
        const object = objects.get(oid);
        return parseTree(
          oid,
          object?.type === "commit" ? read(treeOfCommit(oid, object.data), "tree") : read(oid, "tree"),
        );
      },
      blob: async (oid) => read(oid, "blob"),
    },
    true,
  );
}

/**
 * The commit `oid` and every tree and blob its tree reaches (links' blobs too: a server may send a delta against
 * one), from `objects`; what is missing is left out. Submodule commits are not the repository's objects.
 */
export function reachableObjects(objects: Map<string, GitObject>, oid: string): Map<string, GitObject> {
  const reached = new Map<string, GitObject>();
  const commit = objects.get(oid);
  if (commit?.type !== "commit") return reached;
  reached.set(oid, commit);
  const pending = [treeOfCommit(oid, commit.data)];
  while (pending.length > 0) {
    const treeOid = pending.pop()!;
    const tree = objects.get(treeOid);
    if (tree?.type !== "tree" || reached.has(treeOid)) continue;
    reached.set(treeOid, tree);
    for (const entry of parseTree(treeOid, tree.data)) {
      if (entry.mode === TREE_MODE) pending.push(entry.oid);
      else if (entry.mode !== GITLINK_MODE) {
        const blob = objects.get(entry.oid);
        if (blob) reached.set(entry.oid, blob);
      }
    }
  }
  return reached;
}

async function memoryTree(
  options: { oid: string; limits?: ExtractLimits },
  objects: ObjectSource,
  hashedByUs = false,
): Promise<MemoryTree> {
  const tree = new MemoryTree();
  await walkCommitTree(options, objects, {
    directory: async (path) => tree.addDirectory(path),
    file: async (path, blob, mode, oid) =>
      tree.addFile(
        path,
        Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength),
        mode === 0o755,
        hashedByUs ? oid : undefined,
      ),
  });
  return tree;
}

/** Trees and blobs by oid; a commit's oid reads as its tree. */
interface ObjectSource {
  tree(oid: string): Promise<TreeItem[]>;
  blob(oid: string): Promise<Uint8Array>;
}

const maxBytesOf = (limits?: ExtractLimits) => limits?.maxBytes ?? defaultExtractLimits.maxBytes;

async function walkCommitTree(
  options: { oid: string; limits?: ExtractLimits },
  objects: ObjectSource,
  sink: TreeSink,
): Promise<{ files: number; bytes: number }> {
  const { maxBytes, maxFiles } = { ...defaultExtractLimits, ...options.limits };
  let entries = 0;
  let files = 0;
  let bytes = 0;

  const writeBlob = async ({ oid, path, mode }: BlobEntry): Promise<void> => {
    const blob = await objects.blob(oid);
    bytes += blob.byteLength;
    if (bytes > maxBytes) throw new UnsafeTreeError(`tree holds more than ${maxBytes} bytes`);
    await created(path, sink.file(path, blob, mode, oid));
    files++;
  };
  const write = async (oid: string, prefix: string): Promise<void> => {
    const blobs: BlobEntry[] = [];
    const subtrees: { oid: string; path: string }[] = [];
    const names = new Set<string>();
    for (const entry of await objects.tree(oid)) {
      const name = checkedName(entry.path, prefix);
      const path = prefix + name;
      if (++entries > maxFiles) throw new UnsafeTreeError(`tree has more than ${maxFiles} entries`);
      const mode = FILE_MODES[entry.mode];
      // Only what is written takes its name: a skipped symlink leaves it free, as on disk.
      if (entry.mode === TREE_MODE || mode !== undefined) {
        if (names.has(name)) throw new UnsafeTreeError(`tree entry '${path}': duplicate name`);
        names.add(name);
      }
      if (entry.mode === TREE_MODE) {
        await created(path, sink.directory(path));
        subtrees.push({ oid: entry.oid, path });
      } else if (mode !== undefined) {
        blobs.push({ oid: entry.oid, path, mode });
      }
    }
    for (let i = 0; i < blobs.length; i += PARALLEL_WRITES)
      await Promise.all(blobs.slice(i, i + PARALLEL_WRITES).map(writeBlob));
    for (const subtree of subtrees) await write(subtree.oid, `${subtree.path}/`);
  };

  await write(options.oid, "");
  return { files, bytes };
}

interface TreeItem {
  mode: string;
  path: string;
  oid: string;
}

/**
 * Trees and blobs from the fetched packs (PackObjects), or through isomorphic-git for what no pack holds (a loose
 * object). A commit reads as its tree.
 */
async function objectReader(dir: string, cache: object, maxBytes: number): Promise<ObjectSource> {
  const packs = await PackObjects.open(join(dir, ".git"), maxBytes);
  const packed = (oid: string, type: GitObjectType) => {
    const object = packs.read(oid);
    if (object && object.type !== type) throw new UnsafeTreeError(`object ${oid} is a ${object.type}, not a ${type}`);
    return object?.data;
  };
  const tree = async (oid: string): Promise<TreeItem[]> => {
    const commit = packs.read(oid);
    if (commit?.type === "commit") return tree(treeOfCommit(oid, commit.data));
    const data = packed(oid, "tree");
    return data ? parseTree(oid, data) : (await git.readTree({ fs, dir, oid, cache })).tree;
  };
  const blob = async (oid: string): Promise<Uint8Array> =>
    packed(oid, "blob") ?? (await git.readBlob({ fs, dir, oid, cache })).blob;
  return { tree, blob };
}

function treeOfCommit(oid: string, data: Buffer): string {
  const match = /^tree ([0-9a-f]{40})\n/.exec(data.toString("latin1", 0, 46));
  if (!match) throw new UnsafeTreeError(`commit ${oid} names no tree`);
  return match[1]!;
}

/** A tree object's entries (`<mode> <name>\0<20-byte oid>`…), modes read as isomorphic-git reads them. */
function parseTree(oid: string, data: Buffer): TreeItem[] {
  const items: TreeItem[] = [];
  for (let at = 0; at < data.length;) {
    const space = data.indexOf(0x20, at);
    const nul = space < 0 ? -1 : data.indexOf(0, space + 1);
    if (nul < 0 || nul + 21 > data.length) throw new UnsafeTreeError(`tree ${oid} is malformed`);
    items.push({
      mode: normalisedMode(data.toString("latin1", at, space), oid),
      path: data.toString("utf8", space + 1, nul),
      oid: data.toString("hex", nul + 1, nul + 21),
    });
    at = nul + 21;
  }
  return items;
}

function normalisedMode(mode: string, tree: string): string {
  if (/^0?4/.test(mode)) return TREE_MODE;
  if (/^1006/.test(mode)) return "100644";
  if (/^1007/.test(mode)) return "100755";
  if (/^120/.test(mode)) return "120000";
  if (/^160/.test(mode)) return "160000";
  throw new UnsafeTreeError(`tree ${tree}: unknown file mode ${mode}`);
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
