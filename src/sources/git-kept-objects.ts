import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { keptInMemory, keptKey } from "../artifacts/kept-memory.js";
import { replaceFile } from "../artifacts/replace-file.js";
import type { GitObject, GitObjectType } from "./git-pack.js";

// The objects of a GitRepository's last fetched commit, kept on disk so that its next depth-1 fetch can say
// `have <commit>` as `git fetch --depth 1` does and receive only what changed. The file is read as untrusted:
// every object is hashed again on load (its oid is never read from disk), the remote's URL must match, and
// anything that does not read back whole means no kept objects at all (a full fetch). Each GitRepository has
// its own folder (the caller's choice), so one repository's objects never serve as another's delta bases. What
// Sluice saved or loaded (so hashed) is held in memory too (kept-memory.ts, by folder and URL): in a long-lived
// process the next fetch does not read and hash the file again.

const MAGIC = "sluice-kept-objects 1\n";
const FILE = "objects";
const TYPE_CODES: Record<GitObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const TYPES: (GitObjectType | undefined)[] = [undefined, "commit", "tree", "blob", "tag"];
const OID = /^[0-9a-f]{40}$/;

/** A commit and every object its tree reaches, each named by its own hash. */
export interface KeptObjects {
  commit: string;
  objects: Map<string, GitObject>;
}

/** The remote's URL as the file records it: hashed, since a URL may carry credentials. */
const urlDigest = (url: string) => createHash("sha256").update(url).digest("hex");

/**
 * The objects kept in `folder` for `url`, or undefined when there are none, they were fetched from another
 * URL, or the file does not read back whole within `maxBytes`.
 */
export async function loadKeptObjects(folder: string, url: string, maxBytes: number): Promise<KeptObjects | undefined> {
  const held = keptInMemory.get(memoryKey(folder)) as { url: string; kept: KeptObjects } | undefined;
  if (held) return held.url === urlDigest(url) ? held.kept : undefined;
  const data = await readFile(join(folder, FILE)).catch(() => undefined);
  if (!data || data.length > maxBytes + 1024 * 1024) return undefined;
  const lines = data.toString("latin1", 0, Math.min(data.length, 256)).split("\n");
  const [magic, digest, commit] = [`${lines[0]}\n`, lines[1], lines[2]];
  if (magic !== MAGIC || digest !== urlDigest(url) || !commit || !OID.test(commit)) return undefined;
  const objects = new Map<string, GitObject>();
  let at = MAGIC.length + digest.length + commit.length + 2;
  while (at < data.length) {
    const type = TYPES[data[at]!];
    if (!type || at + 5 > data.length) return undefined;
    const length = data.readUInt32BE(at + 1);
    const end = at + 5 + length;
    if (end > data.length) return undefined;
    const body = data.subarray(at + 5, end);
    const oid = createHash("sha1").update(`${type} ${length}\0`).update(body).digest("hex");
    // A copy: held in memory, a view would keep the whole file alive after most objects were replaced.
    objects.set(oid, { type, data: Buffer.from(body) });
    at = end;
  }
  if (objects.get(commit)?.type !== "commit") return undefined;
  hold(folder, url, { commit, objects }, data.length);
  return { commit, objects };
}

const memoryKey = (folder: string) => keptKey(folder, "git-objects");

function hold(folder: string, url: string, kept: KeptObjects, bytes: number): void {
  keptInMemory.set(memoryKey(folder), { url: urlDigest(url), kept }, bytes);
}

/** Replaces what `folder` keeps with `kept`. */
export async function saveKeptObjects(folder: string, url: string, kept: KeptObjects): Promise<void> {
  const preamble = Buffer.from(`${MAGIC}${urlDigest(url)}\n${kept.commit}\n`, "latin1");
  // Written into one buffer sized up front: a head buffer per object and a concat cost twice as long.
  let size = preamble.length;
  for (const object of kept.objects.values()) size += 5 + object.data.length;
  const data = Buffer.allocUnsafe(size);
  let at = preamble.copy(data);
  for (const object of kept.objects.values()) {
    data[at] = TYPE_CODES[object.type];
    data.writeUInt32BE(object.data.length, at + 1);
    at += 5 + object.data.copy(data, at + 5);
  }
  keptInMemory.delete(memoryKey(folder)); // held again only once the disk agrees
  await replaceFile(join(folder, FILE), data);
  hold(folder, url, kept, data.length);
}

/** Forgets what `folder` keeps (it did not serve: a fetch without it follows). */
export async function dropKeptObjects(folder: string): Promise<void> {
  keptInMemory.delete(memoryKey(folder));
  await rm(join(folder, FILE), { force: true });
}
