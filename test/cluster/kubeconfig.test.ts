import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { KubeconfigError, readKubeconfig } from "../../src/cluster/kubeconfig.js";

const b64 = (text: string) => Buffer.from(text).toString("base64");

/** What client-node 2.0 (which Sluice used before) makes of the same kubeconfig: the transport fields Sluice uses. */
async function clientNodeTransport(text: string, context?: string) {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  if (context) kc.setCurrentContext(context);
  const options: Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(options);
  const { ca, cert, key, rejectUnauthorized, servername, headers } = options;
  return {
    server: kc.getCurrentCluster()?.server,
    transport: JSON.parse(JSON.stringify({ ca, cert, key, rejectUnauthorized, servername, headers })) as unknown,
  };
}

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}) {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "main",
    clusters: [
      { name: "other", cluster: { server: "https://other.example:6443" } },
      { name: "c", cluster: { server: "https://api.example:6443/", ...cluster } },
    ],
    users: [{ name: "u", user }],
    contexts: [
      { name: "main", context: { cluster: "c", user: "u", namespace: "apps" } },
      { name: "side", context: { cluster: "other", user: "u" } },
    ],
  });
}

describe("kubeconfig reading (client-node 2.0's KubeConfig as the reference)", () => {
  it("gives the server and TLS settings client-node gives for data fields, a token and impersonation", async () => {
    // Prepare
    const text = kubeconfig(
      { token: "t0k3n", as: "alice", "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") },
      { "certificate-authority-data": b64("CA"), "tls-server-name": "kubernetes", "insecure-skip-tls-verify": true },
    );
    // Act
    const ours = readKubeconfig(text);
    // Assess
    const reference = await clientNodeTransport(text);
    expect(ours.server).toBe(reference.server);
    expect(JSON.parse(JSON.stringify(ours.transport))).toEqual(reference.transport);
    expect(ours).toMatchObject({ clusterName: "c", userName: "u", skipTLSVerify: true, runsCommand: false });
  });

  it("reads the file variants as client-node does, and a token file trimmed as client-go reads it", async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), "kubeconfig-"));
    for (const [name, body] of Object.entries({ ca: "CA", cert: "CERT", key: "KEY", token: "from-file\n" }))
      await writeFile(join(dir, name), body);
    const text = kubeconfig(
      { "token-file": join(dir, "token"), "client-certificate": join(dir, "cert"), "client-key": join(dir, "key") },
      { "certificate-authority": join(dir, "ca") },
    );
    // Act
    const ours = readKubeconfig(text);
    // Assess
    expect(ours.transport.ca?.toString()).toBe("CA");
    expect(ours.transport.cert?.toString()).toBe("CERT");
    expect(ours.transport.key?.toString()).toBe("KEY");
    expect(ours.transport.headers).toEqual({ Authorization: "Bearer from-file" });
  });

  it("refuses, for a kubeconfig from a Secret, every field naming a file of Sluice's machine, and reads none", async () => {
    // Prepare: the file a tenant would aim at (a service account token of the machine running Sluice).
    const dir = await mkdtemp(join(tmpdir(), "kubeconfig-"));
    const token = join(dir, "token");
    await writeFile(token, "machine-token");
    const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
      [{ "token-file": token }, {}, 'kubeconfig user "u" sets token-file'],
      [{ token: "t", "client-certificate": token }, {}, 'kubeconfig user "u" sets client-certificate'],
      [{ token: "t", "client-key": token }, {}, 'kubeconfig user "u" sets client-key'],
      [{ token: "t" }, { "certificate-authority": token }, 'kubeconfig cluster "c" sets certificate-authority'],
    ];
    for (const [user, cluster, message] of cases) {
      // Act
      const read = () => readKubeconfig(kubeconfig(user, cluster), undefined, { localFiles: false });
      // Assess
      expect(read).toThrow(KubeconfigError);
      expect(read).toThrow(message);
      expect(read).not.toThrow("machine-token");
    }
    // The operator's own kubeconfig may name files; inline data is fine from a Secret.
    expect(readKubeconfig(kubeconfig({ "token-file": token })).transport.headers).toEqual({
      Authorization: "Bearer machine-token",
    });
    const inline = readKubeconfig(kubeconfig({ token: "t" }, { "certificate-authority-data": b64("CA") }), undefined, {
      localFiles: false,
    });
    expect(inline.transport.ca?.toString()).toBe("CA");
  });

  it("uses the named context over the current one, and sends username and password as Basic auth", () => {
    // Act
    const side = readKubeconfig(kubeconfig({ username: "admin", password: "s3cret" }), "side");
    // Assess
    expect(side.server).toBe("https://other.example:6443");
    expect(side.transport.headers).toEqual({ Authorization: `Basic ${b64("admin:s3cret")}` });
  });

  it("flags exec plugins and auth providers for the caller to refuse", () => {
    // Act + Assess
    expect(readKubeconfig(kubeconfig({ exec: { command: "/bin/sh" } })).runsCommand).toBe(true);
    expect(readKubeconfig(kubeconfig({ "auth-provider": { name: "oidc" } })).runsCommand).toBe(true);
  });

  it("refuses hostile or broken kubeconfigs naming the entry or field, as client-node words it", () => {
    // Prepare
    const cases: [string, string | undefined, RegExp][] = [
      ["- just\n- a list\n", undefined, /kubeconfig is not valid: not a YAML mapping/],
      ["42", undefined, /not a YAML mapping/],
      ["clusters: [{cluster: {server: https://x}}]", undefined, /clusters\[0\]\.name is missing/],
      ["clusters: [{name: c}]", undefined, /clusters\[0\]\.cluster is missing/],
      ["clusters: [{name: c, cluster: {}}]", undefined, /clusters\[0\]\.cluster\.server is missing/],
      ["users: [{user: {token: x}}]", undefined, /users\[0\]\.name is missing/],
      ["contexts: [{name: x, context: {user: u}}]", undefined, /contexts\[0\]\.context\.cluster is missing/],
      [kubeconfig({ token: "t" }), "prod", /kubeconfig has no context "prod"/],
      [
        "clusters: []\ncontexts: [{name: a, context: {cluster: gone}}]\ncurrent-context: a",
        undefined,
        /context "a" names no cluster/,
      ],
      ["kind: Config", undefined, /context "undefined" names no cluster/],
    ];
    // Act + Assess
    for (const [text, context, message] of cases) {
      expect(() => readKubeconfig(text, context), text).toThrow(KubeconfigError);
      expect(() => readKubeconfig(text, context), text).toThrow(message);
    }
  });

  it("never puts a token or password into an error", () => {
    // Prepare: a broken entry next to a user holding secrets.
    const text = stringify({
      users: [{ name: "u", user: { token: "SECRET-TOKEN", password: "SECRET-PW" } }],
      clusters: [{ name: "c" }],
    });
    // Act + Assess
    expect(() => readKubeconfig(text)).toThrow(/clusters\[0\]\.cluster is missing/);
    try {
      readKubeconfig(text);
    } catch (error) {
      expect(String((error as Error).message)).not.toMatch(/SECRET/);
    }
  });
});
