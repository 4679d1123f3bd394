import { generateKeyPair, SignJWT, UnsecuredJWT, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cognitoKeys, verifyAccessToken, type CognitoAudience } from "../../src/aws/cognito-token.js";
import { startTestIssuer, type TestIssuer } from "./cognito-issuer.js";

// The UI API's own check of Cognito access tokens, against a loopback JWKS: what it accepts, and each token an
// attacker would try next.

let pool: TestIssuer;
let audience: CognitoAudience;
const verify = async (authorization: string | undefined) =>
  verifyAccessToken(authorization, audience, await cognitoKeys(audience.issuer));

beforeAll(async () => {
  pool = await startTestIssuer();
  audience = { issuer: pool.issuer, clientId: pool.clientId };
});
afterAll(() => pool.close());

describe("Cognito access tokens for the UI's API", () => {
  it("accepts the pool's access token for the UI's client and names the actor by username", async () => {
    expect(await verify(`Bearer ${await pool.token("alice")}`)).toEqual({ actor: "cognito:alice" });
  });

  it("refuses a request with no token, another scheme, or a token that is not a JWT", async () => {
    for (const header of [undefined, "", "Basic YWxpY2U6cHc=", "Bearer", "Bearer not-a-jwt"])
      expect(await verify(header)).toEqual({ refused: "no bearer token: sign in first" });
  });

  it("refuses a token signed by another key under the pool's key id (forged signature)", async () => {
    const forged = await pool.token("alice", { key: pool.strangerKey });
    expect(await verify(`Bearer ${forged}`)).toEqual({
      refused: expect.stringMatching(/signature verification failed/),
    });
  });

  it("refuses a token whose payload was edited after signing (another username)", async () => {
    const [header, payload, signature] = (await pool.token("alice")).split(".");
    const edited = { ...(JSON.parse(Buffer.from(payload!, "base64url").toString()) as object), username: "admin" };
    const forged = `${header}.${Buffer.from(JSON.stringify(edited)).toString("base64url")}.${signature}`;
    expect(await verify(`Bearer ${forged}`)).toEqual({
      refused: expect.stringMatching(/signature verification failed/),
    });
  });

  it("refuses an expired token, and one not valid yet", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await pool.token("alice", { claims: { iat: now - 7200, exp: now - 60 } });
    expect(await verify(`Bearer ${expired}`)).toEqual({
      refused: expect.stringMatching(/"exp" claim timestamp check failed/),
    });
    const early = await pool.token("alice", { claims: { nbf: now + 600 } });
    expect(await verify(`Bearer ${early}`)).toEqual({
      refused: expect.stringMatching(/"nbf" claim timestamp check failed/),
    });
  });

  it("refuses a token for another app client, an ID token, and one from another issuer", async () => {
    const otherClient = await pool.token("alice", { claims: { client_id: "other-app" } });
    expect(await verify(`Bearer ${otherClient}`)).toEqual({
      refused: "invalid access token: issued to another app client",
    });
    const idToken = await pool.token("alice", { claims: { token_use: "id", aud: pool.clientId } });
    expect(await verify(`Bearer ${idToken}`)).toEqual({ refused: "invalid access token: token_use is not 'access'" });
    const otherPool = await pool.token("alice", { claims: { iss: "https://cognito-idp.eu-west-1.amazonaws.com/x" } });
    expect(await verify(`Bearer ${otherPool}`)).toEqual({ refused: expect.stringMatching(/unexpected "iss" claim/) });
  });

  it("refuses alg none, and HS256 signed with the pool's public key as the HMAC secret", async () => {
    const claims = JSON.parse(
      Buffer.from((await pool.token("alice")).split(".")[1]!, "base64url").toString(),
    ) as JWTPayload;
    const unsigned = new UnsecuredJWT(claims).encode();
    expect(await verify(`Bearer ${unsigned}`)).toMatchObject({ refused: expect.any(String) });
    const published = (await (await fetch(`${pool.issuer}/.well-known/jwks.json`)).json()) as { keys: object[] };
    const secret = new TextEncoder().encode(JSON.stringify(published.keys[0]));
    const hmac = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "pool-1" }).sign(secret);
    expect(await verify(`Bearer ${hmac}`)).toEqual({ refused: expect.stringMatching(/alg/) });
  });

  it("refuses a token without a username, or with one no Cognito pool would issue (control characters)", async () => {
    const none = await pool.token("alice", { claims: { username: undefined } });
    expect(await verify(`Bearer ${none}`)).toEqual({ refused: expect.stringMatching(/"username" claim/) });
    const forgedLine = await pool.token("alice\nactor: admin");
    expect(await verify(`Bearer ${forgedLine}`)).toEqual({
      refused: "invalid access token: username is not a Cognito username",
    });
  });

  it("refuses a token signed by a key the pool does not publish, under a key id of its own", async () => {
    const pair = await generateKeyPair("RS256");
    const token = await pool.token("alice", { key: pair.privateKey, kid: "attacker-1" });
    expect(await verify(`Bearer ${token}`)).toEqual({ refused: expect.stringMatching(/no applicable key found/) });
  });
});
