import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { createConnection, isIP, type Socket } from "node:net";
import { connect as tlsConnect, rootCertificates } from "node:tls";
import type { HttpClient } from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { proxyAgent, type HttpProxy } from "./http-proxy.js";
import { assertLiteralAllowed, guardedLookup, type NetworkPolicy } from "./network-guard.js";

/** How a source's HTTP client reaches servers. */
export interface SourceHttpOptions {
  network: NetworkPolicy;
  /** PEM of a CA trusted in addition to the system roots (the secret's `ca.crt`, as go-git's CABundle). */
  caPem?: string;
  /** A client certificate and its key, PEM (a HelmRepository's `certSecretRef` `tls.crt`/`tls.key`). */
  clientCert?: { certPem: string; keyPem: string };
  /** Bytes of one response body (a hostile server could otherwise stream a pack without end). */
  maxResponseBytes: number;
  /** A forward proxy every request goes through. */
  proxy?: HttpProxy;
  /** Connections to reuse (see connectionPool); without, each request opens its own. */
  pool?: ConnectionPool;
}

/** A stalled server fails the fetch instead of holding the worker until its own timeout. */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * isomorphic-git's node client, with every connection (first request and each redirect hop, http or
 * https) opened by a function that checks the address it connects to against the network policy
 * (through the proxy's agent when there is one).
 */
export function sourceHttpClient(options: SourceHttpOptions): HttpClient {
  const connect = guardedConnect(options);
  const proxied = options.proxy && proxyAgent({ ...options, proxy: options.proxy });
  return {
    request: async (req) => {
      const agent = proxied ?? options.pool?.agentFor(req.url);
      const fetchOptions = {
        ...req.fetchOptions,
        ...(!agent && { createConnection: connect }),
        timeout: IDLE_TIMEOUT_MS,
      };
      const response = await http.request({ ...req, agent, fetchOptions });
      return { ...response, body: response.body && bounded(response.body, options.maxResponseBytes) };
    },
  };
}

/** Keep-alive connections shared by a run of requests, closed together. */
export interface ConnectionPool {
  /** The agent for `url`'s scheme (a redirect to the other scheme fails: keep to one origin). */
  agentFor(url: string): HttpAgent;
  close(): void;
}

/**
 * Connections kept open from one request to the next (a registry's tag pages: one TLS handshake, not one per
 * page), each opened through the same network-policy check as any other.
 */
export function connectionPool(options: ConnectOptions): ConnectionPool {
  const connect = guardedConnect(options);
  // Each new connection of the pool is opened by `connect`, as a request without a pool would open it.
  const guarded = <T extends HttpAgent>(agent: T, protocol: string): T =>
    Object.assign(agent, {
      createConnection: (request: ConnectRequest) => connect({ protocol, host: request.host, port: request.port }),
    });
  const agents = {
    "http:": guarded(new HttpAgent({ keepAlive: true }), "http:"),
    "https:": guarded(new HttpsAgent({ keepAlive: true }), "https:"),
  };
  return {
    agentFor: (url) => (url.startsWith("https:") ? agents["https:"] : agents["http:"]),
    close: () => Object.values(agents).forEach((agent) => agent.destroy()),
  };
}

type ConnectOptions = Pick<SourceHttpOptions, "network" | "caPem" | "clientCert">;

interface ConnectRequest {
  protocol?: string | null;
  host?: string | null;
  port?: number | string | null;
}

/**
 * Node's `createConnection` request option (used when no agent is given). Only host and port are
 * passed on: the request's other options (its `path` above all) mean something else to a socket.
 */
function guardedConnect(options: ConnectOptions): (request: ConnectRequest) => Socket {
  const lookup = guardedLookup(options.network);
  const ca = options.caPem ? [...rootCertificates, options.caPem] : undefined;
  return (request) => {
    const host = request.host ?? "localhost";
    const port = Number(request.port);
    assertLiteralAllowed(host, options.network);
    if (request.protocol !== "https:") return createConnection({ host, port, lookup });
    const { certPem: cert, keyPem: key } = options.clientCert ?? {};
    return tlsConnect({ host, port, lookup, ca, cert, key, servername: isIP(host) ? undefined : host });
  };
}

async function* bounded(body: AsyncIterableIterator<Uint8Array>, maxBytes: number): AsyncIterableIterator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) throw new Error(`response exceeds ${maxBytes} bytes`);
    yield chunk;
  }
}
