import { connect, credsAuthenticator, Events, nkeyAuthenticator, type ConnectionOptions, type Status } from "nats";
import { resolveGuarded } from "../../sources/network-guard.js";
import type { FluxEvent } from "../events.js";
import { fluxEventJson } from "../payloads.js";
import { PostError } from "../post.js";
import type { DeliveryContext } from "./delivery.js";

// The nats type as notification-controller v1.9.3's nats.go publishes: a connection per event (named
// "NATS Provider Publisher"), Flux's event JSON published on the subject named by spec.channel,
// flushed, and closed. Authentication in Flux's order: the secret's `creds` (a user JWT and its
// NKey seed), else its `nkey` seed, else username and password when both are set.
//
// Unlike nats.go, the client connects only to the addresses the network guard allows (resolved
// here, the host name kept for TLS), and neither follows the servers a cluster gossips nor
// reconnects: one publish, then the connection is closed.

export async function publishNats(event: FluxEvent, context: DeliveryContext): Promise<void> {
  const { endpoint } = context;
  const subject = endpoint.channel ?? "";
  const failed = (what: string) => new PostError(`error publishing event to subject ${subject}: ${what}`, true);
  const servers: string[] = [];
  let tls: ConnectionOptions["tls"];
  for (const server of endpoint.natsServers ?? []) {
    const host = server.hostname.replace(/^\[|\]$/g, "");
    const port = Number(server.port || 4222);
    for (const address of await resolveGuarded(host, context.network))
      servers.push(address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`);
    // The host name, not the address dialled, is what the server's certificate names.
    if (server.protocol === "tls:") tls = { servername: host } as ConnectionOptions["tls"];
  }
  const options: ConnectionOptions = {
    servers,
    name: "NATS Provider Publisher",
    resolve: false,
    ignoreClusterUpdates: true,
    reconnect: false,
    maxReconnectAttempts: 0,
    noRandomize: true,
    timeout: endpoint.timeoutMs,
    ...(tls && { tls }),
    ...authentication(endpoint),
  };
  let connection;
  try {
    connection = await connect(options);
  } catch (error) {
    throw failed(`error connecting to server: ${(error as Error).message}`);
  }
  // A publish the server refuses (a permissions violation) is reported asynchronously, as nats.go's LastError.
  const refusals: string[] = [];
  // A QueuedIterator, which nats.js types as a bare AsyncIterable: stop() ends it once the connection is closed.
  const statuses = connection.status() as AsyncIterable<Status> & { stop(): void };
  const watching = (async () => {
    for await (const status of statuses) if (status.type === Events.Error) refusals.push(String(status.data));
  })();
  try {
    connection.publish(subject, Buffer.from(JSON.stringify(fluxEventJson(event))));
    await connection.flush();
    // The server's -ERR for the publish comes before the flush's PONG; its status is read one turn later.
    await new Promise((resolve) => setImmediate(resolve));
    if (refusals.length > 0) throw failed(`error publishing message to server: ${refusals.join("; ")}`);
  } finally {
    await connection.close();
    statuses.stop();
    await watching;
  }
}

function authentication(endpoint: DeliveryContext["endpoint"]): Partial<ConnectionOptions> {
  const { creds, nkey } = endpoint.natsCredentials ?? {};
  if (creds) return { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) };
  if (nkey) return { authenticator: nkeyAuthenticator(new TextEncoder().encode(nkey.trim())) };
  if (endpoint.username && endpoint.password) return { user: endpoint.username, pass: endpoint.password };
  return {};
}
