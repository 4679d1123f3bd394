import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { afterAll, describe, expect, inject, it } from "vitest";
import { archiveTree } from "../../src/artifacts/archive.js";
import { forgetKeptInMemory } from "../../src/artifacts/kept-memory.js";
import { keptObjectsFolder } from "../../src/controllers/source/gitrepository.js";
import { indexPack } from "../../src/sources/git-fetch.js";
import { checkoutInMemory, type GitRemote } from "../../src/sources/git.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { gitFailure } from "./git-failure.js";

// A GitRepository's next depth-1 fetch on top of the objects kept from its previous one (`shallow`/`have` of the
// kept commit, a thin pack), against the test bed's git http-backend, and against a hostile server.

const info = inject("testbed").git;
const auth = { username: info.username, password: info.password };
const remote = (url: string): GitRemote => ({ url, auth, network: { allowPrivateNetworks: true } });
const scratch = () => mkdtemp(join(tmpdir(), "sluice-git-incremental-"));
const closers: (() => void)[] = [];
afterAll(() => closers.forEach((close) => close()));

/** 300 files in 10 folders, one of them large enough that Git sends its next version as a delta. */
function files(round: number): Record<string, string> {
  const tree: Record<string, string> = {};
  for (let i = 0; i < 300; i++) tree[`apps/team-${i % 10}/app-${i}.yaml`] = `kind: ConfigMap\nname: app-${i}\n`;
  const lines = Array.from(
    { length: 2000 },
    (_, i) => `line ${i}: ${createHash("sha1").update(String(i)).digest("hex")}`,
  );
  lines[1000] = `line 1000 changed in round ${round}`;
  tree["apps/team-3/big.txt"] = lines.join("\n");
  return tree;
}

/** The pack of an upload-pack answer (side band 1), for counting its objects. */
function packOf(answer: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at + 4 <= answer.length;) {
    const length = Number.parseInt(answer.toString("latin1", at, at + 4), 16);
    if (length > 4 && answer[at + 4] === 1) parts.push(answer.subarray(at + 5, at + length));
    at += Math.max(length, 4);
  }
  return Buffer.concat(parts);
}

/** A front for the Git server that records every upload-pack request and its answer's pack. */
async function recordingProxy(): Promise<{ baseUrl: string; packs: Buffer[]; requests: string[] }> {
  const packs: Buffer[] = [];
  const requests: string[] = [];
  const server = createServer((req, res) => {
    if (req.method === "POST") {
      const body: Buffer[] = [];
      req.on("data", (chunk: Buffer) => body.push(chunk));
      req.on("end", () => requests.push(Buffer.concat(body).toString("latin1")));
    }
    const upstream = request(`${info.baseUrl}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => chunks.push(chunk));
      answer.on("end", () => {
        if (req.method === "POST") packs.push(packOf(Buffer.concat(chunks)));
      });
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => server.close().closeAllConnections());
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, packs, requests };
}

const objectCount = (pack: Buffer) => pack.readUInt32BE(8);

async function artifactOf(url: string, keep?: string) {
  const checkedOut = await checkoutInMemory(remote(url), { branch: "main" }, await scratch(), undefined, keep);
  return { commit: checkedOut.commit, digest: (await archiveTree(checkedOut.tree)).digest };
}

describe(`Git source: a new commit on top of the kept objects (${info.version})`, () => {
  it("fetches only the new objects (a thin pack against the kept ones) and builds the artifact a full fetch builds", async () => {
    await createRepo(info, "incremental");
    await pushTree(info, "incremental", { files: files(1) });
    const proxy = await recordingProxy();
    const url = `${proxy.baseUrl}/incremental.git`;
    const keep = join(await scratch(), "kept");
    const { commit: first } = await artifactOf(url, keep);
    expect(objectCount(proxy.packs[0]!)).toBe(1 + 1 + 1 + 10 + 301); // commit, root, apps/, team folders, files

    const next = await pushTree(info, "incremental", { files: files(2) });
    const incremental = await artifactOf(url, keep);
    // The commit, the trees on the changed file's path (root, apps/, apps/team-3/) and the file.
    expect(objectCount(proxy.packs[1]!)).toBe(5);
    expect(proxy.requests[1]).toContain(`shallow ${first}`);
    expect(proxy.requests[1]).toContain(`have ${first}`);
    // Thin: the changed file came as a delta against its kept version, which the pack alone cannot resolve.
    expect(() => indexPack(proxy.packs[1]!, 1 << 20)).toThrow(/delta base [0-9a-f]{40} is not in the pack/);
    const full = await artifactOf(url);
    expect(objectCount(proxy.packs[2]!)).toBe(314);
    expect(incremental).toEqual({ commit: next, digest: full.digest });

    // Nothing new: the same commit again (an artifact rebuilt for another spec.ignore) is an empty pack.
    expect(await artifactOf(url, keep)).toEqual(incremental);
    expect(objectCount(proxy.packs[3]!)).toBe(0);
  });

  it("falls back to a full fetch, with the same artifact, when the kept objects are gone, damaged or another URL's", async () => {
    await createRepo(info, "incremental-damaged");
    await pushTree(info, "incremental-damaged", { files: files(1) });
    const proxy = await recordingProxy();
    const url = `${proxy.baseUrl}/incremental-damaged.git`;
    const keep = join(await scratch(), "kept");
    await artifactOf(url, keep);
    let round = 1;
    const nextFetch = async () => {
      await pushTree(info, "incremental-damaged", { files: files(++round) });
      const before = proxy.packs.length;
      const fetched = await artifactOf(url, keep);
      expect(fetched).toEqual(await artifactOf(url));
      return proxy.packs.slice(before, -1).map(objectCount);
    };

    // Held in memory since it was saved (hashed then): the next fetch neither reads nor needs the disk copy.
    await rm(join(keep, "objects"));
    expect(await nextFetch()).toEqual([5]);

    // As after a restart, from here on: what is on disk is all there is.
    await rm(keep, { recursive: true });
    forgetKeptInMemory(keep);
    expect(await nextFetch()).toEqual([314]);

    // One byte of an unchanged file flipped: the file hashes to another object, so the commit is incomplete.
    const damaged = Buffer.from(await readFile(join(keep, "objects")));
    const at = damaged.indexOf("name: app-7\n");
    damaged[at] = damaged[at]! ^ 1;
    await writeFile(join(keep, "objects"), damaged);
    forgetKeptInMemory(keep);
    expect(await nextFetch()).toEqual([5, 314]);

    await writeFile(join(keep, "objects"), (await readFile(join(keep, "objects"))).subarray(0, 5000));
    forgetKeptInMemory(keep);
    expect(await nextFetch()).toEqual([314]);

    await writeFile(join(keep, "objects"), "sluice-kept-objects 1\nnonsense\n");
    forgetKeptInMemory(keep);
    expect(await nextFetch()).toEqual([314]);

    // Objects kept from another URL are not offered to this one, held in memory or read from disk.
    await createRepo(info, "incremental-other");
    await pushTree(info, "incremental-other", { files: files(round) });
    const before = proxy.requests.length;
    await artifactOf(`${proxy.baseUrl}/incremental-other.git`, keep);
    expect(proxy.requests.slice(before).some((body) => body.includes("have "))).toBe(false);
    expect(proxy.packs.slice(before).map(objectCount)).toEqual([314]);
    await pushTree(info, "incremental-damaged", { files: files(++round) });
    forgetKeptInMemory(keep);
    const fromDisk = proxy.requests.length;
    await artifactOf(url, keep);
    expect(proxy.requests.slice(fromDisk).some((body) => body.includes("have "))).toBe(false);
  });

  it("keeps each GitRepository's objects in its own folder", () => {
    const folders = new Set(
      [
        ["team-a", "apps"],
        ["team-b", "apps"],
        ["team-a", "infra"],
        ["team-a/apps", ""],
      ].map(([namespace, name]) => keptObjectsFolder("/work", namespace!, name!)),
    );
    expect(folders.size).toBe(4);
  });
});

/** A pack of raw entries (header included), with its trailing checksum. */
function pack(entries: Buffer[]): Buffer {
  const head = Buffer.alloc(12);
  head.write("PACK", 0, "latin1");
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  const body = Buffer.concat([head, ...entries]);
  return Buffer.concat([body, createHash("sha1").update(body).digest()]);
}

/** An entry header: type and size, seven bits a byte after the first four. */
function entryHeader(type: number, size: number): Buffer {
  const bytes = [(type << 4) | (size & 15)];
  for (size = Math.floor(size / 16); size > 0; size = Math.floor(size / 128)) {
    bytes[bytes.length - 1]! |= 0x80;
    bytes.push(size & 0x7f);
  }
  return Buffer.from(bytes);
}

const object = (type: number, data: Buffer) => Buffer.concat([entryHeader(type, data.length), deflateSync(data)]);
const pkt = (data: Buffer | string) =>
  Buffer.concat([Buffer.from((Buffer.byteLength(data) + 4).toString(16).padStart(4, "0")), Buffer.from(data)]);
const oidOf = (type: string, data: Buffer) =>
  createHash("sha1").update(`${type} ${data.length}\0`).update(data).digest("hex");

/** A server advertising `main` at `served.advertised` and answering every fetch with `served.answer`. */
async function hostileServer(served: {
  advertised: string;
  answer: Buffer;
}): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "GET") {
        const refs = Buffer.concat([
          pkt("# service=git-upload-pack\n"),
          Buffer.from("0000"),
          pkt(`${served.advertised} refs/heads/main\0side-band-64k ofs-delta shallow thin-pack\n`),
          Buffer.from("0000"),
        ]);
        return void res.writeHead(200, { "content-type": "application/x-git-upload-pack-advertisement" }).end(refs);
      }
      requests.push(Buffer.concat(chunks).toString("latin1"));
      const band = Buffer.concat([Buffer.from([1]), served.answer]);
      res.writeHead(200, { "content-type": "application/x-git-upload-pack-result" });
      res.end(Buffer.concat([pkt("NAK\n"), pkt(band), Buffer.from("0000")]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => server.close().closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hostile.git`, requests };
}

describe("Git source: a hostile server's answer to an incremental fetch", () => {
  const tree = Buffer.concat([Buffer.from("100644 a.yaml\0"), Buffer.alloc(20, 7)]);
  const commitFor = (treeOid: string) =>
    Buffer.from(`tree ${treeOid}\nauthor a <a@a> 0 +0000\ncommitter a <a@a> 0 +0000\n\nhostile\n`);

  it("refuses a delta against an object the client does not have (another GitRepository's kept one included)", async () => {
    // A GitRepository whose kept objects hold a secret file, fetched from the test bed.
    await createRepo(info, "incremental-victim");
    await pushTree(info, "incremental-victim", { files: { "secret.yaml": "password: hunter2\n" } });
    const victimKeep = join(await scratch(), "kept");
    await artifactOf(`${info.baseUrl}/incremental-victim.git`, victimKeep);
    const secretBlob = oidOf("blob", Buffer.from("password: hunter2\n"));

    // The attacker's blob is a copy of the victim's whole blob, by delta (size 18, copy 0..18).
    const delta = Buffer.from([18, 18, 0x90, 18]);
    const treeData = Buffer.concat([Buffer.from("100644 stolen.yaml\0"), Buffer.from(secretBlob, "hex")]);
    const commit = commitFor(oidOf("tree", treeData));
    const thin = pack([
      object(1, commit),
      object(2, treeData),
      Buffer.concat([entryHeader(7, delta.length), Buffer.from(secretBlob, "hex"), deflateSync(delta)]),
    ]);
    const hostile = await hostileServer({ advertised: oidOf("commit", commit), answer: thin });
    const ownKeep = join(await scratch(), "kept");
    // Its own folder: nothing kept, so the delta has no base.
    const error = await gitFailure(artifactOf(hostile.url, ownKeep));
    expect(error.message).toContain(`delta base ${secretBlob} is not in the pack`);
    expect(hostile.requests[0]).not.toContain("have ");
    // Even pointed at the victim's folder, objects kept for another URL are not used.
    const again = await gitFailure(artifactOf(hostile.url, victimKeep));
    expect(again.message).toContain(`delta base ${secretBlob} is not in the pack`);
    expect(hostile.requests[1]).not.toContain("have ");
  });

  it("refuses a commit that does not hash to the advertised one, and a tree naming objects nobody sent", async () => {
    const commit = commitFor(oidOf("tree", tree));
    const forged = await hostileServer({
      advertised: "1".repeat(40),
      answer: pack([object(1, commit), object(2, tree)]),
    });
    const keep = join(await scratch(), "kept");
    expect((await gitFailure(artifactOf(forged.url, keep))).message).toContain(
      `${"1".repeat(40)} is not a commit or a tag in the fetched pack`,
    );
    const missing = await hostileServer({
      advertised: oidOf("commit", commit),
      answer: pack([object(1, commit), object(2, tree)]),
    });
    expect((await gitFailure(artifactOf(missing.url, keep))).message).toContain(
      `object ${"07".repeat(20)} is missing from the fetched pack`,
    );
    await expect(readFile(join(keep, "objects"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a thin pack deltaing against an object it was never told the client has, kept objects or not", async () => {
    const blob = Buffer.from("kind: ConfigMap\n");
    const treeData = Buffer.concat([Buffer.from("100644 a.yaml\0"), Buffer.from(oidOf("blob", blob), "hex")]);
    const commit = commitFor(oidOf("tree", treeData));
    const served = {
      advertised: oidOf("commit", commit),
      answer: pack([object(1, commit), object(2, treeData), object(3, blob)]),
    };
    const hostile = await hostileServer(served);
    const keep = join(await scratch(), "kept");
    await artifactOf(hostile.url, keep);
    // The next commit's file: a delta against an object that is neither in the pack nor kept.
    const unknown = "ab".repeat(20);
    const next = Buffer.from(`${commit.toString()}more\n`);
    served.advertised = oidOf("commit", next);
    served.answer = pack([
      object(1, next),
      Buffer.concat([entryHeader(7, 4), Buffer.from(unknown, "hex"), deflateSync(Buffer.from([18, 18, 0x90, 18]))]),
    ]);
    const error = await gitFailure(artifactOf(hostile.url, keep));
    expect(error.message).toContain(`delta base ${unknown} is not in the pack`);
    // Offered the kept commit, then asked for the whole commit once, then gave up.
    expect(hostile.requests.slice(1).map((body) => body.includes(`have ${oidOf("commit", commit)}`))).toEqual([
      true,
      false,
    ]);
  });
});
