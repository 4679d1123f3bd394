import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAwsUi } from "../../scripts/build-ui.js";
import { launchChromium } from "./chromium.js";

// The AWS deployment's page (scripts/build-ui.ts) in Debian's Chromium: its Cognito sign-in (authorization code with
// PKCE) against a loopback stand-in for Cognito's hosted endpoints, and the token on the page's API requests.

const TOKEN = "access-token-of-alice";
let site: Server;
let cognito: Server;
let siteUrl: string;
let loginUrl: string;
let context: BrowserContext;
const apiAuthorizations: string[] = [];
const exchanges: URLSearchParams[] = [];
let challenge = "";

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = "";
    req.on("data", (chunk: Buffer) => (text += chunk.toString())).on("end", () => resolve(text));
  });

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-aws-ui-"));
  await buildAwsUi(dir);
  cognito = createServer((req, res) => {
    const url = new URL(req.url!, "http://cognito.invalid");
    if (url.pathname === "/oauth2/authorize") {
      challenge = url.searchParams.get("code_challenge") ?? "";
      const back = new URL(url.searchParams.get("redirect_uri")!);
      back.search = new URLSearchParams({ code: "code-1", state: url.searchParams.get("state")! }).toString();
      return void res.writeHead(302, { location: back.toString() }).end();
    }
    if (url.pathname === "/oauth2/token" && req.method === "POST")
      return void body(req).then((text) => {
        const form = new URLSearchParams(text);
        exchanges.push(form);
        res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": siteUrl });
        res.end(JSON.stringify({ access_token: TOKEN, expires_in: 3600, token_type: "Bearer" }));
      });
    res.writeHead(404).end();
  });
  loginUrl = await listen(cognito);
  site = createServer((req, res) => {
    const path = new URL(req.url!, "http://site.invalid").pathname;
    if (path === "/config.json")
      return void res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ login: loginUrl, clientId: "ui-client", eventsLogGroup: "/aws/lambda/w" }));
    if (path.startsWith("/api/")) {
      apiAuthorizations.push(`${path} ${req.headers.authorization ?? "-"}`);
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end("{}");
      return void res.writeHead(200, { "content-type": "application/json" }).end("[]");
    }
    const file = path.startsWith("/assets/") ? path : "/index.html";
    const type = file.endsWith(".js") ? "text/javascript" : file.endsWith(".css") ? "text/css" : "text/html";
    void readFile(join(dir, file)).then(
      (content) => res.writeHead(200, { "content-type": type }).end(content),
      () => res.writeHead(404).end(),
    );
  });
  siteUrl = await listen(site);
  context = await launchChromium();
}, 120_000);
afterAll(async () => {
  await context?.close();
  site?.close();
  cognito?.close();
});

// Chromium on a loaded 2-core CI machine: each step has its own timeout, and the test a limit above their sum (a
// CI run hit the 60 s default in the second test without saying which step was slow).
const STEP_MS = 30_000;
const TEST_MS = 3 * STEP_MS + 10_000;

describe("the AWS page's Cognito sign-in in Chromium", () => {
  it(
    "signs in with PKCE, comes back to the deep link asked for, and sends the token on its API requests",
    async () => {
      const page = await context.newPage();
      // "commit", not "load": the page leaves for the sign-in at once, and the polls below are what count (on CI the
      // second test once hit its 60 s limit, as a 30 s wait for load and then the 30 s poll would).
      await page.goto(`${siteUrl}/sources`, { waitUntil: "commit", timeout: STEP_MS });
      await page.waitForURL(`${siteUrl}/sources`, { timeout: STEP_MS });
      await expect
        .poll(() => apiAuthorizations.includes(`/api/v1/sources Bearer ${TOKEN}`), { timeout: STEP_MS })
        .toBe(true);
      expect(exchanges).toHaveLength(1);
      const form = exchanges[0]!;
      expect(Object.fromEntries(form)).toMatchObject({
        grant_type: "authorization_code",
        client_id: "ui-client",
        code: "code-1",
        redirect_uri: `${siteUrl}/`,
      });
      // The verifier sent to the token endpoint is the one the challenge was made from (S256).
      expect(createHash("sha256").update(form.get("code_verifier")!).digest("base64url")).toBe(challenge);
      // Only the live stream goes without it (EventSource takes no header): refused, the page polls instead.
      expect(new Set(apiAuthorizations.filter((a) => !a.endsWith(`Bearer ${TOKEN}`)))).toEqual(
        new Set(["/api/v1/live -"]),
      );
      await page.close();
    },
    TEST_MS,
  );

  it(
    "does not exchange a code it did not ask for (a link carrying someone else's code and state)",
    async () => {
      const page = await context.newPage();
      const before = exchanges.length;
      await page.goto(`${siteUrl}/?code=stolen&state=guess`, { waitUntil: "commit", timeout: STEP_MS });
      // It signs in afresh instead: the stand-in hands back its own code, which is exchanged.
      await expect.poll(() => exchanges.length, { timeout: STEP_MS }).toBe(before + 1);
      expect(exchanges.map((f) => f.get("code"))).not.toContain("stolen");
      await page.close();
    },
    TEST_MS,
  );
});
