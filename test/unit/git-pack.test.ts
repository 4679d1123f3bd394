import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { indexPack } from "../../src/sources/git-fetch.js";
import { BadPackError, PackObjects } from "../../src/sources/git-pack.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** A pack entry header: type and size, seven bits a byte after the first four. */
function header(type: number, size: number): Buffer {
  const bytes = [(type << 4) | (size & 15)];
  for (size = Math.floor(size / 16); size > 0; size = Math.floor(size / 128)) {
    bytes[bytes.length - 1]! |= 0x80;
    bytes.push(size & 0x7f);
  }
  return Buffer.from(bytes);
}

interface Crafted {
  oid: string;
  /** The entry's bytes after its header (a REF_DELTA's base oid included), deflated where a body is given. */
  entry: Buffer;
}

/** Writes a pack of `entries` and its version 2 index (as Git lays it out) into a fresh git folder. */
async function craftedPack(entries: Crafted[], count = entries.length): Promise<string> {
  const gitdir = await mkdtemp(join(tmpdir(), "sluice-pack-"));
  const folder = join(gitdir, "objects", "pack");
  await mkdir(folder, { recursive: true });
  const head = Buffer.alloc(12);
  head.write("PACK", 0, "latin1");
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  const parts: Buffer[] = [head];
  const offsets = new Map<string, number>();
  let offset = 12;
  for (const { oid, entry } of entries) {
    offsets.set(oid, offset);
    parts.push(entry);
    offset += entry.length;
  }
  parts.push(Buffer.alloc(20));
  const sorted = [...offsets.keys()].sort();
  const fanout = Buffer.alloc(1024);
  for (let byte = 0; byte < 256; byte++)
    fanout.writeUInt32BE(
      byte === 255 ? count : sorted.filter((o) => parseInt(o.slice(0, 2), 16) <= byte).length,
      byte * 4,
    );
  const index = Buffer.concat([
    Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
    fanout,
    ...sorted.map((oid) => Buffer.from(oid, "hex")),
    Buffer.alloc(sorted.length * 4),
    ...sorted.map((oid) => {
      const word = Buffer.alloc(4);
      word.writeUInt32BE(offsets.get(oid)!);
      return word;
    }),
    Buffer.alloc(40),
  ]);
  await writeFile(join(folder, "pack-x.pack"), Buffer.concat(parts));
  await writeFile(join(folder, "pack-x.idx"), index);
  return gitdir;
}

const blob = (oid: string, body: Buffer): Crafted => ({
  oid,
  entry: Buffer.concat([header(3, body.length), deflateSync(body)]),
});
const refDelta = (oid: string, base: string, delta: Buffer): Crafted => ({
  oid,
  entry: Buffer.concat([header(7, delta.length), Buffer.from(base, "hex"), deflateSync(delta)]),
});
const oid = (n: number) => n.toString(16).padStart(40, "0");

describe("PackObjects: a fetched pack read with native inflate, every length checked", () => {
  it("reads what git itself packed, deltas included, byte for byte as git cat-file", async () => {
    // Arrange: similar files in several commits, so that git stores most of them as deltas.
    const repo = await mkdtemp(join(tmpdir(), "sluice-pack-real-"));
    const git = (...args: string[]) =>
      run("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@sluice.invalid", ...args], {
        maxBuffer: 64 * MiB,
      });
    await git("init", "--quiet");
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}: ${"x".repeat(i % 50)}`);
    for (let round = 0; round < 5; round++) {
      lines[round * 300] = `changed in round ${round}`;
      await writeFile(join(repo, "big.txt"), lines.join("\n"));
      await writeFile(join(repo, `small-${round}.txt`), `round ${round}\n`);
      await git("add", "--all");
      await git("commit", "--quiet", "-m", `round ${round}`);
    }
    await git("repack", "-adf", "--quiet");
    const all = (await git("cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")).stdout
      .trim()
      .split("\n")
      .map((line) => line.split(" ") as [string, string]);
    const idx = (await readdir(join(repo, ".git/objects/pack"))).find((f) => f.endsWith(".idx"))!;
    const verified = (await git("verify-pack", "-v", join(repo, ".git/objects/pack", idx))).stdout.split("\n");
    const deltas = verified.filter((line) => /^[0-9a-f]{40} (blob|tree) +\d+ \d+ \d+ \d+ [0-9a-f]{40}$/.test(line));
    const catFile = async (type: string, name: string) =>
      (await run("git", ["-C", repo, "cat-file", type, name], { encoding: "buffer", maxBuffer: 64 * MiB })).stdout;
    // Act
    const pack = await PackObjects.open(join(repo, ".git"), MiB);
    // Assess
    expect(deltas.length).toBeGreaterThan(0);
    for (const [name, type] of all) {
      const object = pack.read(name);
      expect(object?.type).toBe(type);
      expect(object!.data.equals(await catFile(type, name))).toBe(true);
    }
    expect(pack.read(oid(1))).toBeUndefined();
  });

  it("refuses an index that claims four billion objects, without reading or allocating for them", async () => {
    const gitdir = await craftedPack([blob(oid(1), Buffer.from("a"))], 0xffffffff);
    await expect(PackObjects.open(gitdir, MiB)).rejects.toThrow(new BadPackError("pack index is truncated"));
  });

  it("refuses an object whose header claims more than the bound, before inflating it", async () => {
    const huge = { oid: oid(1), entry: Buffer.concat([header(3, 2 ** 40), deflateSync(Buffer.from("small"))]) };
    const pack = await PackObjects.open(await craftedPack([huge]), MiB);
    expect(() => pack.read(oid(1))).toThrow(/larger than 1048576 bytes/);
  });

  it("refuses an object whose body inflates to more than its header says (a zlib bomb)", async () => {
    const bomb = { oid: oid(1), entry: Buffer.concat([header(3, 10), deflateSync(Buffer.alloc(8 * MiB))]) };
    const pack = await PackObjects.open(await craftedPack([bomb]), 64 * MiB);
    expect(() => pack.read(oid(1))).toThrow(BadPackError);
  });

  it("refuses a delta that copies outside its base", async () => {
    // base size 1, result size 4, then copy offset 0 length 4 (op 0x80 | offset byte | length byte)
    const delta = Buffer.from([1, 4, 0x80 | 0x01 | 0x10, 0, 4]);
    const pack = await PackObjects.open(
      await craftedPack([blob(oid(1), Buffer.from("a")), refDelta(oid(2), oid(1), delta)]),
      MiB,
    );
    expect(() => pack.read(oid(2))).toThrow(/outside its base/);
    expect(pack.read(oid(1))?.data.toString()).toBe("a");
  });

  it("stops a cycle of deltas, each the other's base", async () => {
    const delta = Buffer.from([1, 1, 1, 0x61]);
    const pack = await PackObjects.open(
      await craftedPack([refDelta(oid(1), oid(2), delta), refDelta(oid(2), oid(1), delta)]),
      MiB,
    );
    expect(() => pack.read(oid(1))).toThrow(/delta chain longer than 4096/);
  });

  it("refuses a delta whose base no pack holds", async () => {
    const pack = await PackObjects.open(
      await craftedPack([refDelta(oid(2), oid(9), Buffer.from([1, 1, 1, 0x61]))]),
      MiB,
    );
    expect(() => pack.read(oid(2))).toThrow(/delta base .* is not in the pack/);
  });
});

/** A pack as a server streams it: header (with `count`), entries, SHA-1 trailer. */
function streamedPack(entries: Buffer[], count = entries.length, checksum?: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.write("PACK", 0, "latin1");
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(count, 8);
  const body = Buffer.concat([head, ...entries]);
  return Buffer.concat([body, checksum ?? createHash("sha1").update(body).digest()]);
}

describe("indexPack: a fetched pack indexed in memory, as hostile as its server", () => {
  it("names each object as Git does and resolves a delta against it", () => {
    const base = Buffer.from("hello world");
    const first = Buffer.concat([header(3, base.length), deflateSync(base)]);
    const delta = Buffer.from([11, 5, 0x80 | 0x01 | 0x10, 6, 5]); // from an 11-byte base, 5 bytes: copy 6..11
    // An offset-delta names its base by distance back: here the first entry, right after the 12-byte header.
    const second = Buffer.concat([header(6, delta.length), Buffer.from([first.length]), deflateSync(delta)]);
    const objects = indexPack(streamedPack([first, second]), MiB);
    const name = (data: Buffer) => createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
    expect(objects.get(name(base))?.data.toString()).toBe("hello world");
    expect(objects.get(name(Buffer.from("world")))?.data.toString()).toBe("world");
  });

  it("refuses a pack that claims four billion objects and holds one, without looping over the claim", () => {
    const pack = streamedPack([Buffer.concat([header(3, 1), deflateSync(Buffer.from("a"))])], 0xffffffff);
    expect(() => indexPack(pack, MiB)).toThrow(/pack is truncated: 1 of 4294967295 objects/);
  });

  it("refuses a pack whose checksum does not match what was received", () => {
    const pack = streamedPack([Buffer.concat([header(3, 1), deflateSync(Buffer.from("a"))])], 1, Buffer.alloc(20));
    expect(() => indexPack(pack, MiB)).toThrow(/checksum mismatch/);
  });

  it("bounds the bytes of all objects together, not only each one", () => {
    const blobs = Array.from({ length: 8 }, (_, i) =>
      Buffer.concat([header(3, 200_000), deflateSync(Buffer.alloc(200_000, i))]),
    );
    expect(() => indexPack(streamedPack(blobs), MiB)).toThrow(/larger than/);
  });
});
