import { createHash, createHmac } from "node:crypto";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join, posix, resolve } from "node:path";
import { promisify } from "node:util";
import { crc32, gzip } from "node:zlib";
import ignore, { type Ignore } from "ignore";
import { Header, Pax } from "tar";

// A source artifact exactly as reproducible as Flux's: same tree → same bytes → same digest. The
// tar entries are written with node-tar's Header/Pax encoders (node-tar's packer copies modes, owners
// and times from disk, which vary by machine and umask), sorted by path, with fixed metadata.
// As source-controller's storage.Archive, only regular files and directories go in: symlinks (whose
// targets compose into paths outside the tree however each one looks), devices and sockets are dropped.

/** Always excluded (fluxcd/pkg sourceignore ExcludeVCS). */
const VCS = [".git/", ".gitignore", ".gitmodules", ".gitattributes"];
/**
 * Flux's default exclusions (sourceignore ExcludeExt, ExcludeCI, ExcludeExtra). Flux docs,
 * GitRepository `.spec.ignore`: "When specified, .spec.ignore overrides the default exclusion list,
 * and may overrule the .sourceignore file exclusions" — so these apply only without spec.ignore.
 */
const DEFAULTS = [
  ...["*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip"],
  ...[
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
  ],
  ...["**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml"],
];
const IGNORE_FILE = ".sourceignore";
const gzipAsync = promisify(gzip);
const MTIME = new Date(0);

export interface Archive {
  data: Buffer;
  /** `sha256:<hex>` of `data`. */
  digest: string;
  files: number;
  /** Asked for with `segments`: this archive's gzip members, for the next archive of the same source. */
  segments?: GzipSegments;
}

/**
 * gzip members by the SHA-256 of the tar bytes each holds. A segmented archive is a run of gzip members (a valid
 * `.tar.gz`: gzip readers, Go's included, read members one after another), each a stretch of whole tar entries
 * cut where a path says so, not where a size does: one changed file changes its own member only, and the next
 * archive of a source compresses that one and reuses the others. Same tree, same members, same bytes.
 */
export type GzipSegments = Map<string, Buffer>;

/**
 * About one file in this many ends a segment (chosen by its path's hash) once the segment holds SEGMENT_MIN_BYTES
 * of tar (each member restarts compression without its predecessor's window); a segment ends at SEGMENT_MAX_BYTES
 * anyway.
 */
const SEGMENT_FILES = 16;
const SEGMENT_MIN_BYTES = 32 * 1024;
const SEGMENT_MAX_BYTES = 4 * 1024 * 1024;

/** A folder's entry: a folder or a regular file (links and special files are not listed). */
export interface TreeEntry {
  name: string;
  directory: boolean;
  executable: boolean;
}

/** What an archive is made from: a folder on disk, or a tree held in memory. Paths are `/`-separated, `""` the root. */
export interface SourceTree {
  list(folder: string): Promise<TreeEntry[]>;
  /** The content of a regular file `list` gave. */
  read(path: string): Promise<Buffer | undefined>;
  /**
   * A name of that content that differs whenever the content does, computed by Sluice from the content itself (a
   * Git blob id a fetch hashed): lets a segmented archive recognise an unchanged segment without hashing its bytes.
   */
  identity?(path: string): string | undefined;
}

/**
 * A deterministic `.tar.gz` of the files and directories in `dir`, honouring Flux's exclusions, `.sourceignore`
 * files and `spec.ignore`.
 */
export async function archiveDirectory(dir: string, options: { ignore?: string } = {}): Promise<Archive> {
  return archiveTree(diskTree(resolve(dir)), options);
}

/**
 * archiveDirectory's archive of any tree. `unfiltered`: every folder and regular file, no exclusions and no
 * `.sourceignore` read (source-controller archives a Bucket's download so: its keys were filtered before).
 * `sourceignore: false`: Flux's exclusions apply but `.sourceignore` files are archived unread (source-watcher
 * archives a generated artifact with the default filter alone).
 */
export async function archiveTree(
  tree: SourceTree,
  options: { ignore?: string; unfiltered?: boolean; sourceignore?: false; segments?: GzipSegments } = {},
): Promise<Archive> {
  const rules = options.unfiltered ? ignore() : ignore().add(VCS);
  if (options.ignore === undefined && !options.unfiltered) rules.add(DEFAULTS);
  const entries: Buffer[] = [];
  /** What names each of `entries` in a segment's key: a header itself, a file's content its identity if it has one. */
  const names: (Buffer | string | undefined)[] = [];
  /** Where each segment ends, as an index into `entries`. */
  const cuts: number[] = [];
  let [files, segmentBytes] = [0, 0];

  const walk = async (rel: string, scoped: Ignore): Promise<void> => {
    const listed = await tree.list(rel);
    // A nested .sourceignore counts only as a regular file (a link is not followed).
    const ignoreFile =
      !options.unfiltered &&
      options.sourceignore !== false &&
      listed.some((e) => e.name === IGNORE_FILE && !e.directory)
        ? await tree.read(rel ? `${rel}/${IGNORE_FILE}` : IGNORE_FILE)
        : undefined;
    const local = ignorePatterns(ignoreFile?.toString("utf8") ?? "", rel);
    // spec.ignore comes last so that it may overrule .sourceignore files.
    const here = local.length > 0 ? ignore().add(scoped).add(local) : scoped;
    const effective = options.ignore !== undefined ? ignore().add(here).add(options.ignore) : here;
    for (const entry of listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.directory) {
        if (effective.ignores(`${path}/`)) continue;
        entries.push(header({ path: `${path}/`, type: "Directory", mode: 0o755, size: 0 }));
        names.push(entries.at(-1)!);
        await walk(path, here);
      } else if (!effective.ignores(path)) {
        const content = (await tree.read(path))!;
        const head = header({ path, type: "File", mode: entry.executable ? 0o755 : 0o644, size: content.length });
        entries.push(head, content, padding(content.length));
        // The header holds the size, which fixes the padding.
        names.push(head, tree.identity?.(path), "");
        files++;
        segmentBytes += 512 + content.length;
        if (segmentBytes >= SEGMENT_MAX_BYTES || (segmentBytes >= SEGMENT_MIN_BYTES && endsSegment(path))) {
          cuts.push(entries.length);
          segmentBytes = 0;
        }
      }
    }
  };

  await walk("", rules);
  entries.push(Buffer.alloc(1024)); // two zero blocks end a tar stream
  // zlib's default level, as source-controller's gzip.NewWriter (level 9 took twice as long for a few % less), on
  // libuv's thread pool: a large tree does not stall the other reconciles for the time it takes.
  if (!options.segments) {
    const data = await gzipAsync(Buffer.concat(entries));
    return { data, digest: `sha256:${createHash("sha256").update(data).digest("hex")}`, files };
  }
  const members = await gzipSegments(entries, names, [...cuts, entries.length], options.segments);
  const data = Buffer.concat(members.map(([, member]) => member));
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  return { data, digest, files, segments: new Map(members) };
}

/** Whether a file ends its segment: by its path alone (FNV-1a), so that a change of content moves no cut. */
function endsSegment(path: string): boolean {
  let hash = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) hash = Math.imul(hash ^ path.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % SEGMENT_FILES === 0;
}

/**
 * The members of `entries` cut at `cuts` (increasing), in order, by segmentKey: each reused from `previous` when
 * it holds the same bytes, the others compressed side by side on the thread pool.
 */
function gzipSegments(
  entries: Buffer[],
  names: (Buffer | string | undefined)[],
  cuts: number[],
  previous: GzipSegments,
): Promise<[string, Buffer][]> {
  return Promise.all(
    cuts.map(async (cut, i) => {
      const start = cuts[i - 1] ?? 0;
      const key = segmentKey(entries.slice(start, cut), names.slice(start, cut));
      const kept = previous.get(key);
      if (kept && trailerMatches(kept, entries.slice(start, cut))) return [key, kept];
      return [key, await gzipAsync(Buffer.concat(entries.slice(start, cut)))];
    }),
  );
}

/**
 * A segment's key: when each of its files has an identity, an HMAC of its headers and those identities (no pass
 * over the content), else the SHA-256 of its tar bytes (one copy, hashed in one call: thousands of small calls cost
 * more). A keyed HMAC and a plain SHA-256 have no input in common, so one kind of key never matches the other.
 */
function segmentKey(parts: Buffer[], names: (Buffer | string | undefined)[]): string {
  if (names.includes(undefined)) return createHash("sha256").update(Buffer.concat(parts)).digest("hex");
  const mac = createHmac("sha256", "sluice archive segment identities");
  for (const name of names) mac.update(name!);
  return mac.digest("hex");
}

/**
 * A gzip member's trailer (CRC-32 and size of what it holds) agrees with the tar bytes `parts`: a member kept
 * under another segment's key is not reused.
 */
function trailerMatches(member: Buffer, parts: Buffer[]): boolean {
  let [crc, size] = [0, 0];
  for (const part of parts) [crc, size] = [crc32(part, crc), size + part.length];
  return (
    member.length >= 18 &&
    member.readUInt32LE(member.length - 8) === crc &&
    member.readUInt32LE(member.length - 4) === size % 2 ** 32
  );
}

/** The patterns of a nested `.sourceignore`, scoped to its folder as a .gitignore is. */
function ignorePatterns(text: string, folder: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => (folder ? scope(line, folder) : line));
}

function scope(pattern: string, folder: string): string {
  const negated = pattern.startsWith("!");
  const body = negated ? pattern.slice(1) : pattern;
  const anchored = body.replace(/\/$/, "").includes("/");
  const scoped = anchored
    ? posix.join(folder, body.replace(/^\//, "")) + (body.endsWith("/") ? "/" : "")
    : `${folder}/**/${body}`;
  return (negated ? "!" : "") + scoped;
}

/** A folder on disk as a SourceTree: links, devices and sockets are left out. */
function diskTree(root: string): SourceTree {
  const full = (path: string) => (path ? join(root, ...path.split("/")) : root);
  return {
    async list(folder) {
      const entries = await readdir(full(folder), { withFileTypes: true });
      const listed: TreeEntry[] = [];
      for (const entry of entries) {
        if (!entry.isDirectory() && !entry.isFile()) continue;
        const executable = entry.isFile() && ((await lstat(join(full(folder), entry.name))).mode & 0o111) !== 0;
        listed.push({ name: entry.name, directory: entry.isDirectory(), executable });
      }
      return listed;
    },
    read: (path) => readFile(full(path)),
  };
}

/** A tar entry's header with fixed owner (0) and time (the epoch), in ustar, or PAX when the path needs it. */
export function header(data: { path: string; type: "File" | "Directory"; mode: number; size: number }): Buffer {
  const fields = { ...data, uid: 0, gid: 0, mtime: MTIME };
  const block = Buffer.alloc(512);
  const h = new Header(fields);
  h.encode(block, 0);
  // Paths longer than ustar allows get a PAX extended header first, as GNU tar and Go's archive/tar do.
  return h.needPax ? Buffer.concat([new Pax({ path: data.path, mtime: MTIME }).encode(), block]) : block;
}

/** A file's content padded to the tar block size. */
export function pad(content: Buffer): Buffer {
  return content.length % 512 === 0 ? content : Buffer.concat([content, padding(content.length)]);
}

const ZERO_BLOCK = Buffer.alloc(512);

/** The zeros after `size` bytes of content that fill its last tar block (a view of one shared zero block). */
function padding(size: number): Buffer {
  return ZERO_BLOCK.subarray(0, (512 - (size % 512)) % 512);
}
