// A `WWW-Authenticate` header as a registry sends it with a 401 (RFC 7235): the scheme and its
// parameters, e.g. `Bearer realm="https://auth.example/token",service="registry.example",scope="…"`.

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The first challenge of a header; undefined when the header is absent or unreadable. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  const match = header && /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const pair = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = match[2]!;
  for (let found = pair.exec(rest); found; found = pair.exec(rest))
    params[found[1]!.toLowerCase()] = found[2] !== undefined ? found[2].replace(/\\(.)/g, "$1") : found[3]!;
  return { scheme: match[1]!.toLowerCase(), params };
}
