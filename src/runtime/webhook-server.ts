import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ReconcilerPorts } from "../controllers/reconciler-ports.js";
import { handleDelivery, type WebhookPorts } from "../notify/deliveries.js";
import { MemoryDeliveryLog } from "../notify/delivery-log.js";

const MAX_BODY = 1 << 20; // GitHub caps payloads at 25 MB, but a push event is a few KiB; we only need the signature.
const MAX_HEADERS = 16 << 10;
/**
 * How much of an oversized body is read and dropped after the 413: enough that a client still
 * uploading reads the answer instead of a connection reset; past it the connection is cut.
 */
const MAX_DISCARD = 128 << 20;
/** A request (headers and body) must arrive within this, so slow senders cannot hold connections open. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The local control plane's webhook endpoint: `POST /hook/<sha256>`, Flux's Receiver path. It reads
 * the receiver index, remembers delivery ids in memory (bounded, expiring) and enqueues.
 */
export async function startWebhookServer(
  reconciler: ReconcilerPorts,
  port: number,
  host = "127.0.0.1",
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const ports: WebhookPorts = {
    receivers: reconciler.receivers,
    deliveries: new MemoryDeliveryLog({ now: () => reconciler.clock.now() }),
    queue: reconciler.queue,
    log: reconciler.log,
  };
  const server = createServer({ maxHeaderSize: MAX_HEADERS, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    void (async () => {
      if (req.method !== "POST" || !req.url?.startsWith("/hook/")) return void res.writeHead(404).end("not found\n");
      const body = await readCapped(req);
      if (!body) return refuseOversized(req, res);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      const answer = await handleDelivery(ports, req.url.split("?")[0]!, headers, body);
      res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body);
    })().catch((error: unknown) => {
      ports.log.error({ err: error }, "webhook handler failed");
      if (!res.headersSent) res.writeHead(500).end("internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  const address = server.address();
  const url = `http://${host}:${typeof address === "object" && address ? address.port : port}`;
  return {
    server,
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}

/**
 * The body, or undefined as soon as it exceeds the cap (declared by Content-Length or counted while reading
 * chunks).
 */
function readCapped(req: IncomingMessage): Promise<Buffer | undefined> {
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) return void chunks.push(chunk);
      req.off("data", onData).off("end", onEnd);
      resolve(undefined);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on("data", onData).on("end", onEnd).once("error", reject);
  });
}

/** 413 at once; the rest of the body is read and dropped up to a bound, so the sender sees the answer, not a reset. */
function refuseOversized(req: IncomingMessage, res: ServerResponse): void {
  let discarded = 0;
  req.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > MAX_DISCARD) req.socket.destroy();
  });
  req.resume();
  res.writeHead(413, { "content-type": "text/plain" }).end(`payload larger than ${MAX_BODY} bytes\n`);
}
