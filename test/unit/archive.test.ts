import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { describe, expect, it } from "vitest";
import { archiveDirectory } from "../../src/artifacts/archive.js";
import { UnsafeArchiveError, extractArchive } from "../../src/artifacts/extract.js";

const run = promisify(execFile);

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "sluice-archive-"));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

async function listed(data: Buffer): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-archive-list-"));
  await writeFile(join(dir, "a.tar.gz"), data);
  const { stdout } = await run("tar", ["-tzf", join(dir, "a.tar.gz")]);
  return stdout.split("\n").filter((l) => l && !l.endsWith("/"));
}

/** A hand-made tar.gz with one entry, for the cases a well-behaved archiver never writes. */
function craft(
  entries: { path: string; type?: "File" | "SymbolicLink" | "Link" | "FIFO"; linkpath?: string; body?: string }[],
): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const block = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? "File",
      mode: 0o644,
      size: e.type && e.type !== "File" ? 0 : body.length,
      linkpath: e.linkpath,
      mtime: new Date(0),
    }).encode(block, 0);
    blocks.push(block);
    if (body.length > 0 && (e.type ?? "File") === "File")
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const files = {
  "deploy/app.yaml": "kind: ConfigMap\n",
  "deploy/run.sh": "#!/bin/sh\n",
  ".git/HEAD": "ref: refs/heads/main\n",
  ".gitignore": "x\n",
  ".github/workflows/ci.yaml": "on: push\n",
  "docs/logo.png": "png",
  "secrets/.sops.yaml": "creation_rules: []\n",
  "charts/chart.tar.gz": "tgz",
};

describe("source artifacts: deterministic archive and safe extraction", () => {
  it("produces byte-identical archives for the same tree, whenever it was written", async () => {
    // Arrange
    const first = await tree(files);
    const second = await tree(files);
    await utimes(join(second, "deploy/app.yaml"), new Date(1_000_000), new Date(1_000_000));
    // Act
    const [a, b] = [await archiveDirectory(first), await archiveDirectory(second)];
    // Assess
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.digest).toBe(a.digest);
  });

  it("applies Flux's default exclusions: VCS, images and archives, CI config, .sops.yaml", async () => {
    const archive = await archiveDirectory(await tree(files));
    expect((await listed(archive.data)).sort()).toEqual(["deploy/app.yaml", "deploy/run.sh"]);
    expect(archive.files).toBe(2);
  });

  it("honours nested .sourceignore files within their folder, with negation", async () => {
    const root = await tree({
      "a/keep.yaml": "",
      "a/drop.yaml": "",
      "a/.sourceignore": "*.yaml\n!keep.yaml\n",
      "b/drop.yaml": "",
      ".sourceignore": "/b/\n",
    });
    expect((await listed((await archiveDirectory(root)).data)).sort()).toEqual([
      ".sourceignore",
      "a/.sourceignore",
      "a/keep.yaml",
    ]);
  });

  it("lets spec.ignore replace the default exclusions (while .git stays out)", async () => {
    const archive = await archiveDirectory(await tree(files), { ignore: "/deploy/\n" });
    expect((await listed(archive.data)).sort()).toEqual([
      ".github/workflows/ci.yaml",
      "charts/chart.tar.gz",
      "docs/logo.png",
      "secrets/.sops.yaml",
    ]);
  });

  it("round-trips through extraction with contents and the executable bit, leaving symlinks out as Flux does", async () => {
    // Arrange
    const root = await tree({ "deploy/app.yaml": "kind: ConfigMap\n", "deploy/run.sh": "#!/bin/sh\n" });
    await run("chmod", ["+x", join(root, "deploy/run.sh")]);
    await symlink("app.yaml", join(root, "deploy/link.yaml"));
    await symlink("/etc/passwd", join(root, "deploy/outside"));
    const dest = join(await mkdtemp(join(tmpdir(), "sluice-extract-")), "out");
    // Act
    const archive = await archiveDirectory(root);
    const result = await extractArchive(archive.data, dest);
    // Assess
    expect(archive.files).toBe(2);
    expect(result.files).toBe(3); // deploy/, app.yaml, run.sh
    expect(await readFile(join(dest, "deploy/app.yaml"), "utf8")).toBe("kind: ConfigMap\n");
    expect((await readdir(join(dest, "deploy"))).sort()).toEqual(["app.yaml", "run.sh"]);
    const { stdout } = await run("stat", ["-c", "%a", join(dest, "deploy/run.sh")]);
    expect(stdout.trim()).toBe("755");
  });

  it.each([
    ["an absolute path", [{ path: "/tmp/evil", body: "x" }], "absolute paths are not allowed"],
    ["a .. path", [{ path: "a/../../evil", body: "x" }], "'..' is not allowed"],
    [
      "a symlink going up",
      [{ path: "link", type: "SymbolicLink" as const, linkpath: "../../etc" }],
      "archive entry link: unsupported file type Symbolic",
    ],
    [
      "a symlink inside the root",
      [{ path: "link", type: "SymbolicLink" as const, linkpath: "." }],
      "archive entry link: unsupported file type Symbolic",
    ],
    [
      "an absolute symlink",
      [{ path: "link", type: "SymbolicLink" as const, linkpath: "/etc/passwd" }],
      "archive entry link: unsupported file type Symbolic",
    ],
    [
      "a hard link",
      [{ path: "link", type: "Link" as const, linkpath: "/etc/passwd" }],
      "archive entry link: unsupported file type Link",
    ],
    ["a FIFO", [{ path: "pipe", type: "FIFO" as const }], "archive entry pipe: unsupported file type FIFO"],
  ])("refuses %s, naming the entry, and writes nothing outside", async (_case, entries, message) => {
    const parent = await mkdtemp(join(tmpdir(), "sluice-extract-"));
    const failure = extractArchive(craft(entries), join(parent, "out"));
    await expect(failure).rejects.toBeInstanceOf(UnsafeArchiveError);
    await expect(failure).rejects.toThrow(message);
    expect(await readdir(parent)).toEqual(["out"]);
  });

  it("stops at the size and file-count limits, counting the data itself", async () => {
    const big = craft([{ path: "big", body: "x".repeat(10_000) }]);
    const many = craft(Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, body: "x" })));
    const dir = await mkdtemp(join(tmpdir(), "sluice-extract-"));
    await expect(extractArchive(big, join(dir, "a"), { maxBytes: 5_000 })).rejects.toThrow(
      "archive expands to more than 5000 bytes",
    );
    await expect(extractArchive(many, join(dir, "b"), { maxFiles: 10 })).rejects.toThrow(
      "archive has more than 10 entries",
    );
  });
});
