import { createHash } from "node:crypto";
import { inflateSync } from "node:zlib";
import { Errors, type AuthCallback, type HttpClient, type ServerRef } from "isomorphic-git";
import type { KeptObjects } from "./git-kept-objects.js";
import { applyDelta, BadPackError, readEntryHeader, type GitObject, type GitObjectType } from "./git-pack.js";

// A depth-1 fetch of one commit held in memory, for an artifact: smart HTTP's two requests (the advertisement,
// then want/deepen/done) over the same HttpClient isomorphic-git uses (so the SSH transport serves it too), and
// the pack indexed in one pass with node:zlib and node:crypto. isomorphic-git's fetch writes the pack, inflates
// every object in JavaScript and hashes each with an async SHA-1 to index it, then every blob is read back
// through its per-object path: on a 2,500-file repository that was most of a checkout.

/** What the fetch needs of a remote: isomorphic-git's transport options. */
export interface FetchTransport {
  http: HttpClient;
  url: string;
  headers: Record<string, string>;
  onAuth?: AuthCallback;
}

const SERVICE = "git-upload-pack";
const CAPABILITIES = ["side-band-64k", "ofs-delta", "shallow", "no-progress", "agent=sluice"];

/** The remote's refs (v0/v1 advertisement), peeled tags included, as isomorphic-git's listServerRefs gives them. */
export async function advertisedRefs(
  transport: FetchTransport,
): Promise<{ refs: ServerRef[]; capabilities: string[] }> {
  const response = await send(transport, {
    url: `${transport.url.replace(/\/$/, "")}/info/refs?service=${SERVICE}`,
    method: "GET",
  });
  const lines = pktLines(await collect(response.body));
  const first = lines.findIndex((line) => line !== null && !line.startsWith("# service="));
  const refs: ServerRef[] = [];
  let capabilities: string[] = [];
  for (const line of lines.slice(Math.max(first, 0))) {
    if (line === null) continue;
    if (line.startsWith("ERR ")) throw new Error(`remote error: ${line.slice(4).trim()}`);
    const [head, caps] = line.replace(/\n$/, "").split("\0");
    if (caps !== undefined) capabilities = caps.split(" ");
    const [oid, ref] = head!.split(" ");
    if (!oid || !ref || !/^[0-9a-f]{40}$/.test(oid)) continue; // "capabilities^{}" of an empty repository
    if (ref.endsWith("^{}")) {
      const tag = refs.find((r) => r.ref === ref.slice(0, -3));
      if (tag) tag.peeled = oid;
    } else refs.push({ ref, oid });
  }
  return { refs, capabilities };
}

/**
 * The objects of `want` at depth 1 (its commit, or a tag and its commit, and the whole tree), by oid, within
 * `maxBytes` of inflated objects. With `kept` (a previous fetch's commit and objects), the request says what
 * `git fetch --depth 1` says of a shallow clone (`shallow` and `have` that commit) and asks for a thin pack: the
 * answer holds only the objects `kept` lacks, its deltas may use kept objects as bases, and the map returned
 * holds the new objects only.
 */
export async function fetchShallow(
  transport: FetchTransport,
  want: string,
  maxBytes: number,
  kept?: KeptObjects,
): Promise<Map<string, GitObject>> {
  const capabilities = kept ? [...CAPABILITIES, "thin-pack"] : CAPABILITIES;
  // No flush between the haves and `done`: a stateless upload-pack answers a flush with NAK and stops.
  const body = [
    pktLine(`want ${want} ${capabilities.join(" ")}\n`),
    ...(kept ? [pktLine(`shallow ${kept.commit}\n`)] : []),
    pktLine("deepen 1\n"),
    Buffer.from("0000"),
    ...(kept ? [pktLine(`have ${kept.commit}\n`)] : []),
    pktLine("done\n"),
  ];
  const response = await send(transport, {
    url: `${transport.url.replace(/\/$/, "")}/${SERVICE}`,
    method: "POST",
    headers: { "content-type": `application/x-${SERVICE}-request`, accept: `application/x-${SERVICE}-result` },
    body: (async function* () {
      yield* body;
    })(),
  });
  return indexPack(await packOf(response.body), maxBytes, kept?.objects);
}

/** Sends a request with the transport's headers, asking onAuth once after a 401 as isomorphic-git does. */
async function send(
  transport: FetchTransport,
  request: { url: string; method: string; headers?: Record<string, string>; body?: AsyncIterableIterator<Uint8Array> },
) {
  const headers = { ...transport.headers, ...request.headers };
  let response = await transport.http.request({ ...request, headers });
  if (response.statusCode === 401 && transport.onAuth && request.method === "GET") {
    const auth = await transport.onAuth(transport.url, { headers });
    if (auth && !auth.cancel && (auth.username || auth.password)) {
      const basic = Buffer.from(`${auth.username ?? ""}:${auth.password ?? ""}`).toString("base64");
      transport.headers.Authorization = `Basic ${basic}`;
      response = await transport.http.request({ ...request, headers: { ...headers, Authorization: `Basic ${basic}` } });
    }
  }
  if (response.statusCode !== 200) {
    const text = (await collect(response.body).catch(() => Buffer.alloc(0))).toString("utf8", 0, 512);
    throw new Errors.HttpError(response.statusCode, response.statusMessage, text);
  }
  return response;
}

/** The pack of an upload-pack answer: shallow lines and NAK/ACKs skipped, side band 1 kept, band 3 an error. */
async function packOf(body: AsyncIterableIterator<Uint8Array> | undefined): Promise<Buffer> {
  const data = await collect(body);
  const pack: Buffer[] = [];
  let at = 0;
  while (at + 4 <= data.length) {
    const length = Number.parseInt(data.toString("latin1", at, at + 4), 16);
    if (Number.isNaN(length) || (length > 0 && length < 4) || at + Math.max(length, 4) > data.length)
      throw new BadPackError("malformed upload-pack answer");
    if (length === 0) {
      at += 4;
      continue;
    }
    const payload = data.subarray(at + 4, at + length);
    at += length;
    if (pack.length === 0 && /^(shallow |unshallow |ACK |NAK)/.test(payload.toString("latin1", 0, 12))) continue;
    if (payload.toString("latin1", 0, 4) === "ERR ")
      throw new Error(`remote error: ${payload.toString("utf8", 4).trim()}`);
    const band = payload[0];
    if (band === 1) pack.push(payload.subarray(1));
    else if (band === 3) throw new Error(`remote error: ${payload.toString("utf8", 1).trim()}`);
    else if (band !== 2) throw new BadPackError("malformed upload-pack answer");
  }
  return Buffer.concat(pack);
}

/**
 * Every object of a pack by oid, its checksum verified, deltas resolved (bases within the pack, or for a thin pack
 * among `bases`, objects already hashed), each object hashed as Git names it. The sum of the inflated objects is
 * bounded by `maxBytes`.
 */
export function indexPack(pack: Buffer, maxBytes: number, bases?: Map<string, GitObject>): Map<string, GitObject> {
  if (pack.length < 32 || pack.toString("latin1", 0, 4) !== "PACK" || pack.readUInt32BE(4) !== 2)
    throw new BadPackError("not a version 2 pack");
  const trailer = pack.length - 20;
  const checksum = createHash("sha1").update(pack.subarray(0, trailer)).digest();
  if (!checksum.equals(pack.subarray(trailer))) throw new BadPackError("pack checksum mismatch");
  const count = pack.readUInt32BE(8);
  let inflated = 0;
  const byOffset = new Map<number, { type?: GitObjectType; data: Buffer; base?: number | string }>();
  let at = 12;
  for (let i = 0; i < count; i++) {
    if (at >= trailer) throw new BadPackError(`pack is truncated: ${i} of ${count} objects`);
    const header = readEntryHeader(pack, at, trailer, maxBytes - inflated);
    let result: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      result = inflateSync(pack.subarray(header.bodyAt, trailer), {
        info: true,
        maxOutputLength: Math.max(header.size, 1),
      }) as unknown as typeof result;
    } catch (error) {
      throw new BadPackError(`object at offset ${at}: ${(error as Error).message}`);
    }
    if (result.buffer.length !== header.size)
      throw new BadPackError(`object at offset ${at}: ${result.buffer.length} bytes, not ${header.size}`);
    inflated += header.size;
    byOffset.set(at, { type: header.type, data: result.buffer, base: header.base });
    at = header.bodyAt + result.engine.bytesWritten;
  }
  const objects = new Map<string, GitObject>();
  const oidAt = new Map<number, string>();
  const name = (offset: number, object: GitObject) => {
    const oid = createHash("sha1").update(`${object.type} ${object.data.length}\0`).update(object.data).digest("hex");
    objects.set(oid, object);
    oidAt.set(offset, oid);
  };
  for (const [offset, entry] of byOffset) if (entry.type) name(offset, { type: entry.type, data: entry.data });
  // Deltas, in passes: each resolves those whose base is known (a ref-delta may name a later object).
  let pending = [...byOffset].filter(([, entry]) => !entry.type);
  while (pending.length > 0) {
    const next = pending.filter(([offset, entry]) => {
      const baseOid = typeof entry.base === "number" ? oidAt.get(entry.base) : entry.base;
      const base = baseOid === undefined ? undefined : (objects.get(baseOid) ?? bases?.get(baseOid));
      if (!base) return true;
      const data = applyDelta(base.data, entry.data, maxBytes - inflated);
      inflated += data.length;
      name(offset, { type: base.type, data });
      return false;
    });
    if (next.length === pending.length)
      throw new BadPackError(
        `delta base ${missingBase(pending[0]![1].base)} is not in the pack${bases ? " nor kept" : ""}`,
      );
    pending = next;
  }
  return objects;
}

const missingBase = (base: number | string | undefined) => (typeof base === "string" ? base : `at offset ${base}`);

function pktLine(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, "0")), payload]);
}

/** pkt-lines as text; a flush-pkt is null. */
function pktLines(data: Buffer): (string | null)[] {
  const lines: (string | null)[] = [];
  for (let at = 0; at + 4 <= data.length;) {
    const length = Number.parseInt(data.toString("latin1", at, at + 4), 16);
    if (Number.isNaN(length) || (length > 0 && length < 4)) throw new Error("malformed ref advertisement");
    lines.push(length === 0 ? null : data.toString("utf8", at + 4, at + length));
    at += Math.max(length, 4);
  }
  return lines;
}

async function collect(body: AsyncIterableIterator<Uint8Array> | undefined): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk);
  return Buffer.concat(chunks);
}
