import type { UiRequest } from "./types.js";

/** The header every action must carry: an HTML form cannot set it, and a cross-origin script needs a preflight we refuse. */
export const ACTION_HEADER = "x-sluice-action";

/**
 * Why a request is refused, or undefined when it may go on. `hosts` are the `host[:port]` names the UI is served as
 * (lowercase): any other Host is a DNS-rebinding page that resolved its own name to our address, and is refused even
 * for reads. Writes must also come from the same origin: no Origin of another site, no browser-reported cross-site
 * fetch, and the custom header.
 */
export function refusal(request: UiRequest, hosts: readonly string[]): { status: number; message: string } | undefined {
  const host = request.headers.host?.toLowerCase();
  if (!host || !hosts.includes(host)) return { status: 421, message: "unknown Host: open the UI by its own address" };
  if (request.method === "GET" || request.method === "HEAD") return undefined;
  if (request.method !== "POST") return { status: 405, message: `${request.method} is not allowed` };
  const origin = request.headers.origin;
  if (origin !== undefined && !hosts.some((h) => origin === `http://${h}` || origin === `https://${h}`))
    return { status: 403, message: "cross-origin request refused" };
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") return { status: 403, message: "cross-site request refused" };
  if (request.headers[ACTION_HEADER] !== "1")
    return { status: 403, message: `actions need the ${ACTION_HEADER} header` };
  return undefined;
}
