import { lstat, readdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import ignore, { type Ignore } from "ignore";
import { header, pad } from "./archive.js";

// The layer `flux push artifact` uploads, laid out as fluxcd/pkg/oci's build (fluxcd/pkg/tar.Tar):
// the folder walked in name order, the root as `.`, folders without a trailing slash, each entry's
// permission bits as on disk, owner 0 and time zero; only folders and regular files (links and
// special files are left out). A single file is archived as a folder (mode 0700, Go's MkdirTemp)
// holding it. Paths matching `ignorePaths` (gitignore rules, relative to the root) are left out.
// The entries are Flux's, in Flux's order; the bytes differ (node-tar's octal fields, zlib's deflate).

/** fluxcd/pkg/sourceignore's ExcludeVCS and ExcludeExt: `--ignore-paths`' default, as flux's excludeOCI. */
export const FLUX_OCI_EXCLUDES = [
  ...[".git/", ".gitignore", ".gitmodules", ".gitattributes"],
  ...["*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip"],
];

/** Go's os.MkdirTemp folder mode, the root of a single file's archive. */
const STAGED_ROOT_MODE = 0o700;

/** The gzipped tarball of `path` (a folder or a file), with the number of regular files in it. */
export async function fluxTarball(path: string, ignorePaths: string[]): Promise<{ data: Buffer; files: number }> {
  const root = resolve(path);
  const rules = ignore().add(ignorePaths);
  const info = await lstat(root);
  const entries: Buffer[] = [];
  let files = 0;
  const addFile = (name: string, mode: number, content: Buffer): void => {
    entries.push(header({ path: name, type: "File", mode, size: content.length }), pad(content));
    files++;
  };
  if (info.isFile()) {
    entries.push(header({ path: ".", type: "Directory", mode: STAGED_ROOT_MODE, size: 0 }));
    const name = basename(root);
    if (!rules.ignores(name)) addFile(name, info.mode & 0o777, await readFile(root));
  } else {
    entries.push(header({ path: ".", type: "Directory", mode: info.mode & 0o777, size: 0 }));
    await walk(root, "", rules, entries, addFile);
  }
  entries.push(Buffer.alloc(1024)); // two zero blocks end a tar stream
  const data = gzipSync(Buffer.concat(entries));
  data[9] = 0xff; // the gzip header's OS byte "unknown", as Go's compress/gzip writes it
  return { data, files };
}

async function walk(
  root: string,
  rel: string,
  rules: Ignore,
  entries: Buffer[],
  addFile: (name: string, mode: number, content: Buffer) => void,
): Promise<void> {
  const listed = await readdir(join(root, rel), { withFileTypes: true });
  // Go's WalkDir visits names in byte order.
  listed.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (const entry of listed) {
    if (!entry.isDirectory() && !entry.isFile()) continue;
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (rules.ignores(entry.isDirectory() ? `${path}/` : path)) continue;
    const mode = (await lstat(join(root, path))).mode & 0o777;
    if (entry.isDirectory()) {
      entries.push(header({ path, type: "Directory", mode, size: 0 }));
      await walk(root, path, rules, entries, addFile);
    } else {
      addFile(path, mode, await readFile(join(root, path)));
    }
  }
}
