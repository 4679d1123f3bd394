import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { networkInterfaces } from "node:os";
import type { AddressInfo } from "node:net";
import { refusal } from "./api/guard.js";
import { API_PREFIX, uiApi, type UiApiPorts } from "./api/router.js";
import type { UiRequest } from "./api/types.js";
import type { Assets } from "./assets.js";

// `sluice run`'s web UI server: a thin node:http shell around the transport-free API, the app's files, and the live
// stream (Server-Sent Events) that tells open pages the Store changed.

export interface UiServerOptions {
  ports: Omit<UiApiPorts, "hosts">;
  /** The app's files (dist/ui, src/ui/assets.ts), asked for at the first page load. */
  assets: () => Promise<Assets>;
  /** The address to listen on; loopback unless the operator asked otherwise. */
  host: string;
  port: number;
  /** Who the API records as acting (locally the OS user). */
  actor: string;
  /** Calls `listener` whenever objects in the Store change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
}

export interface UiServer {
  url: string;
  close(): Promise<void>;
}

// A stream costs a socket and a listener; a page holds one. Past this, a misbehaving client is told to go away.
const MAX_STREAMS = 64;
const PING_MS = 25_000;

const PAGE_HEADERS = {
  // Only our own script and styles; no inline code, frames, plugins or form posts: an object's text can never run.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  let hosts: string[] = [];
  const api = uiApi({
    ...options.ports,
    get hosts() {
      return hosts;
    },
  });
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    void serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse) {
    req.resume(); // no request body is ever read
    const url = new URL(req.url ?? "/", "http://ui.invalid");
    const request: UiRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v]),
      ),
      actor: options.actor,
    };
    if (request.path === `${API_PREFIX}live`) return live(request, res);
    if (request.path.startsWith(API_PREFIX) || request.method !== "GET") {
      const answer = await api(request);
      res.writeHead(answer.status, answer.headers).end(answer.body);
      return;
    }
    const refused = refusal(request, hosts);
    if (refused) return void res.writeHead(refused.status, { "content-type": "text/plain" }).end(refused.message);
    const assets = await options.assets();
    const asset = assets.get(request.path);
    if (request.path.startsWith("/assets/") && !asset) return void res.writeHead(404).end();
    const { type, body } = asset ?? assets.get("index.html")!;
    res.writeHead(200, { ...PAGE_HEADERS, "content-type": type }).end(body);
  }

  function live(request: UiRequest, res: ServerResponse) {
    const refused =
      refusal(request, hosts) ?? (streams.size >= MAX_STREAMS ? { status: 503, message: "busy" } : undefined);
    if (refused) return void res.writeHead(refused.status, { "content-type": "text/plain" }).end(refused.message);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    res.write("retry: 2000\n\n");
    streams.add(res);
    const unsubscribe = options.subscribe(() => res.write("event: change\ndata: {}\n\n"));
    const ping = setInterval(() => res.write(": ping\n\n"), PING_MS);
    res.on("close", () => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(res);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port, address } = server.address() as AddressInfo;
  hosts = allowedHosts(address, port);
  const shown = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${address === "0.0.0.0" || address === "::" ? "127.0.0.1" : shown}:${port}`,
    close: async () => {
      for (const stream of streams) stream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The Host values the UI answers to: the address it listens on, and on loopback or every interface the names of
 * loopback and the machine's own addresses. Never a DNS name other than localhost, which a rebinding attacker could
 * point at us.
 */
export function allowedHosts(address: string, port: number): string[] {
  const withPort = (a: string) => `${a.includes(":") ? `[${a}]` : a}:${port}`;
  const loopback = ["127.0.0.1", "::1", "localhost"];
  const everywhere = address === "0.0.0.0" || address === "::";
  const own = everywhere
    ? Object.values(networkInterfaces())
        .flat()
        .flatMap((i) => (i ? [i.address] : []))
    : [];
  const names = loopback.includes(address) || everywhere ? [...loopback, ...own] : [address];
  return [...new Set(names.map(withPort))];
}
