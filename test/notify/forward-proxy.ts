import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect, type AddressInfo } from "node:net";

// A real forward proxy on loopback, as squid or tinyproxy behave for these two request forms: an
// absolute-form request (`POST http://host/path`) is forwarded, a CONNECT opens a TCP tunnel. It
// demands basic auth when given credentials (407 otherwise) and records what it was asked.

export interface ProxiedRequest {
  method: string;
  /** The request target as sent: an absolute URL, or `host:port` for CONNECT. */
  target: string;
  headers: IncomingHttpHeaders;
}

export interface ForwardProxy {
  url: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

export async function forwardProxy(credentials?: { username: string; password: string }): Promise<ForwardProxy> {
  const requests: ProxiedRequest[] = [];
  const expected =
    credentials && `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  const allowed = (headers: IncomingHttpHeaders) => !expected || headers["proxy-authorization"] === expected;
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", target: req.url ?? "", headers: req.headers });
    if (!allowed(req.headers)) {
      res.writeHead(407, { "proxy-authenticate": 'Basic realm="test"' }).end();
      return;
    }
    // A proxy consumes its own credentials: the endpoint never sees them.
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== "proxy-authorization"));
    const upstream = httpRequest(req.url ?? "", { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on("connect", (req, client, head) => {
    requests.push({ method: "CONNECT", target: req.url ?? "", headers: req.headers });
    if (!allowed(req.headers)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(":")), req.url!.slice(req.url!.lastIndexOf(":") + 1)];
    const upstream = connect(Number(port), host.replace(/^\[|\]$/g, ""), () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
