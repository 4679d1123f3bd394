import { Agent, type ClientRequest, type ClientRequestArgs } from "node:http";
import type { Duplex } from "node:stream";
import { createConnection, isIP, type Socket } from "node:net";
import { connect as tlsConnect, rootCertificates } from "node:tls";
import {
  assertLiteralAllowed,
  guardedLookup,
  RefusedAddressError,
  resolveGuarded,
  type NetworkPolicy,
} from "./network-guard.js";

// Requests through an HTTP(S) forward proxy, the way Go's http.Transport sends them with
// Transport.Proxy set (what Flux's controllers use): an http:// target is asked of the proxy in
// absolute form (`POST http://host/path`), an https:// target through a CONNECT tunnel, TLS
// end to end; both carry Proxy-Authorization when the proxy URL has credentials.
//
// The network guard applies twice: to the proxy's address (Sluice connects to it) and to the
// target's (resolved here before the proxy is asked, since the proxy would otherwise reach a
// metadata or private address on Sluice's behalf).

/** A forward proxy: where it is and, when it wants them, the credentials. Holds secrets: never log it. */
export interface HttpProxy {
  /** `http:` or `https:`, without credentials. */
  url: URL;
  /** `Basic …`, from the proxy URL's user information. */
  authorization?: string;
}

export interface ProxyAgentOptions {
  proxy: HttpProxy;
  network: NetworkPolicy;
  /** Trusted in addition to the system roots, for an https proxy and an https target alike (as Go's TLSClientConfig). */
  caPem?: string;
  clientCert?: { certPem: string; keyPem: string };
}

/** The proxy's answer to CONNECT is a status line and headers; more before the blank line is not a proxy. */
const MAX_CONNECT_ANSWER_BYTES = 16 * 1024;
/** A proxy that neither answers nor closes fails the request instead of holding it. */
const IDLE_TIMEOUT_MS = 60_000;

interface TargetOptions {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  protocol?: string | null;
}

/** What Node's Agent does that its type declarations leave out. */
interface AgentInternals {
  addRequest(request: ClientRequest, target: TargetOptions): void;
}

/** An http.Agent that sends every request through `options.proxy`; for http and https requests alike. */
export function proxyAgent(options: ProxyAgentOptions): Agent {
  return new ProxyAgent(options);
}

class ProxyAgent extends Agent {
  private readonly ca: string[] | undefined;

  constructor(private readonly options: ProxyAgentOptions) {
    super({ keepAlive: false });
    this.ca = options.caPem ? [...rootCertificates, options.caPem] : undefined;
    // Serves both http.request and https.request: without a protocol of its own, each checks its default.
    (this as { protocol?: string }).protocol = undefined;
  }

  /** An http:// request is asked of the proxy in absolute form, before its head is written. */
  addRequest(request: ClientRequest, target: TargetOptions): void {
    if (target.protocol !== "https:") {
      request.path = `http://${authority(hostOf(target), portOf(target))}${request.path}`;
      if (this.options.proxy.authorization) request.setHeader("proxy-authorization", this.options.proxy.authorization);
    }
    (Agent.prototype as unknown as AgentInternals).addRequest.call(this, request, target);
  }

  /** Node's Agent takes a connection made later through the callback. */
  override createConnection(
    target: ClientRequestArgs,
    done?: (error: Error | null, socket: Duplex) => void,
  ): undefined {
    this.connectThrough(target).then(
      (socket) => done?.(null, socket),
      (error: Error) => done?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  }

  private async connectThrough(target: TargetOptions): Promise<Socket> {
    const host = hostOf(target);
    const port = portOf(target);
    const proxied = await this.connectToProxy();
    try {
      await assertTargetAllowed(host, this.options.network);
    } catch (error) {
      proxied.destroy();
      throw error;
    }
    if (target.protocol !== "https:") return proxied;
    try {
      await tunnel(proxied, authority(host, port), this.options.proxy.authorization);
    } catch (error) {
      proxied.destroy();
      throw error;
    }
    const { certPem: cert, keyPem: key } = this.options.clientCert ?? {};
    return tlsConnect({ socket: proxied, host, ca: this.ca, cert, key, servername: isIP(host) ? undefined : host });
  }

  private connectToProxy(): Promise<Socket> {
    const { url } = this.options.proxy;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    assertLiteralAllowed(host, this.options.network);
    const lookup = guardedLookup(this.options.network);
    return new Promise((resolve, reject) => {
      const socket =
        url.protocol === "https:"
          ? tlsConnect({ host, port, lookup, ca: this.ca, servername: isIP(host) ? undefined : host })
          : createConnection({ host, port, lookup });
      socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy(new Error("the proxy did not answer in time")));
      socket.once(url.protocol === "https:" ? "secureConnect" : "connect", () => {
        socket.removeAllListeners("error");
        resolve(socket);
      });
      socket.once("error", reject);
    });
  }
}

/** Sends CONNECT for `to` on the proxy's connection and reads its answer; resolves when the tunnel is open. */
function tunnel(socket: Socket, to: string, authorization: string | undefined): Promise<void> {
  const head = [
    `CONNECT ${to} HTTP/1.1`,
    `Host: ${to}`,
    ...(authorization ? [`Proxy-Authorization: ${authorization}`] : []),
  ];
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.off("data", onData);
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) {
        if (received.byteLength > MAX_CONNECT_ANSWER_BYTES)
          fail(new Error("the proxy's answer to CONNECT is too long"));
        return;
      }
      socket.off("data", onData);
      socket.off("error", fail);
      socket.off("close", onClose);
      // Bytes after the answer would belong to the target; a proxy sends none before the client speaks.
      if (end + 4 !== received.byteLength) return reject(new Error("the proxy sent data after its answer to CONNECT"));
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(received.toString("latin1"))?.[1];
      if (status?.startsWith("2")) return resolve();
      reject(new Error(`the proxy refused the tunnel: CONNECT answered ${status ?? "with no HTTP status"}`));
    };
    const onClose = () => fail(new Error("the proxy closed the connection before answering CONNECT"));
    socket.on("data", onData);
    socket.once("error", fail);
    socket.once("close", onClose);
    socket.write(`${head.join("\r\n")}\r\n\r\n`);
  });
}

/**
 * Refuses the target as the network guard would: an IP literal, or a name that resolves here to a
 * refused address. A name that does not resolve here is left to the proxy (often the reason for
 * one is that only it has DNS).
 */
async function assertTargetAllowed(host: string, network: NetworkPolicy): Promise<void> {
  await resolveGuarded(host, network).catch((error: unknown) => {
    if (error instanceof RefusedAddressError) throw error;
  });
}

function hostOf(target: TargetOptions): string {
  return (target.hostname ?? target.host ?? "localhost").replace(/^\[|\]$/g, "");
}

function portOf(target: TargetOptions): number {
  return Number(target.port || (target.protocol === "https:" ? 443 : 80));
}

/** `host:port`, an IPv6 address in brackets. */
function authority(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
