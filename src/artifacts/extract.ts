import { createWriteStream } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { MemoryTree } from "./memory-tree.js";

/** An archive entry that would escape the destination or is not a file or directory, or an archive over the limits. */
export class UnsafeArchiveError extends Error {
  override name = "UnsafeArchiveError";
}

export interface ExtractLimits {
  /** Uncompressed bytes of the whole archive (entry headers included). @default 512 MiB */
  maxBytes?: number;
  /** Entries. @default 100_000 */
  maxFiles?: number;
  /** Drop symbolic links instead of failing, as Flux extracts an OCI layer (fluxcd/pkg tar.WithSkipSymlinks). */
  skipSymlinks?: boolean;
}

/** Files up to this size are read whole and written with one call instead of streamed. */
const SMALL_FILE_BYTES = 256 * 1024;

/** The bounds of an extraction, also used for a Git checkout (the tree that becomes the artifact). */
export const defaultExtractLimits: Required<ExtractLimits> = {
  maxBytes: 512 * 1024 * 1024,
  maxFiles: 100_000,
  skipSymlinks: false,
};

/**
 * Regular files as Go's archive/tar reads them (`0` and the pre-POSIX NUL type); ContiguousFile is refused as Flux
 * does.
 */
const FILE_TYPES = new Set(["File", "OldFile"]);

/** Where the entries of an archive go: each gets its path inside the root and settles when written. */
interface Sink {
  root: string;
  directory(target: string, entry: ReadEntry): Promise<unknown>;
  file(target: string, executable: boolean, entry: ReadEntry, signal: AbortSignal): Promise<unknown>;
}

/**
 * Extracts a `.tar.gz` artifact into `dest` (empty or absent). As fluxcd/pkg's tar.Untar, only
 * regular files and directories are extracted: a link (symbolic or hard), device, FIFO or any other
 * entry fails the whole extraction, so no path inside `dest` can lead outside it. Absolute paths,
 * `..` and a second entry for an existing path are refused too. Sizes are counted on the
 * decompressed stream, not taken from headers, and the first refusal stops the decompression.
 */
export async function extractArchive(
  data: Buffer,
  dest: string,
  limits: ExtractLimits = {},
): Promise<{ files: number; bytes: number }> {
  const root = resolve(dest);
  await mkdir(root, { recursive: true });
  if ((await readdir(root)).length > 0) throw new UnsafeArchiveError(`extraction target ${dest} is not empty`);
  // Each folder is made once, however many entries it holds (a syscall per file adds up for thousands of them).
  const folders = new Map<string, Promise<unknown>>();
  const folder = (path: string): Promise<unknown> => {
    let made = folders.get(path);
    if (!made) folders.set(path, (made = mkdir(path, { recursive: true })));
    return made;
  };
  return walkArchive(data, limits, {
    root,
    directory: (target, entry) => folder(target).then(() => void entry.resume()),
    // "wx": a second entry for a path (file or directory) fails instead of replacing or writing through it.
    file: (target, executable, entry, signal) => {
      const mode = executable ? 0o755 : 0o644;
      return entry.size <= SMALL_FILE_BYTES
        ? Promise.all([folder(dirname(target)), whole(entry, signal)]).then(([, body]) =>
            writeFile(target, body, { mode, flag: "wx", signal }),
          )
        : folder(dirname(target)).then(() =>
            pipeline(entry, createWriteStream(target, { mode, flags: "wx" }), { signal }),
          );
    },
  });
}

/**
 * Reads a `.tar.gz` artifact into memory with the same checks as extractArchive (a path taken twice,
 * or a file where a folder is, fails the same way), for an artifact re-archived at once.
 */
export async function readArchive(
  data: Buffer,
  limits: ExtractLimits = {},
): Promise<{ tree: MemoryTree; files: number; bytes: number }> {
  const tree = new MemoryTree();
  const key = (target: string) => target.slice(1);
  const counted = await walkArchive(data, limits, {
    root: "/",
    directory: async (target, entry) => {
      entry.resume();
      if (target !== "/") tree.addDirectory(key(target));
    },
    file: async (target, executable, entry, signal) =>
      tree.addFile(key(target), await whole(entry, signal), executable),
  });
  return { tree, ...counted };
}

async function walkArchive(data: Buffer, limits: ExtractLimits, sink: Sink): Promise<{ files: number; bytes: number }> {
  const { root } = sink;
  const { maxBytes, maxFiles } = { ...defaultExtractLimits, ...limits };
  const abort = new AbortController();
  let files = 0;
  let bytes = 0;
  const writes: Promise<void>[] = [];
  let failure: Error | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    abort.abort(error);
  };

  // node-tar's parser consumes metadata entries (PAX, GNU long names) itself and applies them to the next entry.
  const parser = new Parser({ onReadEntry: (entry) => onEntry(entry), strict: true });
  // After the end-of-archive blocks the parser appends every chunk to one buffer (quadratic): count, don't pass on.
  let ended = false;
  parser.on("eof", () => (ended = true));
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(
        bytes > maxBytes ? new UnsafeArchiveError(`archive expands to more than ${maxBytes} bytes`) : null,
        ended ? undefined : chunk,
      );
    },
  });
  /** A write that failed (a path taken by an earlier entry, above all) fails naming the entry. */
  const settle = (path: string, write: Promise<unknown>): Promise<void> =>
    write.then(
      () => undefined,
      (error: NodeJS.ErrnoException) => {
        const why = ["EEXIST", "EISDIR", "ENOTDIR"].includes(error.code ?? "")
          ? "collides with an earlier entry"
          : "could not be written";
        fail(new UnsafeArchiveError(`archive entry ${path}: ${why} (${error.code ?? error.message})`));
      },
    );
  const onEntry = (entry: ReadEntry): void => {
    try {
      if (++files > maxFiles) throw new UnsafeArchiveError(`archive has more than ${maxFiles} entries`);
      const target = inside(root, entry.path);
      if (entry.type === "Directory") {
        writes.push(settle(entry.path, sink.directory(target, entry)));
      } else if (FILE_TYPES.has(entry.type)) {
        const executable = Boolean(entry.mode && entry.mode & 0o111);
        writes.push(settle(entry.path, sink.file(target, executable, entry, abort.signal)));
      } else if (entry.type === "SymbolicLink" && limits.skipSymlinks) {
        entry.resume();
      } else {
        throw new UnsafeArchiveError(
          `archive entry ${entry.path}: unsupported file type ${entry.type}; only regular files and directories are extracted`,
        );
      }
    } catch (error) {
      fail(error as Error);
      entry.resume();
    }
  };

  await pipeline(Readable.from([data]), createGunzip(), count, parser, { signal: abort.signal }).catch((error: Error) =>
    fail(error),
  );
  await Promise.all(writes);
  if (failure)
    throw failure instanceof UnsafeArchiveError
      ? failure
      : new UnsafeArchiveError(`archive could not be extracted: ${failure.message}`);
  return { files, bytes };
}

/** An entry's body; rejected when the extraction is aborted (the entry would then never end). */
function whole(entry: ReadEntry, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const aborted = () => reject(signal.reason as Error);
    if (signal.aborted) return aborted();
    signal.addEventListener("abort", aborted, { once: true });
    const settled = () => signal.removeEventListener("abort", aborted);
    entry.on("data", (chunk: Buffer) => chunks.push(chunk));
    entry.on("end", () => (settled(), resolve(Buffer.concat(chunks))));
    entry.on("error", (error: unknown) => (settled(), reject(error as Error)));
  });
}

/** The entry's path inside root, or an error naming the entry. */
function inside(root: string, path: string): string {
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path))
    throw new UnsafeArchiveError(`archive entry ${path}: absolute paths are not allowed`);
  if (path.split(/[\\/]/).includes("..")) throw new UnsafeArchiveError(`archive entry ${path}: '..' is not allowed`);
  const target = resolve(root, path);
  if (target !== root && !target.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new UnsafeArchiveError(`archive entry ${path} leaves the archive root`);
  return target;
}
