import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { archiveTree } from "../../src/artifacts/archive.js";
import { readArchive } from "../../src/artifacts/extract.js";
import { forgetKeptInMemory } from "../../src/artifacts/kept-memory.js";
import { loadKeptSegments, saveKeptSegments } from "../../src/artifacts/kept-segments.js";
import { MemoryTree } from "../../src/artifacts/memory-tree.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** 600 files in 12 folders; `changed` names the one file whose content differs from round to round. */
function tree(round: number, changed = "apps/team-5/app-305.yaml", identified = false): MemoryTree {
  const t = new MemoryTree();
  // As treeFromObjects names files: by the Git blob id of their content.
  const add = (path: string, body: Buffer, executable: boolean) =>
    t.addFile(path, body, executable, identified ? blobId(body) : undefined);
  for (let i = 0; i < 600; i++) {
    const path = `apps/team-${i % 12}/app-${i}.yaml`;
    add(path, Buffer.from(`kind: ConfigMap\nname: app-${i}\n${path === changed ? `round: ${round}\n` : ""}`), false);
  }
  add("run.sh", Buffer.from("#!/bin/sh\n"), true);
  return t;
}

const blobId = (body: Buffer) => createHash("sha1").update(`blob ${body.length}\0`).update(body).digest("hex");

async function filesOf(data: Buffer): Promise<Record<string, string>> {
  const { tree: read } = await readArchive(data);
  const files: Record<string, string> = {};
  const walk = async (folder: string) => {
    for (const entry of await read.list(folder)) {
      const path = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.directory) await walk(path);
      else files[path] = `${entry.executable ? "x " : ""}${(await read.read(path))!.toString()}`;
    }
  };
  await walk("");
  return files;
}

describe("segmented archive (gzip members reused by the next archive of a source)", () => {
  it("holds the same tar as the one-member archive, read by Sluice's extraction and by GNU tar", async () => {
    const whole = await archiveTree(tree(1));
    const segmented = await archiveTree(tree(1), { segments: new Map() });
    expect(segmented.segments!.size).toBeGreaterThanOrEqual(3);
    expect(gunzipSync(segmented.data)).toEqual(gunzipSync(whole.data));
    expect(await filesOf(segmented.data)).toEqual(await filesOf(whole.data));
    const dir = await mkdtemp(join(tmpdir(), "sluice-segments-"));
    await writeFile(join(dir, "a.tar.gz"), segmented.data);
    const { stdout } = await run("tar", ["-tzf", join(dir, "a.tar.gz")]);
    expect(stdout.split("\n").filter((line) => line.endsWith(".yaml"))).toHaveLength(600);
    // Not much larger for being cut, though each member starts without its predecessor's window (real trees: +4-7 %).
    expect(segmented.data.length).toBeLessThan(whole.data.length * 1.2);
  });

  it("compresses only the changed file's member again, into the bytes a fresh archive has", async () => {
    const first = await archiveTree(tree(1), { segments: new Map() });
    const next = await archiveTree(tree(2), { segments: first.segments });
    const fresh = await archiveTree(tree(2), { segments: new Map() });
    expect(next.digest).toBe(fresh.digest);
    expect(next.data).toEqual(fresh.data);
    const renewed = [...next.segments!.keys()].filter((key) => !first.segments!.has(key));
    expect(renewed).toHaveLength(1);
    expect((await filesOf(next.data))["apps/team-5/app-305.yaml"]).toContain("round: 2");
  });

  it("keys members by blob ids when every file has one: same bytes, the changed member only, never the other kind's", async () => {
    const first = await archiveTree(tree(1, undefined, true), { segments: new Map() });
    const next = await archiveTree(tree(2, undefined, true), { segments: first.segments });
    const fresh = await archiveTree(tree(2), { segments: new Map() });
    expect(next.data).toEqual(fresh.data);
    expect([...next.segments!.keys()].filter((key) => !first.segments!.has(key))).toHaveLength(1);
    // A file's mode is in its header, so in the key: made executable, its member is compressed again.
    const modeChanged = tree(2, undefined, true);
    const other = new MemoryTree();
    for (const [path, executable] of [["apps/team-5/app-305.yaml", true] as const]) {
      const body = (await modeChanged.read(path))!;
      other.addFile(path, body, executable, blobId(body));
    }
    const single = await archiveTree(other, { segments: next.segments });
    expect(await filesOf(single.data)).toEqual({
      "apps/team-5/app-305.yaml": "x kind: ConfigMap\nname: app-305\nround: 2\n",
    });
    // Keys by identities and keys by tar bytes never meet: each archive is its own fresh one, every member anew.
    const byBytes = await archiveTree(tree(2), { segments: next.segments });
    expect(byBytes.data).toEqual(fresh.data);
    expect([...byBytes.segments!.keys()].some((key) => next.segments!.has(key))).toBe(false);
    const byIds = await archiveTree(tree(2, undefined, true), { segments: byBytes.segments });
    expect([...byIds.segments!.keys()].some((key) => byBytes.segments!.has(key))).toBe(false);
    expect(byIds.data).toEqual(fresh.data);
  });

  it("reuses no member a kept file damaged or forged: the archive is the fresh one", async () => {
    const folder = await mkdtemp(join(tmpdir(), "sluice-segments-kept-"));
    const first = await archiveTree(tree(1), { segments: new Map() });
    await saveKeptSegments(folder, first.segments!);
    expect(await loadKeptSegments(folder, 64 * MiB)).toEqual(first.segments);
    // Held in memory once saved: the file is not read again while this process runs.
    const saved = await readFile(join(folder, "segments"));
    await rm(join(folder, "segments"));
    expect(await loadKeptSegments(folder, 64 * MiB)).toEqual(first.segments);
    await writeFile(join(folder, "segments"), saved);
    forgetKeptInMemory(folder); // as after a restart: from here on the file is all there is
    expect(await loadKeptSegments(folder, 64 * MiB)).toEqual(first.segments);
    forgetKeptInMemory(folder);

    // A byte of every member flipped: none matches its recorded hash any more.
    const damaged = Buffer.from(await readFile(join(folder, "segments")));
    for (const member of first.segments!.values()) {
      const at = damaged.indexOf(member) + 12;
      damaged[at] = damaged[at]! ^ 0xff;
    }
    await writeFile(join(folder, "segments"), damaged);
    forgetKeptInMemory(folder);
    expect((await loadKeptSegments(folder, 64 * MiB)).size).toBe(0);

    // Members recorded under one another's keys (each consistent with its recorded hash): none is reused, as
    // none holds the tar bytes its key names (its gzip trailer's CRC-32 and size say what it holds).
    const keys = [...first.segments!.keys()];
    const members = [...first.segments!.values()];
    await saveKeptSegments(folder, new Map(keys.map((key, i) => [key, members[(i + 1) % members.length]!])));
    expect((await loadKeptSegments(folder, 64 * MiB)).size).toBe(keys.length);
    forgetKeptInMemory(folder);
    const next = await archiveTree(tree(2), { segments: await loadKeptSegments(folder, 64 * MiB) });
    expect(next.data).toEqual((await archiveTree(tree(2), { segments: new Map() })).data);

    await writeFile(join(folder, "segments"), damaged.subarray(0, 100));
    forgetKeptInMemory(folder);
    expect((await loadKeptSegments(folder, 64 * MiB)).size).toBe(0);
    forgetKeptInMemory(folder);
    expect((await loadKeptSegments(folder, 10)).size).toBe(0);
  });
});
