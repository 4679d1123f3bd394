import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { forwardProxy, type ForwardProxy } from "./forward-proxy.js";
import { alert, event, harness, NS, provider, selfSignedCertificate, type Harness } from "./harness.js";
import { recordingServer, type RecordingServer } from "./recording-server.js";

// Provider proxies (spec.proxySecretRef; the deprecated spec.proxy and the secretRef's `proxy` key)
// as notification-controller v1.9.3's createNotifier reads them and Go's http.Transport uses them:
// an http:// endpoint asked of the proxy in absolute form, an https:// one through CONNECT, both
// with Proxy-Authorization. A real forward proxy and real endpoints on loopback.

const PROXY_USER = "proxy-user-7f3a";
const PROXY_PASSWORD = "proxy-pass-c91e";
let endpoint: RecordingServer;
let proxy: ForwardProxy;
let h: Harness;

beforeEach(async () => {
  endpoint = await recordingServer();
  proxy = await forwardProxy({ username: PROXY_USER, password: PROXY_PASSWORD });
  h = await harness();
});
afterEach(async () => {
  await endpoint.close();
  await proxy.close();
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("Provider proxies", () => {
  it("proxySecretRef: an http endpoint is asked of the proxy in absolute form with basic auth, and the proxy's credentials never reach the endpoint", async () => {
    h.secretData[`${NS}/proxy`] = { address: proxy.url, username: PROXY_USER, password: PROXY_PASSWORD };
    await h.register(
      provider("hook", { type: "generic", address: `${endpoint.url}/hook`, proxySecretRef: { name: "proxy" } }),
      alert("all", "hook"),
    );
    await h.send(event());
    expect(h.failures()).toEqual([]);
    expect(proxy.requests).toMatchObject([
      {
        method: "POST",
        target: `${endpoint.url}/hook`,
        headers: { "proxy-authorization": basic(PROXY_USER, PROXY_PASSWORD) },
      },
    ]);
    expect(endpoint.requests.map((r) => r.path)).toEqual(["/hook"]);
    expect(endpoint.requests[0]?.headers["proxy-authorization"]).toBeUndefined();
  });

  it("an https endpoint goes through a CONNECT tunnel, TLS end to end (the endpoint's certificate trusted through certSecretRef)", async () => {
    const pem = await selfSignedCertificate();
    const tls = await recordingServer(pem);
    try {
      h.secretData[`${NS}/proxy`] = { address: proxy.url, username: PROXY_USER, password: PROXY_PASSWORD };
      h.secretData[`${NS}/ca`] = { "ca.crt": pem.cert };
      await h.register(
        provider("hook", {
          type: "slack",
          address: `${tls.url}/services/T/B/X`,
          proxySecretRef: { name: "proxy" },
          certSecretRef: { name: "ca" },
        }),
        alert("all", "hook"),
      );
      await h.send(event());
      expect(h.failures()).toEqual([]);
      const authority = tls.url.replace("https://", "");
      expect(proxy.requests).toMatchObject([
        { method: "CONNECT", target: authority, headers: { "proxy-authorization": basic(PROXY_USER, PROXY_PASSWORD) } },
      ]);
      expect(tls.requests.map((r) => r.path)).toEqual(["/services/T/B/X"]);
    } finally {
      await tls.close();
    }
  });

  it("a proxy refusing the credentials (407) fails the delivery, and neither the proxy's username nor its password is in the event or the logs", async () => {
    const pem = await selfSignedCertificate();
    const tls = await recordingServer(pem);
    try {
      h.secretData[`${NS}/proxy`] = { address: proxy.url, username: PROXY_USER, password: "wrong-secret-1b2c" };
      h.secretData[`${NS}/ca`] = { "ca.crt": pem.cert };
      await h.register(
        provider("plain", { type: "generic", address: endpoint.url, proxySecretRef: { name: "proxy" }, timeout: "1s" }),
        provider("tunnel", {
          type: "generic",
          address: tls.url,
          proxySecretRef: { name: "proxy" },
          certSecretRef: { name: "ca" },
          timeout: "1s",
        }),
        alert("plain", "plain"),
        alert("tunnel", "tunnel"),
      );
      await h.send(event());
      expect(endpoint.requests).toEqual([]);
      expect(tls.requests).toEqual([]);
      expect(h.failures().sort()).toEqual([
        expect.stringMatching(/the proxy refused the tunnel: CONNECT answered 407/),
        expect.stringMatching(/request failed with status code 407/),
      ]);
      const written = JSON.stringify(h.recorded) + h.logs.join("");
      for (const secret of [PROXY_USER, "wrong-secret-1b2c"]) expect(written).not.toContain(secret);
    } finally {
      await tls.close();
    }
  });

  it("the deprecated spec.proxy, credentials in its URL, and the secretRef's `proxy` key over it", async () => {
    const inUrl = proxy.url.replace("http://", `http://${PROXY_USER}:${PROXY_PASSWORD}@`);
    h.secretData[`${NS}/hook`] = { proxy: inUrl };
    await h.register(
      provider("spec", { type: "generic", address: `${endpoint.url}/spec`, proxy: inUrl }),
      provider("key", {
        type: "generic",
        address: `${endpoint.url}/key`,
        proxy: "http://127.0.0.1:9",
        secretRef: { name: "hook" },
      }),
      alert("spec", "spec"),
      alert("key", "key"),
    );
    await h.send(event());
    expect(h.failures()).toEqual([]);
    expect(proxy.requests.map((r) => [r.target, r.headers["proxy-authorization"]]).sort()).toEqual([
      [`${endpoint.url}/key`, basic(PROXY_USER, PROXY_PASSWORD)],
      [`${endpoint.url}/spec`, basic(PROXY_USER, PROXY_PASSWORD)],
    ]);
  });

  it("a proxy URL Sluice cannot use is refused naming the field: a bad scheme, SOCKS5, no address key; nothing is sent", async () => {
    h.secretData[`${NS}/ftp`] = { address: "ftp://127.0.0.1:21", password: PROXY_PASSWORD };
    h.secretData[`${NS}/socks`] = { address: "socks5://127.0.0.1:1080" };
    h.secretData[`${NS}/none`] = { username: PROXY_USER };
    h.secretData[`${NS}/hook`] = { proxy: "gopher://127.0.0.1:70" };
    await h.register(
      provider("ftp", { type: "generic", address: endpoint.url, proxySecretRef: { name: "ftp" } }),
      provider("socks", { type: "generic", address: endpoint.url, proxySecretRef: { name: "socks" } }),
      provider("none", { type: "generic", address: endpoint.url, proxySecretRef: { name: "none" } }),
      provider("key", { type: "generic", address: endpoint.url, secretRef: { name: "hook" } }),
      ...["ftp", "socks", "none", "key"].map((name) => alert(name, name)),
    );
    await h.send(event());
    expect(endpoint.requests).toEqual([]);
    expect(h.failures().sort()).toEqual([
      expect.stringContaining(
        `failed to get proxy URL: secret '${NS}/none': key 'address' not found (spec.proxySecretRef)`,
      ),
      expect.stringContaining(
        `invalid proxy in the 'address' key of secret '${NS}/ftp' (spec.proxySecretRef): proxy URL must use one of the supported schemes (http, https, socks5), got 'ftp'`,
      ),
      expect.stringContaining(
        `invalid proxy in the 'address' key of secret '${NS}/socks' (spec.proxySecretRef): a SOCKS5 proxy is not supported by Sluice yet`,
      ),
      expect.stringContaining(
        `invalid proxy in the 'proxy' key of secret '${NS}/hook': proxy URL must use one of the supported schemes`,
      ),
    ]);
    expect(JSON.stringify(h.recorded)).not.toContain(PROXY_PASSWORD);
  });

  it("attacker: a proxy does not carry Sluice past the network guard, to the metadata address or to a proxy on a private network", async () => {
    h.secretData[`${NS}/proxy`] = { address: proxy.url, username: PROXY_USER, password: PROXY_PASSWORD };
    await h.register(
      provider("metadata", {
        type: "generic",
        address: "http://169.254.169.254/latest/meta-data/",
        proxySecretRef: { name: "proxy" },
      }),
      provider("tunnel", {
        type: "generic",
        address: "https://[::ffff:169.254.169.254]/",
        proxySecretRef: { name: "proxy" },
      }),
      alert("metadata", "metadata"),
      alert("tunnel", "tunnel"),
    );
    const started = Date.now();
    await h.send(event());
    expect(Date.now() - started, "a refused address is not retried").toBeLessThan(1_800);
    expect(proxy.requests).toEqual([]);
    // The two deliveries run at once, so their failures come in either order.
    expect(h.failures()).toHaveLength(2);
    expect(h.failures()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/address 169\.254\.169\.254 is link-local\/metadata and never fetched/),
        expect.stringMatching(/address ::ffff:a9fe:a9fe is link-local\/metadata and never fetched/),
      ]),
    );

    const guarded = await harness({ allowPrivateNetworks: false });
    guarded.secretData[`${NS}/proxy`] = { address: proxy.url };
    await guarded.register(
      provider("hook", { type: "generic", address: "https://example.com/hook", proxySecretRef: { name: "proxy" } }),
      alert("all", "hook"),
    );
    await guarded.send(event());
    expect(proxy.requests).toEqual([]);
    expect(guarded.failures()).toEqual([expect.stringMatching(/private address 127\.0\.0\.1 .*refused/)]);
  });
});
