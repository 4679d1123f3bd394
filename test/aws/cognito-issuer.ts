import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";

// A stand-in for a Cognito user pool's token side, on loopback: its JWKS at `<issuer>/.well-known/jwks.json`, and
// access tokens shaped as Cognito issues them (RS256, kid, token_use, client_id, username), which a test can spoil
// one claim at a time.

export interface TestIssuer {
  issuer: string;
  clientId: string;
  /** An access token for `username`; `claims` override or add claims, `key` signs with another key. */
  token(username: string, options?: { claims?: JWTPayload; key?: CryptoKey; kid?: string }): Promise<string>;
  /** A key pair the pool does not publish: what an attacker signs with. */
  strangerKey: CryptoKey;
  close(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const pool = await generateKeyPair("RS256");
  const strangerKey = (await generateKeyPair("RS256")).privateKey;
  const jwk = { ...(await exportJWK(pool.publicKey)), kid: "pool-1", alg: "RS256", use: "sig" };
  const server: Server = createServer((req, res) => {
    if (req.url?.endsWith("/.well-known/jwks.json")) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/eu-west-1_TestPool`;
  const clientId = "ui-client-1";
  return {
    issuer,
    clientId,
    strangerKey,
    token: (username, { claims = {}, key = pool.privateKey, kid = "pool-1" } = {}) => {
      const now = Math.floor(Date.now() / 1000);
      const payload = { iss: issuer, sub: `sub-${username}`, iat: now, exp: now + 3600, token_use: "access" };
      return new SignJWT({ ...payload, client_id: clientId, username, scope: "openid", ...claims })
        .setProtectedHeader({ alg: "RS256", kid })
        .sign(key);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
