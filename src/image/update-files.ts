import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, realpath, writeFile } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { applySetters, settersOf, SETTER_TOKEN, type ObjectChanges, type PolicyImage } from "./setters.js";

// The Setters strategy over a checkout: the files under `spec.update.path` that Flux would consider
// (*.yaml, *.yml, Kustomization) and that hold the marker are updated in place, nothing else is touched.

/** A file that holds a marker is read whole and parsed: bigger ones are refused rather than parsed. */
export const MAX_SETTER_FILE_BYTES = 8 * 1024 * 1024;

/** A file the update changed: its path from the checkout's root (`/`-separated) and the objects changed in it. */
export interface FileChanges {
  file: string;
  objects: ObjectChanges[];
}

/** An update.path outside the checkout, or a file too big to parse: the automation's input is wrong. */
export class UpdatePathError extends Error {
  override name = "UpdatePathError";
}

/**
 * Applies the policies' setters to the files under `path` (relative to `root`; the root itself when
 * empty) and writes back the files that changed. Symbolic links are never followed (a link may point
 * out of the checkout), nor is `.git`. Returns the changes, files sorted by path.
 */
export async function updateWithSetters(
  root: string,
  path: string | undefined,
  policies: PolicyImage[],
): Promise<FileChanges[]> {
  const start = await confined(root, path);
  const setters = settersOf(policies);
  const changed: FileChanges[] = [];
  for (const file of await candidateFiles(start)) {
    const info = await lstat(file);
    if (info.size > MAX_SETTER_FILE_BYTES) {
      // Screened first, as Flux does: only a file with the marker must be parsed.
      if (!(await holdsToken(file))) continue;
      throw new UpdatePathError(
        `${relative(root, file)} holds an image policy marker but is ${info.size} bytes, more than the ${MAX_SETTER_FILE_BYTES} a file to update may have`,
      );
    }
    const text = utf8(await readFile(file));
    // Not UTF-8 (as Flux assumes YAML is): skipped like any file that does not parse, never rewritten lossily.
    if (text === undefined) continue;
    const update = applySetters(text, setters);
    if (!update) continue;
    await writeFile(file, update.text);
    changed.push({ file: relative(root, file).split(sep).join("/"), objects: update.objects });
  }
  return changed.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** `root/path`, which must stay inside root once every link on the way is resolved (as Flux's securejoin). */
async function confined(root: string, path: string | undefined): Promise<string> {
  const realRoot = await realpath(root);
  if (path && isAbsolute(path))
    throw new UpdatePathError(`spec.update.path '${path}' must be relative to the repository root`);
  const wanted = resolve(realRoot, path ?? ".");
  const inside = (p: string) => p === realRoot || p.startsWith(realRoot + sep);
  if (!inside(wanted)) throw new UpdatePathError(`spec.update.path '${path}' points outside the repository`);
  let real: string;
  try {
    real = await realpath(wanted);
  } catch {
    throw new UpdatePathError(`spec.update.path '${path}' does not exist in the repository`);
  }
  if (!inside(real)) throw new UpdatePathError(`spec.update.path '${path}' points outside the repository`);
  return real;
}

/** Regular files named *.yaml, *.yml or Kustomization under dir (or dir itself when it is such a file). */
async function candidateFiles(start: string): Promise<string[]> {
  const info = await lstat(start);
  if (info.isFile()) return isCandidate(start) ? [start] : [];
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== ".git") await walk(full);
      else if (entry.isFile() && isCandidate(entry.name)) found.push(full);
    }
  };
  await walk(start);
  return found;
}

function isCandidate(path: string): boolean {
  return /\.ya?ml$/.test(path) || basename(path) === "Kustomization";
}

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

async function holdsToken(file: string): Promise<boolean> {
  let tail = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 })) {
    const text = tail + (chunk as string);
    if (text.includes(SETTER_TOKEN)) return true;
    tail = text.slice(-SETTER_TOKEN.length);
  }
  return false;
}
