import { createWriteStream } from "node:fs";
import { mkdir, readdir, symlink } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";

/** An archive entry that would escape the destination, or an archive over the limits. */
export class UnsafeArchiveError extends Error {
  override name = "UnsafeArchiveError";
}

export interface ExtractLimits {
  /** Total uncompressed bytes. @default 512 MiB */
  maxBytes?: number;
  /** Entries. @default 100_000 */
  maxFiles?: number;
}

/**
 * Extracts a `.tar.gz` artifact into `dest` (empty or absent), refusing absolute paths, `..`,
 * links that resolve outside `dest`, and device or FIFO entries; sizes are counted as the data
 * streams, not taken from headers. Nothing is written outside `dest`.
 */
export async function extractArchive(data: Buffer, dest: string, limits: ExtractLimits = {}): Promise<{ files: number; bytes: number }> {
  const root = resolve(dest);
  await mkdir(root, { recursive: true });
  if ((await readdir(root)).length > 0) throw new UnsafeArchiveError(`extraction target ${dest} is not empty`);
  const maxBytes = limits.maxBytes ?? 512 * 1024 * 1024;
  const maxFiles = limits.maxFiles ?? 100_000;
  let files = 0;
  let bytes = 0;
  const writes: Promise<void>[] = [];
  let failure: Error | undefined;

  const onEntry = (entry: ReadEntry): void => {
    try {
      if (failure) throw failure;
      if (++files > maxFiles) throw new UnsafeArchiveError(`archive has more than ${maxFiles} entries`);
      const target = inside(root, entry.path);
      if (entry.type === "Directory") writes.push(mkdir(target, { recursive: true }).then(() => entry.resume() as unknown as void));
      else if (entry.type === "File" || entry.type === "OldFile" || entry.type === "ContiguousFile") {
        const count = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            bytes += chunk.length;
            done(bytes > maxBytes ? new UnsafeArchiveError(`archive expands to more than ${maxBytes} bytes`) : null, chunk);
          },
        });
        const mode = entry.mode && entry.mode & 0o111 ? 0o755 : 0o644;
        writes.push(mkdir(dirname(target), { recursive: true }).then(() => pipeline(entry, count, createWriteStream(target, { mode }))));
      } else if (entry.type === "SymbolicLink") {
        const link = entry.linkpath ?? "";
        if (link.startsWith("/") || !resolve(dirname(target), link).startsWith(root + sep)) throw new UnsafeArchiveError(`archive entry ${entry.path}: symlink to ${link} leaves the archive root`);
        writes.push(mkdir(dirname(target), { recursive: true }).then(() => symlink(link, target)));
        entry.resume();
      } else if (entry.type === "Link") {
        throw new UnsafeArchiveError(`archive entry ${entry.path}: hard links are not allowed`);
      } else if (["CharacterDevice", "BlockDevice", "FIFO"].includes(entry.type)) {
        throw new UnsafeArchiveError(`archive entry ${entry.path}: ${entry.type} entries are not allowed`);
      } else {
        entry.resume(); // pax headers and other metadata-only entries
      }
    } catch (error) {
      failure ??= error as Error;
      entry.resume();
    }
  };

  const parser = new Parser({ onReadEntry: onEntry, strict: true });
  await pipeline(Readable.from([data]), parser).catch((error: Error) => {
    failure ??= error;
  });
  const settled = await Promise.allSettled(writes);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  failure ??= rejected?.reason as Error | undefined;
  if (failure) throw failure instanceof UnsafeArchiveError ? failure : new UnsafeArchiveError(`archive could not be extracted: ${failure.message}`);
  return { files, bytes };
}

/** The entry's path inside root, or an error naming the entry. */
function inside(root: string, path: string): string {
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path)) throw new UnsafeArchiveError(`archive entry ${path}: absolute paths are not allowed`);
  if (path.split(/[\\/]/).includes("..")) throw new UnsafeArchiveError(`archive entry ${path}: '..' is not allowed`);
  const target = resolve(root, path);
  if (target !== root && !target.startsWith(root + sep)) throw new UnsafeArchiveError(`archive entry ${path} leaves the archive root`);
  return target;
}
