import { posix } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import type { CopyOperation } from "../../api/artifactgenerator.js";
import type { SourceTree } from "../../artifacts/archive.js";
import { defaultExtractLimits, readArchive, UnsafeArchiveError } from "../../artifacts/extract.js";
import { MemoryTree } from "../../artifacts/memory-tree.js";
import { BadPatternError, doublestarGlob, goGlob, isGlob, type PathMatcher } from "./glob.js";

// An output artifact's files, from its copy operations over the source artifacts, with source-watcher v2.2's
// cp-like rules (internal/builder/builder.go): a literal path copies that file, or that folder as a sub-folder of the
// destination; a glob copies each match, `dir/**` the contents of dir; later operations overwrite earlier ones, or
// deep-merge YAML (Merge), or unpack .tar.gz/.tgz files (Extract). Everything happens in memory on trees read from
// the verified artifacts, so no path (`..`, absolute, a symlink) can reach outside a source or the output.

/** A copy operation that cannot be carried out as written; the message names it. */
export class CopyError extends Error {
  override name = "CopyError";
}

interface Entry {
  directory: boolean;
  executable: boolean;
}

/** A source artifact's tree, indexed once: every folder and regular file by its path ("" is the root). */
export class IndexedTree {
  private constructor(
    readonly tree: SourceTree,
    readonly entries: Map<string, Entry>,
  ) {}

  static async of(tree: SourceTree): Promise<IndexedTree> {
    const entries = new Map<string, Entry>([["", { directory: true, executable: false }]]);
    const walk = async (folder: string): Promise<void> => {
      for (const entry of await tree.list(folder)) {
        const path = folder ? `${folder}/${entry.name}` : entry.name;
        entries.set(path, { directory: entry.directory, executable: entry.executable });
        if (entry.directory) await walk(path);
      }
    };
    await walk("");
    return new IndexedTree(tree, entries);
  }

  /** The paths at or under `folder`, sorted. */
  under(folder: string): string[] {
    return [...this.entries.keys()].filter((p) => folder === "" || p === folder || p.startsWith(`${folder}/`)).sort();
  }
}

/** Bounds on one output artifact: what a source artifact may hold (copies can multiply a source). */
export const OUTPUT_LIMITS = { maxBytes: defaultExtractLimits.maxBytes, maxFiles: defaultExtractLimits.maxFiles };

/** The output artifact's folders and files as they are being staged. */
class Staging {
  private readonly entries = new Map<string, { directory: true } | { directory: false; body: Buffer; x: boolean }>();
  private bytes = 0;

  isDirectory(path: string): boolean {
    return path === "" || this.entries.get(path)?.directory === true;
  }

  exists(path: string): boolean {
    return path === "" || this.entries.has(path);
  }

  read(path: string): Buffer | undefined {
    const entry = this.entries.get(path);
    return entry && !entry.directory ? entry.body : undefined;
  }

  mkdir(path: string): void {
    if (path === "" || this.isDirectory(path)) return;
    if (this.entries.has(path)) throw new CopyError(`'${path}' is a file in the artifact, not a directory`);
    this.mkdir(parentOf(path));
    this.entries.set(path, { directory: true });
  }

  write(path: string, body: Buffer, executable: boolean): void {
    if (this.isDirectory(path)) throw new CopyError(`'${path}' is a directory in the artifact, not a file`);
    this.mkdir(parentOf(path));
    this.bytes += body.length - (this.read(path)?.length ?? 0);
    this.entries.set(path, { directory: false, body, x: executable });
    if (this.bytes > OUTPUT_LIMITS.maxBytes)
      throw new CopyError(`the artifact would hold more than ${OUTPUT_LIMITS.maxBytes} bytes`);
    if (this.entries.size > OUTPUT_LIMITS.maxFiles)
      throw new CopyError(`the artifact would hold more than ${OUTPUT_LIMITS.maxFiles} entries`);
  }

  tree(): MemoryTree {
    const tree = new MemoryTree();
    for (const [path, entry] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : 1)))
      if (entry.directory) tree.addDirectory(path);
      else tree.addFile(path, entry.body, entry.x);
    return tree;
  }
}

const parentOf = (path: string) => join(posix.dirname(path));
/** posix.join with "" (not ".") for the root. */
const join = (...parts: string[]) => {
  const joined = posix.join(...parts);
  return joined === "." ? "" : joined;
};

/** `a/./b/` → `a/b`; "" for the root. Refuses what would leave the root (`..`) or start from `/`. */
function cleanRelative(path: string, what: string): string {
  if (path.startsWith("/")) throw new CopyError(`${what} '${path}' must be relative`);
  const cleaned = posix.normalize(path === "" ? "." : path).replace(/\/$/, "");
  if (cleaned === ".." || cleaned.startsWith("../") || path.split("/").includes(".."))
    throw new CopyError(`${what} '${path}' must not contain '..'`);
  return cleaned === "." ? "" : cleaned;
}

const isTarball = (path: string) => /\.(tar\.gz|tgz)$/i.test(path);

/** Builds one output artifact's tree from its copy operations, in order, over the sources by alias. */
export async function buildArtifactTree(
  operations: readonly CopyOperation[],
  sources: ReadonlyMap<string, IndexedTree>,
): Promise<MemoryTree> {
  const staging = new Staging();
  for (const op of operations) {
    try {
      await applyCopy(op, sources, staging);
    } catch (error) {
      if (!(error instanceof CopyError || error instanceof BadPatternError || error instanceof UnsafeArchiveError))
        throw error;
      throw new CopyError(`failed to apply copy operation from '${op.from}' to '${op.to}': ${error.message}`);
    }
  }
  return staging.tree();
}

async function applyCopy(op: CopyOperation, sources: ReadonlyMap<string, IndexedTree>, staging: Staging) {
  const slash = op.from.indexOf("/");
  const alias = op.from.slice(1, slash);
  const source = sources.get(alias);
  if (!source) throw new CopyError(`source alias '${alias}' not found`);
  const pattern = op.from.slice(slash + 1);
  const dest = cleanRelative(op.to.slice("@artifact/".length), "destination");
  const excludes = (op.exclude ?? []).map((p) => ({ matches: doublestarGlob(p), byName: !p.includes("/") }));
  const strategy = op.strategy ?? "Overwrite";
  const copy = { op, source, staging, excludes };

  if (!isGlob(pattern)) {
    const path = cleanRelative(pattern, "source path");
    const entry = source.entries.get(path);
    if (!entry) throw new CopyError(`source '${path || "."}' does not exist`);
    if (entry.directory) {
      if (strategy === "Extract")
        throw new CopyError(`extract strategy is not supported for directories, got '${path || "."}'`);
      return copyDirectory(copy, path, join(dest, posix.basename(path)), path);
    }
    if (excluded(excludes, path, "")) return;
    if (strategy === "Extract") {
      if (!isTarball(path))
        throw new CopyError(`extract strategy requires tarball file (.tar.gz or .tgz), got '${path}'`);
      return extract(copy, path, dest);
    }
    const into = op.to.endsWith("/") || staging.isDirectory(dest) ? join(dest, posix.basename(path)) : dest;
    return copyFile(copy, path, into);
  }

  if (pattern.split("/").includes("..") || pattern.startsWith("/"))
    throw new CopyError(`glob '${pattern}' must be relative and must not contain '..'`);
  const matches = [...source.entries.keys()]
    .filter(strategy === "Extract" ? doublestarGlob(pattern) : goGlob(pattern))
    .filter((p) => p !== "")
    .sort();
  if (matches.length === 0) throw new CopyError(`no files match pattern '${pattern}' in source '${alias}'`);
  const base = selectionRoot(pattern);
  const kept = matches.filter((m) => !excluded(excludes, m, base));
  if (kept.length === 0)
    throw new CopyError(`all files matching pattern '${pattern}' in source '${alias}' were excluded`);
  const contentsOf = pattern.endsWith("/**") ? pattern.slice(0, -"/**".length) : undefined;
  for (const match of kept) {
    if (strategy === "Extract") {
      if (isTarball(match) && !source.entries.get(match)!.directory) await extract(copy, match, dest);
      continue;
    }
    const relative =
      contentsOf !== undefined && match.startsWith(`${contentsOf}/`) ? match.slice(contentsOf.length + 1) : match;
    const target = join(dest, relative);
    if (source.entries.get(match)!.directory) await copyDirectory(copy, match, target, base);
    else await copyFile(copy, match, target);
  }
}

interface Copy {
  op: CopyOperation;
  source: IndexedTree;
  staging: Staging;
  excludes: Exclude[];
}

/** An exclude pattern; one without a `/` also matches a file's name at any depth. */
interface Exclude {
  matches: PathMatcher;
  byName: boolean;
}

/** A folder's contents (recursively) into `target`; excludes are matched as source-watcher's copyDirWithRoots does. */
async function copyDirectory({ source, staging, excludes }: Copy, folder: string, target: string, base: string) {
  staging.mkdir(target);
  const skipped: string[] = [];
  for (const path of source.under(folder)) {
    if (path === folder) continue;
    if (skipped.some((s) => path.startsWith(`${s}/`))) continue;
    if (excluded(excludes, path, base)) {
      skipped.push(path);
      continue;
    }
    const into = join(target, folder === "" ? path : path.slice(folder.length + 1));
    if (source.entries.get(path)!.directory) staging.mkdir(into);
    else staging.write(into, (await source.tree.read(path))!, source.entries.get(path)!.executable);
  }
}

/** One file: overwritten, or with Merge deep-merged into a YAML file already there. */
async function copyFile({ op, source, staging }: Copy, path: string, target: string) {
  const body = (await source.tree.read(path))!;
  const existing = op.strategy === "Merge" ? staging.read(target) : undefined;
  if (existing) return staging.write(target, mergeYaml(existing, body, path), false);
  staging.write(target, body, source.entries.get(path)!.executable);
}

/** A tarball's files into `target`, read with the same checks as any artifact (no links, `..` or absolute paths). */
async function extract({ source, staging }: Copy, path: string, target: string) {
  const { tree } = await readArchive((await source.tree.read(path))!, OUTPUT_LIMITS);
  const inner = await IndexedTree.of(tree);
  staging.mkdir(target);
  for (const entry of inner.under("")) {
    if (entry === "") continue;
    const into = join(target, entry);
    if (inner.entries.get(entry)!.directory) staging.mkdir(into);
    else staging.write(into, (await tree.read(entry))!, inner.entries.get(entry)!.executable);
  }
}

/** Whether a path is excluded: matched from the source root or from the selection's literal prefix, or by name. */
function excluded(excludes: Exclude[], path: string, base: string): boolean {
  if (excludes.length === 0) return false;
  const candidates = [path];
  if (base !== "" && path.startsWith(`${base}/`)) candidates.push(path.slice(base.length + 1));
  const name = posix.basename(path);
  return excludes.some(({ matches, byName }) => candidates.some(matches) || (byName && matches(name)));
}

/** The literal folders before a pattern's first glob segment (source-watcher's sourceSelectionRoot). */
function selectionRoot(pattern: string): string {
  const parts: string[] = [];
  for (const part of posix.normalize(pattern).split("/")) {
    if (isGlob(part)) break;
    parts.push(part);
  }
  return parts.join("/").replace(/^\.$/, "");
}

/** source-watcher's Merge: every YAML document of each file deep-merged (maps merge, anything else is replaced). */
function mergeYaml(base: Buffer, overlay: Buffer, path: string): Buffer {
  const merged = mergeMaps(loadYaml(base, path), loadYaml(overlay, path));
  return Buffer.from(stringify(merged, { sortMapEntries: true }));
}

function loadYaml(data: Buffer, path: string): Record<string, unknown> {
  let out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const doc of parseAllDocuments(data.toString("utf8"))) {
    if (doc.errors.length > 0) throw new CopyError(`cannot merge '${path}': ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value))
      throw new CopyError(`cannot merge '${path}': a YAML document is not a map`);
    out = mergeMaps(out, value as Record<string, unknown>);
  }
  return out;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function mergeMaps(base: Record<string, unknown>, overlay: Record<string, unknown>): Record<string, unknown> {
  // No prototype: a `__proto__` key in a hostile YAML file is just a key.
  const out = Object.assign(Object.create(null) as Record<string, unknown>, base);
  for (const [key, value] of Object.entries(overlay))
    out[key] = isMap(value) && isMap(out[key]) ? mergeMaps(out[key], value) : value;
  return out;
}
