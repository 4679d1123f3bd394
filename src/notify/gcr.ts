import type { JWTVerifyGetKey } from "jose";
import { decodesGcrPush } from "./registry-payloads.js";

// The gcr Receiver, as notification-controller v1.9.3 checks it (receiver_handlers.go): Artifact/Container
// Registry publishes to Pub/Sub, whose push subscription POSTs with `Authorization: Bearer <Google OIDC ID
// token>`. The token must be signed by Google (google.golang.org/api/idtoken: RS256 or ES256, not expired,
// `aud` the Secret's `audience`), issued by accounts.google.com, for the Secret's `email`, with that email
// verified; then the body must decode as the Pub/Sub envelope whose base64 `message.data` is the registry's
// event. Every refusal is answered 400, as Flux answers whatever validate returns.

/** Where Google publishes the keys that sign its OIDC ID tokens (idtoken's googleSACertsURL). */
const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs";
const GOOGLE_ISSUERS = ["accounts.google.com", "https://accounts.google.com"];

/** The Receiver Secret's `email` and `audience`, as the worker published them (empty when the Secret lacks one). */
export interface GcrIdentity {
  email: string;
  audience: string;
}

let googleKeys: JWTVerifyGetKey | undefined;

/**
 * jose, loaded by the first gcr delivery: the webhook function's other Receiver types never evaluate it.
 */
const jose = () => import("jose");

/** Google's keys, fetched when first needed and cached by jose (fetched again for an unknown key id). */
async function googleKeySet(): Promise<JWTVerifyGetKey> {
  return (googleKeys ??= (await jose()).createRemoteJWKSet(new URL(GOOGLE_JWKS_URL)));
}

/**
 * Why a gcr delivery is refused, or undefined when it is accepted. `keys` is Google's key set; only
 * tests give another (a loopback JWKS server), and the issuer is checked against Google's names all the same.
 */
export async function gcrRefusal(
  identity: GcrIdentity | undefined,
  authorization: string,
  body: Buffer,
  keys?: JWTVerifyGetKey,
): Promise<string | undefined> {
  if (!identity?.email) return "invalid secret data: required field 'email' for GCR receiver";
  if (!identity.audience) return "invalid secret data: required field 'audience' for GCR receiver";
  const refused = await tokenRefusal(authorization, identity, keys ?? (await googleKeySet()));
  if (refused) return `cannot authenticate GCR request: ${refused}`;
  return decodesGcrPush(body) ? undefined : "cannot decode GCR webhook body";
}

async function tokenRefusal(authorization: string, expected: GcrIdentity, keys: JWTVerifyGetKey) {
  const prefix = "Bearer ";
  if (!authorization.startsWith(prefix)) return "the Authorization header is missing or malformed";
  const token = authorization.slice(prefix.length);
  const { decodeJwt, jwtVerify } = await jose();
  let claims: Record<string, unknown>;
  try {
    // Only the algorithms idtoken accepts: `none` and HMAC (signed with a public key as secret) are refused.
    ({ payload: claims } = await jwtVerify(token, keys, {
      algorithms: ["RS256", "ES256"],
      audience: expected.audience,
    }));
  } catch (error) {
    const audience = claimedAudience(token, decodeJwt);
    return `invalid ID token: audience is '${audience}', want '${expected.audience}': ${(error as Error).message}`;
  }
  const issuer = typeof claims.iss === "string" ? claims.iss : "";
  if (!GOOGLE_ISSUERS.includes(issuer))
    return `token issuer is '${issuer}', want 'accounts.google.com' or 'https://accounts.google.com'`;
  const email = typeof claims.email === "string" ? claims.email : "";
  if (email !== expected.email) return `token email is '${email}', want '${expected.email}'`;
  if (claims.email_verified !== true) return `token email '${email}' is not verified`;
  return undefined;
}

/** The `aud` an unverified token claims, for the refusal's message as Flux logs it. */
function claimedAudience(token: string, decodeJwt: (token: string) => { aud?: unknown }): string {
  try {
    const { aud } = decodeJwt(token);
    return typeof aud === "string" && aud !== "" ? aud : "<unknown>";
  } catch {
    return "<unknown>";
  }
}
