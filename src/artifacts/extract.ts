import { createWriteStream } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";

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
  const { maxBytes, maxFiles } = { ...defaultExtractLimits, ...limits };
  const abort = new AbortController();
  let files = 0;
  let bytes = 0;
  const writes: Promise<void>[] = [];
  // Each folder is made once, however many entries it holds (a syscall per file adds up for thousands of them).
  const folders = new Map<string, Promise<unknown>>();
  const folder = (path: string): Promise<unknown> => {
    let made = folders.get(path);
    if (!made) folders.set(path, (made = mkdir(path, { recursive: true })));
    return made;
  };
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
  /** A write that failed on the file system (a path taken by an earlier entry, above all) fails naming the entry. */
  const settle = (path: string, write: Promise<void>): Promise<void> =>
    write.catch((error: NodeJS.ErrnoException) => {
      const why = ["EEXIST", "EISDIR", "ENOTDIR"].includes(error.code ?? "")
        ? "collides with an earlier entry"
        : "could not be written";
      fail(new UnsafeArchiveError(`archive entry ${path}: ${why} (${error.code ?? error.message})`));
    });
  const onEntry = (entry: ReadEntry): void => {
    try {
      if (++files > maxFiles) throw new UnsafeArchiveError(`archive has more than ${maxFiles} entries`);
      const target = inside(root, entry.path);
      if (entry.type === "Directory") {
        writes.push(
          settle(
            entry.path,
            folder(target).then(() => void entry.resume()),
          ),
        );
      } else if (FILE_TYPES.has(entry.type)) {
        const mode = entry.mode && entry.mode & 0o111 ? 0o755 : 0o644;
        // "wx": a second entry for a path (file or directory) fails instead of replacing or writing through it.
        const write =
          entry.size <= SMALL_FILE_BYTES
            ? Promise.all([folder(dirname(target)), whole(entry, abort.signal)]).then(([, data]) =>
                writeFile(target, data, { mode, flag: "wx", signal: abort.signal }),
              )
            : folder(dirname(target)).then(() =>
                pipeline(entry, createWriteStream(target, { mode, flags: "wx" }), { signal: abort.signal }),
              );
        writes.push(settle(entry.path, write));
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
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
  });
  aborted.catch(() => {}); // the race below reports it; unobserved otherwise
  return Promise.race([buffer(entry), aborted]);
}

/** The entry's path inside root, or an error naming the entry. */
function inside(root: string, path: string): string {
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path))
    throw new UnsafeArchiveError(`archive entry ${path}: absolute paths are not allowed`);
  if (path.split(/[\\/]/).includes("..")) throw new UnsafeArchiveError(`archive entry ${path}: '..' is not allowed`);
  const target = resolve(root, path);
  if (target !== root && !target.startsWith(root + sep))
    throw new UnsafeArchiveError(`archive entry ${path} leaves the archive root`);
  return target;
}
