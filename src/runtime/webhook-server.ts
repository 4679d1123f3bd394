import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Runtime } from "../controllers/runtime.js";
import { handleDelivery } from "../notify/deliveries.js";

const MAX_BODY = 1 << 20; // GitHub caps payloads at 25 MB, but a push event is a few KiB; we only need the signature.
const MAX_HEADERS = 16 << 10;

/** The local control plane's webhook endpoint: `POST /hook/<sha256>`, Flux's Receiver path. */
export async function startWebhookServer(rt: Runtime, port: number, host = "127.0.0.1"): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer({ maxHeaderSize: MAX_HEADERS }, (req, res) => {
    void (async () => {
      if (req.method !== "POST" || !req.url?.startsWith("/hook/")) return void res.writeHead(404).end("not found\n");
      const body = await readCapped(req);
      if (!body) return void res.writeHead(413).end(`payload larger than ${MAX_BODY} bytes\n`);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      const answer = await handleDelivery(rt, req.url.split("?")[0]!, headers, body);
      res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body);
    })().catch((error: unknown) => {
      rt.log.error({ err: error }, "webhook handler failed");
      if (!res.headersSent) res.writeHead(500).end("internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  const address = server.address();
  const url = `http://${host}:${typeof address === "object" && address ? address.port : port}`;
  return { server, url, close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()) };
}

/** The body, or undefined once it exceeds the cap (checked against Content-Length before reading). */
async function readCapped(req: IncomingMessage): Promise<Buffer | undefined> {
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) {
      req.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
