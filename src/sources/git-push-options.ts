import type { GitHttpResponse, HttpClient } from "isomorphic-git";

// Git push options (`git push -o`) for isomorphic-git, which has no such parameter: its receive-pack request is
// rewritten on the way out, as gitprotocol-pack describes it — the `push-options` capability on the first command,
// then after the commands' flush-pkt one pkt-line per option and a flush-pkt, then the pack. As go-git (Flux's
// client) does, they are sent only to a server that advertises `push-options` (git's `receive.advertisePushOptions`);
// to any other the push goes without them.

/** The longest pkt-line payload (gitprotocol-common: 65520 bytes with its 4-byte length). */
const MAX_PKT_PAYLOAD = 65516;
const FLUSH = Buffer.from("0000");

/** A push option the protocol cannot carry. */
export class PushOptionError extends Error {
  override name = "PushOptionError";
}

/**
 * `spec.git.push.options` as the lines go-git sends (`key=value`, in key order here rather than a Go map's random
 * one); a PushOptionError for a key or value the protocol cannot carry (a line break, NUL, over a pkt-line).
 */
export function pushOptionLines(options: Record<string, string>): string[] {
  return Object.keys(options)
    .sort()
    .map((key) => {
      const line = `${key}=${options[key]}`;
      if (/[\n\r\0]/.test(line))
        throw new PushOptionError(`option '${JSON.stringify(key).slice(1, -1)}' holds a line break or NUL`);
      if (Buffer.byteLength(line) > MAX_PKT_PAYLOAD)
        throw new PushOptionError(`option '${key.slice(0, 64)}' is longer than a pkt-line (${MAX_PKT_PAYLOAD} bytes)`);
      return line;
    });
}

/** `client`, its pushes carrying `lines` when the server's receive-pack advertisement offers push options. */
export function withPushOptions(client: HttpClient, lines: string[]): HttpClient {
  let advertised = false;
  return {
    request: async (request) => {
      const url = new URL(request.url);
      if (request.method === "POST" && url.pathname.endsWith("/git-receive-pack") && advertised)
        return client.request({ ...request, body: once(withOptions(await bytesOf(request.body ?? []), lines)) });
      const response = await client.request(request);
      if (!(url.pathname.endsWith("/info/refs") && url.searchParams.get("service") === "git-receive-pack"))
        return response;
      const body = await bytesOf(response.body ?? []);
      advertised = capabilitiesOf(body).has("push-options");
      return { ...response, body: once(body) } satisfies GitHttpResponse;
    },
  };
}

/** The capabilities after the NUL of the advertisement's first ref line. */
function capabilitiesOf(advertisement: Buffer): Set<string> {
  for (const { payload } of pktLines(advertisement)) {
    const nul = payload.indexOf(0);
    if (nul >= 0)
      return new Set(
        payload
          .subarray(nul + 1)
          .toString("latin1")
          .trim()
          .split(" "),
      );
  }
  return new Set();
}

/** The request with `push-options` among the first command's capabilities and the options after the commands. */
function withOptions(request: Buffer, lines: string[]): Buffer {
  const [first, ...rest] = pktLines(request);
  if (!first || first.payload.indexOf(0) < 0) throw new Error("unexpected receive-pack request: no capabilities");
  const flush = rest.find((line) => line.flush);
  if (!flush) throw new Error("unexpected receive-pack request: no flush after its commands");
  const text = first.payload.toString("latin1");
  const capped = text.endsWith("\n") ? `${text.slice(0, -1)} push-options\n` : `${text} push-options`;
  return Buffer.concat([
    pktLine(Buffer.from(capped, "latin1")),
    request.subarray(first.end, flush.end),
    ...lines.map((line) => pktLine(Buffer.from(line))),
    FLUSH,
    request.subarray(flush.end),
  ]);
}

interface PktLine {
  payload: Buffer;
  flush: boolean;
  /** Offset just after it. */
  end: number;
}

/** The pkt-lines at the start of `data`, up to the first that does not parse (a pack, or the end). */
function* pktLines(data: Buffer): Generator<PktLine> {
  let offset = 0;
  while (offset + 4 <= data.length) {
    const header = data.toString("latin1", offset, offset + 4);
    if (!/^[0-9a-f]{4}$/i.test(header)) return;
    const length = Number.parseInt(header, 16);
    if (length === 0) {
      offset += 4;
      yield { payload: Buffer.alloc(0), flush: true, end: offset };
      continue;
    }
    if (length < 4 || offset + length > data.length) return;
    yield { payload: data.subarray(offset + 4, offset + length), flush: false, end: offset + length };
    offset += length;
  }
}

function pktLine(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, "0")), payload]);
}

async function bytesOf(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* once(data: Buffer): AsyncIterableIterator<Uint8Array> {
  yield data;
}
