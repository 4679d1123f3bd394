import type { JWTVerifyGetKey } from "jose";

// The web UI's API on AWS takes only Cognito access tokens of its own user pool and app client. API Gateway's JWT
// authorizer checks them before the function runs; the function checks them again here (defense in depth: a
// route or stage deployed without the authorizer still refuses), and names the actor from the verified claims.

/** The user pool and app client whose access tokens the UI's API accepts. */
export interface CognitoAudience {
  /** `https://cognito-idp.<region>.amazonaws.com/<user pool id>`: the tokens' `iss`, and where its keys are. */
  issuer: string;
  /** The UI's app client id: an access token's `client_id`. */
  clientId: string;
}

/** Who a request comes from, or why it is refused (never quoting the token). */
export type TokenVerdict = { actor: string } | { refused: string };

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;
/** Cognito usernames are at most 128 characters; anything longer, or with control characters, is not one. */
const USERNAME = /^[^\p{Cc}]{1,128}$/u;

const jose = () => import("jose");

/** The user pool's signing keys (its JWKS), fetched on first use and cached by jose (again for an unknown key id). */
export async function cognitoKeys(issuer: string): Promise<JWTVerifyGetKey> {
  return (await jose()).createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
}

/**
 * Checks `Authorization: Bearer <access token>`: RS256 (Cognito's only algorithm; `none` and HMAC refused), signed by
 * one of `keys`, issued by the pool, an access token (not an ID token, whose audience differs) for this app client,
 * not expired and not used before its time. The actor is `cognito:<username>`.
 */
export async function verifyAccessToken(
  authorization: string | undefined,
  audience: CognitoAudience,
  keys: JWTVerifyGetKey,
): Promise<TokenVerdict> {
  const token = BEARER.exec(authorization ?? "")?.[1];
  if (!token) return { refused: "no bearer token: sign in first" };
  const { jwtVerify } = await jose();
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, {
      algorithms: ["RS256"],
      issuer: audience.issuer,
      requiredClaims: ["exp", "iat", "sub", "client_id", "token_use", "username"],
    }));
  } catch (error) {
    return { refused: `invalid access token: ${(error as Error).message}` };
  }
  if (claims.token_use !== "access") return { refused: "invalid access token: token_use is not 'access'" };
  if (claims.client_id !== audience.clientId) return { refused: "invalid access token: issued to another app client" };
  const username = claims.username;
  if (typeof username !== "string" || !USERNAME.test(username))
    return { refused: "invalid access token: username is not a Cognito username" };
  return { actor: `cognito:${username}` };
}
