// A Sentry DSN (`https://<public key>[:<secret key>]@<host>[/<path>]/<project>`) read as sentry-go
// v0.46.2's NewDsn reads it, for the `sentry` Provider type: the keys authenticate the envelope and
// are secrets. Keys are held to URL-safe characters (Sentry's are hex) so neither can break out of the
// X-Sentry-Auth header or the envelope's `dsn`.

export interface SentryDsn {
  publicKey: string;
  secretKey?: string;
  /** `<scheme>://<host>[:port][/<path>]/api/<project>/envelope/`. */
  envelopeUrl: URL;
  /** The DSN as sentry-go writes it back (the envelope header's `dsn`): no query, default port dropped. */
  text: string;
}

const KEY = /^[A-Za-z0-9._~-]+$/;

/** The DSN of a Provider address (an http(s) URL already); throws an Error saying what is wrong, never echoing it. */
export function parseSentryDsn(url: URL): SentryDsn {
  if (!url.username) throw new Error("no public key: expected https://<key>@<host>/<project>");
  if (!KEY.test(url.username) || (url.password && !KEY.test(url.password)))
    throw new Error("a key holds characters other than letters, digits, '.', '_', '~' and '-'");
  const segments = url.pathname.slice(1).split("/");
  const project = segments.pop();
  if (!project) throw new Error("no project id: expected https://<key>@<host>/<project>");
  const path = segments.length > 0 ? `/${segments.join("/")}` : "";
  const origin = `${url.protocol}//${url.host}`;
  const keys = url.password ? `${url.username}:${url.password}` : url.username;
  return {
    publicKey: url.username,
    ...(url.password && { secretKey: url.password }),
    envelopeUrl: new URL(`${origin}${path}/api/${project}/envelope/`),
    text: `${url.protocol}//${keys}@${url.host}${path}/${project}`,
  };
}
