// The web UI deployed on AWS loads this before the app (scripts/build-ui.ts writes its index.html): it signs in
// through Cognito's hosted pages (authorization code with PKCE, a public client; /config.json names the sign-in
// domain and client) and sends the access token with the page's own /api/ requests. The token stays in
// sessionStorage (this tab), never in a cookie, so no other site can make the browser send it.

interface SignInConfig {
  login: string;
  clientId: string;
}
interface Pending {
  verifier: string;
  state: string;
  path: string;
}

const TOKEN = "sluice.accessToken";
const PENDING = "sluice.signIn";

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = (n: number) => base64url(crypto.getRandomValues(new Uint8Array(n)));

/** The access token: kept from this tab's sign-in, or just exchanged for the code Cognito sent back; else sign in. */
async function accessToken(): Promise<string> {
  const config = (await (await fetch("/config.json")).json()) as SignInConfig;
  const redirect = `${location.origin}/`;
  const answer = new URLSearchParams(location.search);
  const code = answer.get("code");
  if (code) {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null") as Pending | null;
    sessionStorage.removeItem(PENDING);
    // A code this tab did not ask for (another site's link) is not exchanged.
    if (pending && pending.state === answer.get("state")) {
      const exchanged = await fetch(`${config.login}/oauth2/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          client_id: config.clientId,
          code,
          redirect_uri: redirect,
          code_verifier: pending.verifier,
        }),
      });
      if (exchanged.ok) {
        const { access_token, expires_in } = (await exchanged.json()) as { access_token: string; expires_in: number };
        sessionStorage.setItem(TOKEN, JSON.stringify({ value: access_token, until: Date.now() + expires_in * 1000 }));
        // Back to the page the user asked for (a deep link), with the code out of the address bar.
        location.replace(pending.path);
        return new Promise(() => {});
      }
    }
  }
  const kept = JSON.parse(sessionStorage.getItem(TOKEN) ?? "null") as { value: string; until: number } | null;
  if (kept && kept.until - 60_000 > Date.now()) return kept.value;
  const pending: Pending = { verifier: random(32), state: random(16), path: location.pathname + location.hash };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier))),
  );
  location.assign(
    `${config.login}/oauth2/authorize?${new URLSearchParams({
      response_type: "code",
      client_id: config.clientId,
      redirect_uri: redirect,
      scope: "openid",
      state: pending.state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    })}`,
  );
  return new Promise(() => {}); // the page is leaving for the sign-in
}

const token = accessToken();
const ownFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input), location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/api/")) return ownFetch(input, init);
  const headers = new Headers(init?.headers);
  headers.set("authorization", `Bearer ${await token}`);
  const answer = await ownFetch(input, { ...init, headers });
  // Expired or revoked: sign in again.
  if (answer.status === 401) {
    sessionStorage.removeItem(TOKEN);
    location.reload();
  }
  return answer;
};
