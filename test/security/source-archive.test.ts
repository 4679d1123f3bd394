import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { Header, Pax } from "tar";
import { describe, expect, it } from "vitest";
import { archiveDirectory } from "../../src/artifacts/archive.js";
import { extractArchive, UnsafeArchiveError } from "../../src/artifacts/extract.js";
import { linkPaths } from "../../src/artifacts/link-tree.js";

// What a hostile artifact (the artifact store on AWS is a bucket others may reach) can try against
// extraction, and what a hostile source tree can try against archiving and the render's private copy.

const run = promisify(execFile);

type EntryType =
  | "File"
  | "Directory"
  | "SymbolicLink"
  | "Link"
  | "FIFO"
  | "CharacterDevice"
  | "BlockDevice"
  | "ContiguousFile"
  | "NextFileHasLongPath";

interface Entry {
  path: string;
  type?: EntryType;
  body?: string | Buffer;
  linkpath?: string;
  /** A PAX extended header before the entry, overriding its path or link path. */
  pax?: { path?: string; linkpath?: string };
}

/** A tar.gz written block by block, for the entries a well-behaved archiver never writes. */
function tarball(entries: Entry[], options: { afterEnd?: Buffer } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = typeof e.body === "string" ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
    if (e.pax) blocks.push(new Pax({ ...e.pax, mtime: new Date(0) }).encode());
    const block = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? "File",
      mode: 0o644,
      size: body.length,
      linkpath: e.linkpath,
      mtime: new Date(0),
    }).encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024), options.afterEnd ?? Buffer.alloc(0));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

/** A parent folder holding the extraction target `out` and a sentinel folder a hostile entry aims at. */
async function arena(): Promise<{ parent: string; out: string; outside: string }> {
  const parent = await mkdtemp(join(tmpdir(), "sluice-hostile-"));
  await mkdir(join(parent, "outside"));
  return { parent, out: join(parent, "out"), outside: join(parent, "outside") };
}

/** `tar -tv` lines of an archive, by the tar CLI. */
async function listing(data: Buffer): Promise<string[]> {
  const file = join(await mkdtemp(join(tmpdir(), "sluice-listing-")), "a.tar.gz");
  await writeFile(file, data);
  return (await run("tar", ["-tvzf", file])).stdout.split("\n").filter(Boolean);
}

/** Every path under `dir` that is not a regular file or directory. */
async function nonRegular(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const s = await lstat(join(dir, name));
    if (!s.isFile() && !s.isDirectory()) found.push(name);
  }
  return found;
}

async function refused(data: Buffer, out: string, limits = {}): Promise<UnsafeArchiveError> {
  const error = await extractArchive(data, out, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsafeArchiveError);
  return error as UnsafeArchiveError;
}

describe("hostile artifacts: extraction writes regular files and directories inside the target, or fails", () => {
  it("refuses a symlink chain whose links each look inside, before the file written through it", async () => {
    // Arrange: up → ../../.. is lexically the root; esc → d1/d2/d3/up/.. is lexically inside, yet really the parent.
    const { parent, out, outside } = await arena();
    const chain = tarball([
      { path: "d1/d2/d3/", type: "Directory" },
      { path: "d1/d2/d3/up", type: "SymbolicLink", linkpath: "../../.." },
      { path: "esc", type: "SymbolicLink", linkpath: "d1/d2/d3/up/.." },
      { path: "esc/outside/pwned", body: "owned" },
    ]);
    // Act
    const error = await refused(chain, out);
    // Assess
    expect(error.message).toBe(
      "archive entry d1/d2/d3/up: unsupported file type SymbolicLink; only regular files and directories are extracted",
    );
    expect(await readdir(outside)).toEqual([]);
    expect((await readdir(parent)).sort()).toEqual(["out", "outside"]);
    expect(await nonRegular(out)).toEqual([]);
  });

  it("refuses a symlink followed by a file through it, and an absolute one", async () => {
    const { out, outside } = await arena();
    for (const [i, linkpath] of [outside, "../outside"].entries()) {
      const error = await refused(
        tarball([
          { path: "link", type: "SymbolicLink", linkpath },
          { path: "link/pwned", body: "owned" },
        ]),
        `${out}-${i}`,
      );
      expect(error.message).toContain("archive entry link: unsupported file type SymbolicLink");
    }
    expect(await readdir(outside)).toEqual([]);
  });

  it("refuses the links GNU tar itself writes for a tree with a symlink chain", async () => {
    // Arrange: a real tarball from the tar CLI, of a folder whose links compose to its parent.
    const { parent, out, outside } = await arena();
    const src = join(parent, "src");
    await mkdir(join(src, "d1/d2/d3"), { recursive: true });
    await symlink("../../..", join(src, "d1/d2/d3/up"));
    await symlink("d1/d2/d3/up/..", join(src, "esc"));
    await writeFile(join(src, "app.yaml"), "kind: ConfigMap\n");
    await run("tar", ["-czf", join(parent, "cli.tar.gz"), "-C", src, "."]);
    // Act
    const error = await refused(await readFile(join(parent, "cli.tar.gz")), out);
    // Assess
    expect(error.message).toMatch(/^archive entry \.\/(esc|d1\/d2\/d3\/up): unsupported file type SymbolicLink/);
    expect(await readdir(outside)).toEqual([]);
    expect(await nonRegular(out)).toEqual([]);
  });

  it.each<[string, Entry[], string]>([
    [
      "a hard link to a host file",
      [{ path: "passwd", type: "Link", linkpath: "/etc/passwd" }],
      "archive entry passwd: unsupported file type Link",
    ],
    [
      "a hard link to an entry inside",
      [
        { path: "a", body: "x" },
        { path: "b", type: "Link", linkpath: "a" },
      ],
      "archive entry b: unsupported file type Link",
    ],
    [
      "a character device",
      [{ path: "tty", type: "CharacterDevice" }],
      "archive entry tty: unsupported file type CharacterDevice",
    ],
    ["a block device", [{ path: "sda", type: "BlockDevice" }], "archive entry sda: unsupported file type BlockDevice"],
    ["a FIFO", [{ path: "pipe", type: "FIFO" }], "archive entry pipe: unsupported file type FIFO"],
    // Go's archive/tar does not read a contiguous file as a regular file either.
    [
      "a contiguous file",
      [{ path: "c", type: "ContiguousFile", body: "x" }],
      "archive entry c: unsupported file type ContiguousFile",
    ],
  ])("refuses %s, naming the entry", async (_case, entries, message) => {
    const { out } = await arena();
    expect((await refused(tarball(entries), out)).message).toContain(message);
    expect(await nonRegular(out)).toEqual([]);
  });

  it.each<[string, Entry[], string]>([
    ["a parent path", [{ path: "../outside/pwned", body: "x" }], "archive entry ../outside/pwned: '..' is not allowed"],
    ["a parent path deeper in", [{ path: "a/b/../../../outside/pwned", body: "x" }], "'..' is not allowed"],
    ["a parent path with backslashes", [{ path: "a\\..\\..\\outside\\pwned", body: "x" }], "'..' is not allowed"],
    ["an absolute path", [{ path: "/tmp/sluice-pwned", body: "x" }], "archive entry /tmp/sluice-pwned: absolute paths"],
    ["a drive-letter path", [{ path: "C:/pwned", body: "x" }], "absolute paths are not allowed"],
    [
      "a PAX path override with a parent path",
      [{ path: "ok.yaml", body: "x", pax: { path: "../outside/pwned" } }],
      "archive entry ../outside/pwned: '..'",
    ],
    [
      "a PAX path override with an absolute path",
      [{ path: "ok.yaml", body: "x", pax: { path: "/tmp/sluice-pwned" } }],
      "absolute paths are not allowed",
    ],
    [
      "a PAX link path override",
      [{ path: "l", type: "SymbolicLink", linkpath: "a", pax: { linkpath: "/etc" } }],
      "unsupported file type SymbolicLink",
    ],
    [
      "a GNU long name with a parent path",
      [{ path: "././@LongLink", type: "NextFileHasLongPath", body: "../outside/pwned\0" }, { path: "short" }],
      "'..'",
    ],
  ])("refuses %s and writes nothing outside", async (_case, entries, message) => {
    const { parent, out, outside } = await arena();
    expect((await refused(tarball(entries), out)).message).toContain(message);
    expect(await readdir(outside)).toEqual([]);
    expect((await readdir(parent)).sort()).toEqual(["out", "outside"]);
  });

  it.each<[string, Entry[]]>([
    [
      "a file over an earlier directory",
      [
        { path: "deploy/", type: "Directory" },
        { path: "deploy", body: "x" },
      ],
    ],
    [
      "a directory over an earlier file",
      [
        { path: "deploy", body: "x" },
        { path: "deploy/", type: "Directory" },
      ],
    ],
    [
      "a file under an earlier file",
      [
        { path: "deploy", body: "x" },
        { path: "deploy/app.yaml", body: "x" },
      ],
    ],
    [
      "the same file twice",
      [
        { path: "app.yaml", body: "first" },
        { path: "app.yaml", body: "second" },
      ],
    ],
  ])("refuses %s instead of replacing or writing through it", async (_case, entries) => {
    const { out } = await arena();
    expect((await refused(tarball(entries), out)).message).toMatch(/collides with an earlier entry/);
  });

  it("stops a gzip bomb at the byte limit, counting what decompresses rather than what headers claim", async () => {
    // Arrange: 64 MiB of zeros compress to about 64 KiB.
    const { out } = await arena();
    const bomb = tarball([{ path: "zeros", body: Buffer.alloc(64 << 20) }]);
    const started = Date.now();
    // Act
    const error = await refused(bomb, out, { maxBytes: 8 << 20 });
    // Assess
    expect(bomb.length).toBeLessThan(1 << 20);
    expect(error.message).toBe(`archive expands to more than ${8 << 20} bytes`);
    expect((await stat(join(out, "zeros")).catch(() => ({ size: 0 }))).size).toBeLessThanOrEqual(8 << 20);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("counts bytes hidden after the end-of-archive blocks", async () => {
    const { out } = await arena();
    const padded = tarball([{ path: "app.yaml", body: "kind: ConfigMap\n" }], { afterEnd: Buffer.alloc(64 << 20) });
    expect((await refused(padded, out, { maxBytes: 8 << 20 })).message).toBe(
      `archive expands to more than ${8 << 20} bytes`,
    );
  });

  it("reads past the end-of-archive blocks in linear time (node-tar alone buffers that tail quadratically)", async () => {
    // Arrange: 48 MiB of zeros after the end, under the default limit (node-tar's parser alone: 3.6 s for 16 MiB here, growing with the square).
    const { out } = await arena();
    const padded = tarball([{ path: "app.yaml", body: "kind: ConfigMap\n" }], { afterEnd: Buffer.alloc(48 << 20) });
    const started = Date.now();
    // Act
    const result = await extractArchive(padded, out);
    // Assess
    expect(await readFile(join(out, "app.yaml"), "utf8")).toBe("kind: ConfigMap\n");
    expect(result.bytes).toBeGreaterThan(48 << 20);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("stops at the entry limit without writing the entries past it", async () => {
    // Arrange: 20 000 tiny files, far over a limit of 500.
    const { out } = await arena();
    const many = tarball(Array.from({ length: 20_000 }, (_, i) => ({ path: `f${i}`, body: "x" })));
    // Act
    const error = await refused(many, out, { maxFiles: 500 });
    // Assess
    expect(error.message).toBe("archive has more than 500 entries");
    expect((await readdir(out)).length).toBeLessThanOrEqual(500);
  });

  it("still extracts an ordinary artifact: files, folders, long PAX paths", async () => {
    const { out } = await arena();
    const long = `${"deep/".repeat(40)}app.yaml`;
    const entries: Entry[] = [
      { path: "deploy/", type: "Directory" },
      { path: "deploy/app.yaml", body: "a" },
      { path: "x", body: "b", pax: { path: long } },
    ];
    const result = await extractArchive(tarball(entries), out);
    expect(result.files).toBe(3);
    expect(await readFile(join(out, long), "utf8")).toBe("b");
    expect(await readFile(join(out, "deploy/app.yaml"), "utf8")).toBe("a");
  });
});

describe("hostile source trees: archive and private copies hold regular files and directories only", () => {
  it("archives a tree with a symlink chain, a link to a host file and a FIFO as its regular files only", async () => {
    // Arrange
    const { parent, out } = await arena();
    const src = join(parent, "src");
    await mkdir(join(src, "d1/d2/d3"), { recursive: true });
    await writeFile(join(src, "d1/app.yaml"), "kind: ConfigMap\n");
    await symlink("../../..", join(src, "d1/d2/d3/up"));
    await symlink("d1/d2/d3/up/..", join(src, "esc"));
    await symlink("/etc/passwd", join(src, "passwd"));
    await symlink("d1", join(src, "deploy"));
    await run("mkfifo", [join(src, "pipe")]);
    // Act
    const archive = await archiveDirectory(src);
    const lines = await listing(archive.data);
    await extractArchive(archive.data, out);
    // Assess: d1/, d1/app.yaml, d1/d2/, d1/d2/d3/ and nothing else
    expect(lines.map((line) => `${line[0]} ${line.split(" ").at(-1)}`)).toEqual([
      "d d1/",
      "- d1/app.yaml",
      "d d1/d2/",
      "d d1/d2/d3/",
    ]);
    expect(archive.files).toBe(1);
    expect(await nonRegular(out)).toEqual([]);
  });

  it("ignores a .sourceignore that is a symlink (a link to a host file is not read)", async () => {
    const { parent } = await arena();
    const src = join(parent, "src");
    await mkdir(src);
    await writeFile(join(parent, "host-rules"), "*.yaml\n");
    await writeFile(join(src, "app.yaml"), "kind: ConfigMap\n");
    await symlink(join(parent, "host-rules"), join(src, ".sourceignore"));
    const lines = await listing((await archiveDirectory(src)).data);
    expect(lines.map((line) => line.split(" ").at(-1))).toEqual(["app.yaml"]);
  });

  it("copies the named folders and files as hard links, never a symlink, a special file or what is not named", async () => {
    // Arrange: a tree as a tampered extraction folder could hold it.
    const { parent } = await arena();
    const src = join(parent, "src");
    await mkdir(join(src, "deploy/nested"), { recursive: true });
    await mkdir(join(src, "other/app"), { recursive: true });
    await mkdir(join(src, "base/nested"), { recursive: true });
    await writeFile(join(src, "deploy/app.yaml"), "kind: ConfigMap\n");
    await writeFile(join(src, "deploy/nested/data.txt"), "a=1\n");
    await writeFile(join(src, "other/app/app.yaml"), "kind: ConfigMap\n");
    await writeFile(join(src, "base/nested/patch.yaml"), "kind: ConfigMap\n");
    await writeFile(join(src, "base/unnamed.yaml"), "kind: ConfigMap\n");
    await symlink("..", join(src, "deploy/up"));
    await symlink("/etc", join(src, "etc"));
    await run("mkfifo", [join(src, "pipe")]);
    // Act
    await linkPaths(src, join(parent, "copy"), {
      folders: ["deploy", "deploy/nested"],
      files: ["base/nested/patch.yaml", "deploy/app.yaml"],
    });
    // Assess
    expect((await readdir(join(parent, "copy"), { recursive: true })).sort()).toEqual([
      "base",
      "base/nested",
      "base/nested/patch.yaml",
      "deploy",
      "deploy/app.yaml",
      "deploy/nested",
      "deploy/nested/data.txt",
    ]);
    expect((await stat(join(parent, "copy/deploy/app.yaml"))).ino).toBe((await stat(join(src, "deploy/app.yaml"))).ino);
  });
});
