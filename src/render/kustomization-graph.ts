import { lstat, realpath } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { BuildError } from "./build-error.js";
import { RenderBudget, type RenderLimits } from "./limits.js";
import { existingInside, findKustomizationFile, isWithin, KUSTOMIZATION_FILES, readSourceFile } from "./source-tree.js";
import { decodeYaml } from "./yaml.js";

export interface GraphOptions {
  /** Refuse every entry that is not a local path in the source (Flux's `--no-remote-bases`). */
  noRemoteBases: boolean;
  limits: RenderLimits;
  /** The start folder's kustomization as it will be built (generated or overlaid), instead of its file. */
  entry?: Record<string, unknown>;
}

/**
 * What a build may read, relative to the root: the folders whose kustomization it loads (with the load restrictor,
 * their files are read from below them) and the files their kustomizations name.
 */
export interface Reached {
  folders: string[];
  files: string[];
}

/** Fields whose entries kustomize loads as a file, a kustomization folder (recursively) or a remote to fetch. */
const BASE_FIELDS = ["resources", "bases", "components", "generators", "transformers", "validators"];
/** Of those, the ones whose entries may also be inline plugin configurations. */
const INLINE_FIELDS = new Set(["generators", "transformers", "validators"]);
/** Fields whose entries kustomize reads as files (remote only as an http(s) URL). */
const FILE_FIELDS = ["crds", "configurations", "patchesStrategicMerge"];
/** Fields holding objects with a file `path`. */
const PATH_OBJECT_FIELDS = ["patches", "patchesJson6902", "replacements"];
const GENERATOR_FIELDS = ["configMapGenerator", "secretGenerator"];

/**
 * Walks the kustomization graph from `dir` the way kustomize will, before kustomize runs: every
 * kustomization file reached through `resources`, `bases`, `components`, `generators`, `transformers`
 * and `validators`, and every path in those and in `crds`, `configurations`, `openapi.path`, patch,
 * replacement and generator files. A local path must exist inside `root` (real paths: no symlink may
 * leave it); absolute paths and `file://` bases are refused; with `noRemoteBases`, so is anything
 * kustomize would fetch. kustomize's own load restrictor covers files, not folders: this covers both.
 * Returns what it reached: all a build of `dir` may read.
 */
export async function checkKustomizationGraph(root: string, dir: string, options: GraphOptions): Promise<Reached> {
  const realRoot = await realpath(root);
  const visited = new Set<string>();
  const files = new Set<string>();
  const visit = async (folder: string, entry?: Record<string, unknown>): Promise<void> => {
    if (visited.has(folder)) return;
    visited.add(folder);
    const file = entry ? join(folder, KUSTOMIZATION_FILES[0]!) : await findKustomizationFile(folder);
    if (!file) return;
    const name = relative(realRoot, file);
    const kustomization = entry ?? (await readKustomizationFile(file, name, options.limits));
    for (const field of BASE_FIELDS) {
      for (const entry of strings(fieldValues(kustomization, field))) {
        if (INLINE_FIELDS.has(field) && isInlineConfig(entry, options.limits)) continue;
        const real = await checkBase(
          { root: realRoot, folder, text: entry, what: `${name}: ${field} entry '${entry}'` },
          options.noRemoteBases,
        );
        if (real && (await lstat(real)).isDirectory()) await visit(real);
        else if (real) {
          await checkAliases(real, relative(realRoot, real), options.limits);
          files.add(real);
        }
      }
    }
    for (const [field, entry] of filePaths(kustomization)) {
      const real = await checkFile(
        { root: realRoot, folder, text: entry, what: `${name}: ${field} entry '${entry}'` },
        options.noRemoteBases,
      );
      if (real && !field.includes("Generator.")) await checkAliases(real, relative(realRoot, real), options.limits);
      if (real) files.add(real);
    }
  };
  const start = await realpath(dir);
  if (!isWithin(realRoot, start)) throw new BuildError(`spec.path: '${relative(root, dir)}' points outside the source`);
  await visit(start, options.entry);
  const inRoot = (paths: Iterable<string>) => [...paths].map((path) => relative(realRoot, path));
  return { folders: inRoot(visited), files: inRoot(files) };
}

/** A kustomization file as kustomize's Go parser reads it: one YAML mapping, no explicit tags, within the limits. */
export async function readKustomizationFile(
  file: string,
  name: string,
  limits: RenderLimits,
): Promise<Record<string, unknown>> {
  // Through a symlink, as kustomize reads it (the source tree check keeps symlinks inside the root).
  const documents = decodeYaml(
    await readSourceFile(await realpath(file), name, limits),
    name,
    new RenderBudget(limits),
    { strict: true },
  );
  if (documents.length > 1)
    throw new BuildError(`${name}: a kustomization file holds one YAML document, not ${documents.length}`);
  const value = documents[0] ?? {};
  if (!isObject(value)) throw new BuildError(`${name}: a kustomization file must be a YAML mapping`);
  return value;
}

/** One entry of a kustomization file: its text, the folder it is relative to, and how errors name it. */
interface Entry {
  /** The real path of the source root. */
  root: string;
  /** The real path of the kustomization file's folder. */
  folder: string;
  text: string;
  /** `<file>: <field> entry '<text>'` */
  what: string;
}

/** A resource, base or component: a local file or folder inside the root, or (when allowed) a remote. */
async function checkBase({ root, folder, text, what }: Entry, noRemoteBases: boolean): Promise<string | undefined> {
  if (/^(git::)?file:/i.test(text))
    throw new BuildError(`${what} is a file:// base; bases must be relative paths in the source`);
  if (looksRemote(text)) {
    if (noRemoteBases) throw new BuildError(`${what} is a remote base, and remote bases are disabled`);
    return undefined;
  }
  const real = await existingInside(root, folder, text, what);
  if (!real && noRemoteBases)
    throw new BuildError(`${what} is not a local path in the source, and remote bases are disabled`);
  return real;
}

/** A file kustomize reads: inside the root when local; an http(s) URL only when remote bases are allowed. */
async function checkFile({ root, folder, text, what }: Entry, noRemoteBases: boolean): Promise<string | undefined> {
  if (/^https?:\/\//i.test(text)) {
    if (noRemoteBases) throw new BuildError(`${what} is a remote file, and remote bases are disabled`);
    return undefined;
  }
  // A multi-line entry is an inline patch unless a file of that name exists.
  if (text.includes("\n") && !(await lstat(resolve(folder, text)).catch(() => undefined))) return undefined;
  return existingInside(root, folder, text, what);
}

/** An alias token: `*name` at the start of a node (after indentation, `-`, `:`, `,`, `[`, `{` or `?`). */
const ALIAS = /(?:^|[\s[{,:?-])\*[^\s\]},]/m;

/**
 * kustomize's Go YAML decoder expands an alias bomb for minutes (until renderLimits.timeoutMs kills it,
 * its memory growing all the while): a YAML file kustomize will read that has aliases is decoded here
 * first, within maxAliases and maxOutputBytes. Files without aliases cannot expand and are not parsed.
 */
async function checkAliases(path: string, name: string, limits: RenderLimits): Promise<void> {
  if (!(await lstat(path)).isFile()) return;
  const text = await readSourceFile(path, name, limits);
  if (ALIAS.test(text)) decodeYaml(text, name, new RenderBudget(limits));
}

/**
 * What kustomize would fetch rather than read (a superset of its rules): a URL with a scheme, `git::`,
 * SCP-like `user@host:path`, or a github.com path.
 */
function looksRemote(entry: string): boolean {
  return (
    /^git::/i.test(entry) ||
    /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ||
    /^[^/]*@/.test(entry) ||
    /^github\.com[/:]/i.test(entry)
  );
}

/**
 * An inline plugin configuration, which kustomize decodes as a resource (it has a kind and a name)
 * instead of loading a path; decoded strictly, so kustomize cannot read it as anything else.
 */
function isInlineConfig(entry: string, limits: RenderLimits): boolean {
  try {
    const [value] = decodeYaml(entry, "inline configuration", new RenderBudget(limits), { strict: true });
    return (
      isObject(value) &&
      typeof value.kind === "string" &&
      isObject(value.metadata) &&
      typeof value.metadata.name === "string"
    );
  } catch {
    return false;
  }
}

/** Every file path of the kustomization, with the field it is in. */
function filePaths(kustomization: Record<string, unknown>): [string, string][] {
  const paths: [string, string][] = [];
  for (const field of FILE_FIELDS)
    for (const entry of strings(fieldValues(kustomization, field))) paths.push([field, entry]);
  const pathsOf = (items: unknown[]) => items.filter(isObject).flatMap((item) => strings(fieldValues(item, "path")));
  for (const path of pathsOf(fieldValues(kustomization, "openapi"))) paths.push(["openapi.path", path]);
  for (const field of PATH_OBJECT_FIELDS)
    for (const path of pathsOf(fieldValues(kustomization, field))) paths.push([`${field}.path`, path]);
  for (const field of GENERATOR_FIELDS) {
    for (const generator of fieldValues(kustomization, field).filter(isObject)) {
      for (const key of ["files", "envs", "env"]) {
        for (const source of strings(fieldValues(generator, key))) {
          // `key=path` names the data key; kustomize reads the part after the first `=`.
          paths.push([`${field}.${key}`, source]);
          if (source.includes("=")) paths.push([`${field}.${key}`, source.slice(source.indexOf("=") + 1)]);
        }
      }
    }
  }
  return paths;
}

/**
 * The values of `field` in `object`, lists flattened. kustomize decodes kustomization files with Go's
 * encoding/json, which matches keys case-insensitively (with Unicode folding: `ſ` is `s`), so every
 * key that folds to the field's name counts.
 */
function fieldValues(object: Record<string, unknown>, field: string): unknown[] {
  const folded = fold(field);
  return Object.entries(object)
    .filter(([key]) => fold(key) === folded)
    .flatMap(([, value]) => (Array.isArray(value) ? (value as unknown[]) : [value]));
}

function fold(key: string): string {
  return key.toUpperCase().toLowerCase();
}

/**
 * The scalar entries as kustomize sees them (Go turns `5` into "5" for a string field); maps and lists are
 * kustomize's to refuse.
 */
function strings(values: unknown[]): string[] {
  return values.filter((v) => ["string", "number", "boolean"].includes(typeof v)).map(String);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
