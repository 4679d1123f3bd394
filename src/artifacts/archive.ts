import { createHash } from "node:crypto";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join, posix, relative, resolve, sep } from "node:path";
import { gzipSync } from "node:zlib";
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
const MTIME = new Date(0);

export interface Archive {
  data: Buffer;
  /** `sha256:<hex>` of `data`. */
  digest: string;
  files: number;
}

/**
 * A deterministic `.tar.gz` of the files and directories in `dir`, honouring Flux's exclusions, `.sourceignore`
 * files and `spec.ignore`.
 */
export async function archiveDirectory(dir: string, options: { ignore?: string } = {}): Promise<Archive> {
  const root = resolve(dir);
  const rules = ignore().add(VCS);
  if (options.ignore === undefined) rules.add(DEFAULTS);
  const entries: Buffer[] = [];
  let files = 0;

  const walk = async (folder: string, scoped: Ignore): Promise<void> => {
    const rel = relative(root, folder).split(sep).join("/");
    const local = await readIgnoreFile(join(folder, IGNORE_FILE), rel);
    // spec.ignore comes last so that it may overrule .sourceignore files.
    const here = local.length > 0 ? ignore().add(scoped).add(local) : scoped;
    const effective = options.ignore !== undefined ? ignore().add(here).add(options.ignore) : here;
    for (const name of (await readdir(folder)).sort()) {
      const full = join(folder, name);
      const path = rel ? `${rel}/${name}` : name;
      const stat = await lstat(full);
      if (stat.isDirectory()) {
        if (effective.ignores(`${path}/`)) continue;
        entries.push(header({ path: `${path}/`, type: "Directory", mode: 0o755, size: 0 }));
        await walk(full, here);
      } else if (effective.ignores(path)) {
        continue;
      } else if (stat.isFile()) {
        const content = await readFile(full);
        entries.push(
          header({ path, type: "File", mode: stat.mode & 0o111 ? 0o755 : 0o644, size: content.length }),
          pad(content),
        );
        files++;
      }
    }
  };

  await walk(root, rules);
  entries.push(Buffer.alloc(1024)); // two zero blocks end a tar stream
  const data = gzipSync(Buffer.concat(entries), { level: 9 });
  return { data, digest: `sha256:${createHash("sha256").update(data).digest("hex")}`, files };
}

/**
 * A nested `.sourceignore` scoped to its folder, as a .gitignore is; only a regular file counts (a link is not
 * followed).
 */
async function readIgnoreFile(path: string, folder: string): Promise<string[]> {
  const isFile = await lstat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  const text = isFile ? await readFile(path, "utf8") : "";
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

function header(data: { path: string; type: "File" | "Directory"; mode: number; size: number }): Buffer {
  const fields = { ...data, uid: 0, gid: 0, mtime: MTIME };
  const block = Buffer.alloc(512);
  const h = new Header(fields);
  h.encode(block, 0);
  // Paths longer than ustar allows get a PAX extended header first, as GNU tar and Go's archive/tar do.
  return h.needPax ? Buffer.concat([new Pax({ path: data.path, mtime: MTIME }).encode(), block]) : block;
}

function pad(content: Buffer): Buffer {
  const rest = content.length % 512;
  return rest === 0 ? content : Buffer.concat([content, Buffer.alloc(512 - rest)]);
}
