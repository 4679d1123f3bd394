import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { describe, expect, it } from "vitest";
import type { CopyOperation } from "../../src/api/artifactgenerator.js";
import { archiveTree } from "../../src/artifacts/archive.js";
import { readArchive } from "../../src/artifacts/extract.js";
import { MemoryTree } from "../../src/artifacts/memory-tree.js";
import { buildArtifactTree, CopyError, IndexedTree } from "../../src/sources/artifact-generator/build.js";
import { doublestarGlob, goGlob } from "../../src/sources/artifact-generator/glob.js";

// source-watcher v2.2's copy rules (internal/builder/builder.go and its tests' cases) on in-memory trees.

async function source(files: Record<string, string>): Promise<IndexedTree> {
  const tree = new MemoryTree();
  for (const [path, body] of Object.entries(files)) tree.addFile(path, Buffer.from(body), false);
  return IndexedTree.of(tree);
}

/** The built artifact's files and their content. */
async function build(ops: Partial<CopyOperation>[], sources: Record<string, IndexedTree>) {
  const tree = await buildArtifactTree(ops as CopyOperation[], new Map(Object.entries(sources)));
  const out: Record<string, string> = {};
  const walk = async (folder: string) => {
    for (const entry of await tree.list(folder)) {
      const path = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.directory) await walk(path);
      else out[path] = (await tree.read(path))!.toString();
    }
  };
  await walk("");
  return out;
}

/** A tar.gz with the given entries, for archives a well-behaved archiver never writes. */
function tarGz(entries: { path: string; type?: "File" | "SymbolicLink"; linkpath?: string; body?: string }[]) {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const block = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? "File",
      linkpath: e.linkpath,
      size: e.type === "SymbolicLink" ? 0 : body.length,
      mode: 0o644,
      mtime: new Date(0),
    }).encode(block, 0);
    blocks.push(block);
    if (e.type !== "SymbolicLink") blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  return gzipSync(Buffer.concat([...blocks, Buffer.alloc(1024)]));
}

const FLEET = {
  "apps/base/podinfo/release.yaml": "kind: HelmRelease",
  "apps/base/podinfo/kustomization.yaml": "resources: [release.yaml]",
  "apps/staging/kustomization.yaml": "resources: [../base/podinfo]",
  "apps/production/kustomization.yaml": "resources: [../base/podinfo]",
  "infrastructure/configs/gateway.yaml": "kind: Gateway",
  "infrastructure/controllers/cert-manager.yaml": "kind: HelmRelease",
  "README.md": "# fleet",
};

describe("ArtifactGenerator copy operations (source-watcher v2.2's rules)", () => {
  it("copies a folder's contents with dir/**, as the reference fleet splits its monorepo", async () => {
    const monorepo = await source(FLEET);
    const apps = await build(
      [
        { from: "@monorepo/apps/base/**", to: "@artifact/base/" },
        { from: "@monorepo/apps/staging/**", to: "@artifact/staging/" },
      ],
      { monorepo },
    );
    expect(apps).toEqual({
      "base/podinfo/release.yaml": "kind: HelmRelease",
      "base/podinfo/kustomization.yaml": "resources: [release.yaml]",
      "staging/kustomization.yaml": "resources: [../base/podinfo]",
    });
    expect(Object.keys(await build([{ from: "@monorepo/infrastructure/**", to: "@artifact/" }], { monorepo }))).toEqual(
      ["configs/gateway.yaml", "controllers/cert-manager.yaml"],
    );
  });

  it("copies a literal file to a name, into a folder (trailing slash), and a literal folder as a sub-folder", async () => {
    const repo = await source(FLEET);
    expect(await build([{ from: "@repo/README.md", to: "@artifact/docs/index.md" }], { repo })).toEqual({
      "docs/index.md": "# fleet",
    });
    expect(await build([{ from: "@repo/README.md", to: "@artifact/docs/" }], { repo })).toEqual({
      "docs/README.md": "# fleet",
    });
    expect(Object.keys(await build([{ from: "@repo/apps/staging", to: "@artifact/" }], { repo }))).toEqual([
      "staging/kustomization.yaml",
    ]);
  });

  it("matches * within one folder only, and keeps the matched path below the destination", async () => {
    const repo = await source(FLEET);
    expect(Object.keys(await build([{ from: "@repo/apps/*/kustomization.yaml", to: "@artifact/" }], { repo }))).toEqual(
      ["apps/production/kustomization.yaml", "apps/staging/kustomization.yaml"],
    );
  });

  it("overwrites with later operations, or deep-merges YAML with Merge (maps merge, lists are replaced)", async () => {
    const repo = await source({
      "values.yaml": "image: { tag: '1.0', pullPolicy: Always }\nports: [80]\n",
      "staging.yaml": "image: { tag: '2.0' }\nports: [8080]\n---\nextra: true\n",
    });
    const ops = (strategy?: "Merge") => [
      { from: "@repo/values.yaml", to: "@artifact/values.yaml" },
      { from: "@repo/staging.yaml", to: "@artifact/values.yaml", strategy },
    ];
    expect((await build(ops(), { repo }))["values.yaml"]).toContain("tag: '2.0'");
    const merged = (await build(ops("Merge"), { repo }))["values.yaml"];
    expect(merged).toBe('extra: true\nimage:\n  pullPolicy: Always\n  tag: "2.0"\nports:\n  - 8080\n');
  });

  it("merges a hostile __proto__ key as a plain key, never into a prototype", async () => {
    const repo = await source({ "a.yaml": "x: 1\n", "b.yaml": "__proto__: { polluted: true }\n" });
    const merged = await build(
      [
        { from: "@repo/a.yaml", to: "@artifact/v.yaml" },
        { from: "@repo/b.yaml", to: "@artifact/v.yaml", strategy: "Merge" },
      ],
      { repo },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(merged["v.yaml"]).toContain("polluted: true");
  });

  it("extracts tarballs with Extract (globs skip other files), refusing one with a link", async () => {
    const chart = tarGz([{ path: "podinfo/Chart.yaml", body: "name: podinfo" }]);
    const tree = new MemoryTree();
    tree.addFile("charts/podinfo-6.0.0.tgz", chart, false);
    tree.addFile("charts/README.md", Buffer.from("docs"), false);
    tree.addFile("evil.tgz", tarGz([{ path: "link", type: "SymbolicLink", linkpath: "/etc/passwd" }]), false);
    const repo = await IndexedTree.of(tree);
    expect(await build([{ from: "@repo/charts/**", to: "@artifact/", strategy: "Extract" }], { repo })).toEqual({
      "podinfo/Chart.yaml": "name: podinfo",
    });
    await expect(build([{ from: "@repo/evil.tgz", to: "@artifact/", strategy: "Extract" }], { repo })).rejects.toThrow(
      /from '@repo\/evil.tgz'.*link/,
    );
    await expect(
      build([{ from: "@repo/charts/README.md", to: "@artifact/", strategy: "Extract" }], { repo }),
    ).rejects.toThrow("extract strategy requires tarball file (.tar.gz or .tgz), got 'charts/README.md'");
  });

  it("excludes by path from the source root, from the selection's folder, or by name at any depth", async () => {
    const repo = await source(FLEET);
    const kept = (exclude: string[]) => build([{ from: "@repo/apps/**", to: "@artifact/", exclude }], { repo });
    expect(Object.keys(await kept(["production"]))).not.toContain("production/kustomization.yaml");
    expect(Object.keys(await kept(["apps/base/**"]))).toEqual([
      "production/kustomization.yaml",
      "staging/kustomization.yaml",
    ]);
    expect(Object.keys(await kept(["kustomization.yaml"]))).toEqual(["base/podinfo/release.yaml"]);
    await expect(kept(["*"])).rejects.toThrow("all files matching pattern 'apps/**' in source 'repo' were excluded");
  });

  it("refuses what would leave a source or the artifact: '..', absolute paths, an unknown alias, nothing matched", async () => {
    const repo = await source(FLEET);
    const fails = (op: Partial<CopyOperation>) => expect(build([op], { repo })).rejects.toThrow(CopyError);
    await fails({ from: "@repo/../etc/passwd", to: "@artifact/" });
    await fails({ from: "@repo/apps/../../x/**", to: "@artifact/" });
    await fails({ from: "@repo//etc/passwd", to: "@artifact/" });
    await fails({ from: "@repo/apps/**", to: "@artifact/../../escape" });
    await fails({ from: "@repo/apps/**", to: "@artifact//abs" });
    await expect(build([{ from: "@other/apps/**", to: "@artifact/" }], { repo })).rejects.toThrow(
      "source alias 'other' not found",
    );
    await expect(build([{ from: "@repo/nothing/*", to: "@artifact/" }], { repo })).rejects.toThrow(
      "no files match pattern 'nothing/*' in source 'repo'",
    );
    await expect(build([{ from: "@repo/[", to: "@artifact/" }], { repo })).rejects.toThrow(CopyError);
  });

  it("refuses a file where a folder is (and the other way round), naming the path", async () => {
    const repo = await source(FLEET);
    await expect(
      build(
        [
          { from: "@repo/README.md", to: "@artifact/base" },
          { from: "@repo/apps/base/**", to: "@artifact/base/" },
        ],
        { repo },
      ),
    ).rejects.toThrow("'base' is a file in the artifact, not a directory");
  });

  it("archives the same files to the same bytes whatever the order they were copied in", async () => {
    const repo = await source(FLEET);
    const a = await buildArtifactTree(
      [
        { from: "@repo/apps/staging/**", to: "@artifact/staging/" },
        { from: "@repo/apps/base/**", to: "@artifact/base/" },
      ],
      new Map([["repo", repo]]),
    );
    const b = await buildArtifactTree(
      [
        { from: "@repo/apps/base/**", to: "@artifact/base/" },
        { from: "@repo/apps/staging/**", to: "@artifact/staging/" },
      ],
      new Map([["repo", repo]]),
    );
    const [x, y] = await Promise.all([archiveTree(a), archiveTree(b)]);
    expect(x.digest).toBe(y.digest);
    expect(x.files).toBe(3);
  });

  it("archives an output as source-watcher does: Flux's default exclusions, its .sourceignore files kept but not read", async () => {
    const repo = await source({
      "app/.sourceignore": "deploy.yaml\n",
      "app/deploy.yaml": "kind: Deployment",
      "app/photo.png": "binary",
    });
    const tree = await buildArtifactTree([{ from: "@repo/app/**", to: "@artifact/" }], new Map([["repo", repo]]));
    const archive = await archiveTree(tree, { sourceignore: false });
    const listed = await IndexedTree.of((await readArchive(archive.data)).tree);
    expect(listed.under("").filter((p) => p !== "")).toEqual([".sourceignore", "deploy.yaml"]);
  });

  it("reads globs as Go's path.Match (fs.Glob) and doublestar do", () => {
    expect(goGlob("apps/**")("apps/base")).toBe(true);
    expect(goGlob("apps/**")("apps/base/podinfo")).toBe(false);
    expect(goGlob("apps/*.yaml")("apps/.hidden.yaml")).toBe(true);
    expect(goGlob("[a-c]pps/x")("bpps/x")).toBe(true);
    expect(goGlob("[^a]pps/x")("apps/x")).toBe(false);
    expect(doublestarGlob("**/*.tgz")("a/b/c.tgz")).toBe(true);
    expect(doublestarGlob("**/*.tgz")("c.tgz")).toBe(true);
    expect(doublestarGlob("a/**")("a/b/c")).toBe(true);
    expect(doublestarGlob("a/**/z")("a/z")).toBe(true);
  });
});
