import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { KubeClient } from "../../src/cluster/kube-client.js";
import { kubeconfigFor } from "../../src/helm/kubeconfig.js";

const CA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nkey\n-----END EC PRIVATE KEY-----\n";
const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("a kubeconfig for helm equivalent to a KubeClient", () => {
  it("carries the CA, client certificate, TLS settings and impersonation of a kubeconfig-made client", async () => {
    // Prepare: what client-node's applyToHTTPSOptions hands KubeClient for a certificate user
    const client = new KubeClient(
      "https://cluster.example:6443",
      { ca: Buffer.from(CA), cert: Buffer.from(CERT), key: Buffer.from(KEY), servername: "api.internal" },
      { impersonate: { user: "system:serviceaccount:apps:deployer", groups: ["system:serviceaccounts"] } },
    );
    // Act
    const config = JSON.parse(kubeconfigFor(await client.connectionSettings(), "apps")) as Record<string, unknown>;
    // Assess
    expect(config).toEqual({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "sluice",
          cluster: {
            server: "https://cluster.example:6443",
            "certificate-authority-data": b64(CA),
            "tls-server-name": "api.internal",
          },
        },
      ],
      users: [
        {
          name: "sluice",
          user: {
            "client-certificate-data": b64(CERT),
            "client-key-data": b64(KEY),
            as: "system:serviceaccount:apps:deployer",
            "as-groups": ["system:serviceaccounts"],
          },
        },
      ],
      contexts: [{ name: "sluice", context: { cluster: "sluice", user: "sluice", namespace: "apps" } }],
      "current-context": "sluice",
    });
  });

  it("asks the token source and reads the token file when the kubeconfig is made, not before", async () => {
    // Prepare
    let issued = 0;
    const fromSource = new KubeClient(
      "https://a.example",
      { ca: CA },
      { bearerTokenSource: async () => `t${++issued}` },
    );
    const file = join(await mkdtemp(join(tmpdir(), "sluice-token-")), "token");
    await writeFile(file, "old\n");
    const fromFile = new KubeClient("https://b.example", { ca: CA }, { bearerTokenFile: file });
    await writeFile(file, "rotated\n");
    // Act
    const first = JSON.parse(kubeconfigFor(await fromSource.connectionSettings()));
    const second = JSON.parse(kubeconfigFor(await fromSource.connectionSettings()));
    const rotated = JSON.parse(kubeconfigFor(await fromFile.connectionSettings()));
    // Assess
    expect(first.users[0].user).toEqual({ token: "t1" });
    expect(second.users[0].user).toEqual({ token: "t2" });
    expect(rotated.users[0].user).toEqual({ token: "rotated" });
    expect(first.clusters[0].cluster["insecure-skip-tls-verify"]).toBeUndefined();
  });

  it("keeps an insecure kubeconfig insecure, and refuses basic auth rather than dropping it", async () => {
    // Prepare
    const insecure = new KubeClient("https://c.example", {
      rejectUnauthorized: false,
      headers: { Authorization: "Bearer abc" },
    });
    const basic = new KubeClient("https://d.example", { headers: { authorization: "Basic dTpw" } });
    // Act
    const config = JSON.parse(kubeconfigFor(await insecure.connectionSettings()));
    const refused = await basic.connectionSettings().catch((error: Error) => error);
    // Assess
    expect(config.clusters[0].cluster).toEqual({ server: "https://c.example", "insecure-skip-tls-verify": true });
    expect(config.users[0].user).toEqual({ token: "abc" });
    expect((refused as Error).message).toBe(
      "https://d.example: only bearer tokens and client certificates can be handed to another client",
    );
  });

  it("never prints the credentials of connection settings", async () => {
    // Prepare
    const client = new KubeClient("https://e.example", { key: KEY, headers: { authorization: "Bearer s3cr3t-token" } });
    // Act
    const settings = await client.connectionSettings();
    const printed = [String(settings), JSON.stringify(settings), inspect(settings), `${settings}`];
    // Assess
    for (const text of printed) {
      expect(text).toContain("https://e.example");
      expect(text).not.toContain("s3cr3t-token");
      expect(text).not.toContain("PRIVATE KEY");
    }
    expect(settings.bearerToken).toBe("s3cr3t-token");
  });
});
