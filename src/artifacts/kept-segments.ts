import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { GzipSegments } from "./archive.js";
import { keptInMemory, keptKey } from "./kept-memory.js";
import { replaceFile } from "./replace-file.js";

// A source's last archive's gzip members (archiveTree's `segments`), kept on disk for its next archive. Each
// member is written with its SHA-256 and checked against it when read back: a damaged member is not reused (it is
// compressed again), so the file can make an archive faster, never wrong. What was saved or checked is held in
// memory too (kept-memory.ts, by folder), so a long-lived process does not read and hash the file again.

const MAGIC = Buffer.from("sluice-gzip-segments 1\n", "latin1");
const FILE = "segments";
/** A record's head: the SHA-256 of the member's tar bytes, of the member itself, and the member's length. */
const HEAD = 32 + 32 + 4;

/** The members kept in `folder` (none when the file is missing or not whole), within `maxBytes`. */
export async function loadKeptSegments(folder: string, maxBytes: number): Promise<GzipSegments> {
  const held = keptInMemory.get(memoryKey(folder)) as GzipSegments | undefined;
  if (held) return held;
  const segments: GzipSegments = new Map();
  const data = await readFile(join(folder, FILE)).catch(() => undefined);
  if (!data || data.length > maxBytes || !data.subarray(0, MAGIC.length).equals(MAGIC)) return segments;
  for (let at = MAGIC.length; at + HEAD <= data.length;) {
    const end = at + HEAD + data.readUInt32BE(at + 64);
    if (end > data.length) break;
    const member = data.subarray(at + HEAD, end);
    if (
      createHash("sha256")
        .update(member)
        .digest()
        .equals(data.subarray(at + 32, at + 64))
    )
      segments.set(data.toString("hex", at, at + 32), member);
    at = end;
  }
  keptInMemory.set(memoryKey(folder), segments, data.length);
  return segments;
}

const memoryKey = (folder: string) => keptKey(folder, "gzip-segments");

/** Replaces the members kept in `folder`. */
export async function saveKeptSegments(folder: string, segments: GzipSegments): Promise<void> {
  const parts: Buffer[] = [MAGIC];
  for (const [key, member] of segments) {
    const head = Buffer.alloc(HEAD);
    head.write(key, 0, "hex");
    createHash("sha256").update(member).digest().copy(head, 32);
    head.writeUInt32BE(member.length, 64);
    parts.push(head, member);
  }
  const data = Buffer.concat(parts);
  keptInMemory.delete(memoryKey(folder)); // held again only once the disk agrees
  await replaceFile(join(folder, FILE), data);
  keptInMemory.set(memoryKey(folder), segments, data.length);
}
