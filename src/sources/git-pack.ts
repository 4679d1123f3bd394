import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { inflateSync } from "node:zlib";

/** A pack or pack index that does not read as Git writes them, or an object over the bounds. */
export class BadPackError extends Error {
  override name = "BadPackError";
}

export type GitObjectType = "commit" | "tree" | "blob" | "tag";

export interface GitObject {
  type: GitObjectType;
  data: Buffer;
}

const TYPES: Record<number, GitObjectType> = { 1: "commit", 2: "tree", 3: "blob", 4: "tag" };
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** Git's own default is 50 (pack.depth); far more is only a pack built to make the reader loop. */
const MAX_DELTA_CHAIN = 4096;
const IDX_MAGIC = 0xff744f63;

interface Pack {
  data: Buffer;
  /** Where each object starts, by oid (from the pack's index). */
  offsets: Map<string, number>;
  /** Where the object starting at an offset ends: the next object's start, or the trailing checksum. */
  ends: Map<number, number>;
}

/**
 * The objects of the packs in a repository's `objects/pack`, read with node:zlib's native inflate: a checkout's
 * tree walk reads every blob once, and isomorphic-git's per-object read (a stat of the git folder, a JavaScript
 * inflate, an async SHA-1 per object) was most of a large checkout's time. Objects are found through the index
 * isomorphic-git wrote while it verified the fetched pack (each object hashed), so they are not hashed again here.
 * Every length is checked against what is really there, and no object may exceed `maxObjectBytes`.
 */
export class PackObjects {
  /** Delta bases by offset, resolved once however many deltas use them (an object read alone is not kept). */
  private readonly resolved = new Map<number, GitObject>();

  private constructor(
    private readonly packs: Pack[],
    private readonly maxObjectBytes: number,
  ) {}

  /** The packs of the repository whose git folder is `gitdir`. */
  static async open(gitdir: string, maxObjectBytes: number): Promise<PackObjects> {
    const folder = join(gitdir, "objects", "pack");
    const names = await readdir(folder).catch(() => [] as string[]);
    const packs = await Promise.all(
      names
        .filter((name) => name.endsWith(".idx"))
        .map(async (idx) => {
          const [index, data] = await Promise.all([
            readFile(join(folder, idx)),
            readFile(join(folder, `${idx.slice(0, -4)}.pack`)),
          ]);
          return readIndex(index, data);
        }),
    );
    return new PackObjects(packs, maxObjectBytes);
  }

  /** The object, or undefined when no pack holds it (a loose object). */
  read(oid: string): GitObject | undefined {
    for (const pack of this.packs) {
      const offset = pack.offsets.get(oid);
      if (offset !== undefined) return this.at(pack, offset);
    }
    return undefined;
  }

  /** The object at `offset`, its delta chain followed (iteratively: a chain is data, not recursion). */
  private at(pack: Pack, offset: number): GitObject {
    const chain: { pack: Pack; offset: number; delta: Buffer }[] = [];
    let [current, at] = [pack, offset];
    let base = this.resolved.get(at);
    while (!base) {
      const entry = readEntry(current, at, this.maxObjectBytes);
      if (entry.kind === "object") {
        base = entry.object;
        if (chain.length > 0) this.resolved.set(at, base);
        break;
      }
      if (chain.length >= MAX_DELTA_CHAIN) throw new BadPackError(`delta chain longer than ${MAX_DELTA_CHAIN}`);
      chain.push({ pack: current, offset: at, delta: entry.delta });
      if (entry.kind === "offset-delta") at = entry.base;
      else {
        const found = this.packs.find((p) => p.offsets.has(entry.base));
        if (!found) throw new BadPackError(`delta base ${entry.base} is not in the pack`);
        [current, at] = [found, found.offsets.get(entry.base)!];
      }
      base = this.resolved.get(at);
    }
    for (const [i, link] of chain.reverse().entries()) {
      base = { type: base.type, data: applyDelta(base.data, link.delta, this.maxObjectBytes) };
      if (i < chain.length - 1) this.resolved.set(link.offset, base);
    }
    return base;
  }
}

type Entry =
  | { kind: "object"; object: GitObject }
  | { kind: "offset-delta"; base: number; delta: Buffer }
  | { kind: "ref-delta"; base: string; delta: Buffer };

/** An entry's header: its type (none for a delta), inflated size, delta base, and where its deflated body starts. */
export interface EntryHeader {
  type?: GitObjectType;
  size: number;
  /** An offset-delta's base offset, or a ref-delta's base oid. */
  base?: number | string;
  bodyAt: number;
}

/** Reads the entry header at `offset` (before `end`); a size over `maxObjectBytes` is refused before any inflate. */
export function readEntryHeader(data: Buffer, offset: number, end: number, maxObjectBytes: number): EntryHeader {
  let at = offset;
  let byte = data[at++]!;
  const type = (byte >> 4) & 7;
  let size = byte & 15;
  for (let scale = 16; byte & 0x80; scale *= 128) {
    if (at >= end || scale > 2 ** 48) throw new BadPackError(`object at offset ${offset}: bad size`);
    byte = data[at++]!;
    size += (byte & 0x7f) * scale;
  }
  if (size > maxObjectBytes)
    throw new BadPackError(`object at offset ${offset} is larger than ${maxObjectBytes} bytes`);
  let base: number | string | undefined;
  if (type === OFS_DELTA) {
    byte = data[at++]!;
    let distance = byte & 0x7f;
    while (byte & 0x80) {
      if (at >= end || distance > 2 ** 45) throw new BadPackError(`object at offset ${offset}: bad delta base`);
      byte = data[at++]!;
      distance = (distance + 1) * 128 + (byte & 0x7f);
    }
    base = offset - distance;
    if (distance === 0 || base < 12) throw new BadPackError(`object at offset ${offset}: bad delta base`);
  } else if (type === REF_DELTA) {
    base = data.toString("hex", at, at + 20);
    at += 20;
  } else if (!TYPES[type]) throw new BadPackError(`object at offset ${offset}: unknown type ${type}`);
  if (at > end) throw new BadPackError(`object at offset ${offset}: truncated`);
  return { type: TYPES[type], size, base, bodyAt: at };
}

/** Reads the entry at `offset` and inflates its body, which must be exactly the size the header gives. */
function readEntry(pack: Pack, offset: number, maxObjectBytes: number): Entry {
  const end = pack.ends.get(offset);
  if (end === undefined) throw new BadPackError(`no object starts at offset ${offset}`);
  const { type, size, base, bodyAt } = readEntryHeader(pack.data, offset, end, maxObjectBytes);
  let body: Buffer;
  try {
    body = inflateSync(pack.data.subarray(bodyAt, end), { maxOutputLength: Math.max(size, 1) });
  } catch (error) {
    throw new BadPackError(`object at offset ${offset}: ${(error as Error).message}`);
  }
  if (body.length !== size) throw new BadPackError(`object at offset ${offset}: ${body.length} bytes, not ${size}`);
  if (typeof base === "number") return { kind: "offset-delta", base, delta: body };
  if (typeof base === "string") return { kind: "ref-delta", base, delta: body };
  return { kind: "object", object: { type: type!, data: body } };
}

/** Reads a version 2 pack index (the only version isomorphic-git and Git write) for `data`. */
function readIndex(index: Buffer, data: Buffer): Pack {
  if (index.length < 8 + 1024 || index.readUInt32BE(0) !== IDX_MAGIC || index.readUInt32BE(4) !== 2)
    throw new BadPackError("pack index is not version 2");
  if (data.length < 32 || data.toString("latin1", 0, 4) !== "PACK") throw new BadPackError("not a pack");
  const count = index.readUInt32BE(8 + 255 * 4);
  const names = 8 + 1024;
  const small = names + count * 24; // after the names and the CRCs
  const large = small + count * 4;
  if (index.length < large + 40) throw new BadPackError("pack index is truncated");
  const trailer = data.length - 20;
  const offsets = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const word = index.readUInt32BE(small + i * 4);
    let offset = word;
    if (word & 0x80000000) {
      const at = large + (word & 0x7fffffff) * 8;
      if (at + 8 > index.length - 40) throw new BadPackError("pack index is truncated");
      offset = Number(index.readBigUInt64BE(at));
    }
    if (offset < 12 || offset >= trailer) throw new BadPackError(`pack index points outside the pack (${offset})`);
    offsets.set(index.toString("hex", names + i * 20, names + i * 20 + 20), offset);
  }
  const sorted = [...new Set(offsets.values())].sort((a, b) => a - b);
  const ends = new Map(sorted.map((offset, i) => [offset, sorted[i + 1] ?? trailer]));
  return { data, offsets, ends };
}

/** Git's delta format: the result's size, then copies from the base and literal inserts, each checked. */
export function applyDelta(base: Buffer, delta: Buffer, maxObjectBytes: number): Buffer {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      if (at >= delta.length || scale > 2 ** 49) throw new BadPackError("bad delta header");
      const byte = delta[at++]!;
      value += (byte & 0x7f) * scale;
      if (!(byte & 0x80)) return value;
    }
  };
  if (varint() !== base.length) throw new BadPackError("delta does not apply to its base (size)");
  const size = varint();
  if (size > maxObjectBytes) throw new BadPackError(`delta result is larger than ${maxObjectBytes} bytes`);
  const out = Buffer.allocUnsafe(size);
  let written = 0;
  while (at < delta.length) {
    const op = delta[at++]!;
    if (op & 0x80) {
      let offset = 0;
      let length = 0;
      for (let bit = 0; bit < 4; bit++) if (op & (1 << bit)) offset += delta[at++]! * 2 ** (8 * bit);
      for (let bit = 0; bit < 3; bit++) if (op & (16 << bit)) length += delta[at++]! * 2 ** (8 * bit);
      if (length === 0) length = 0x10000;
      if (at > delta.length || offset + length > base.length || written + length > size)
        throw new BadPackError("delta copies outside its base or result");
      written += base.copy(out, written, offset, offset + length);
    } else if (op > 0) {
      if (at + op > delta.length || written + op > size) throw new BadPackError("delta inserts past its end");
      written += delta.copy(out, written, at, at + op);
      at += op;
    } else throw new BadPackError("delta has a reserved instruction");
  }
  if (written !== size) throw new BadPackError("delta result is shorter than it says");
  return out;
}
