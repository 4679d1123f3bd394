import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowcontrolApiserverV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ClusterConfigError, connect } from "../../src/cluster/connect.js";
import { serviceAccount } from "../../src/cluster/cluster.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";

const kube = inject("testbed").kube;

describe(`cluster clients for target clusters (kube-apiserver ${kube.version})`, () => {
  it("connects with a server, CA and bearer token", async () => {
    // Prepare
    const client = await connect({ server: kube.server, caPem: kube.caPem, token: kube.token });
    // Act
    const version = await client.send<{ gitVersion: string }>({ method: "GET", path: "/version" });
    // Assess
    expect(version.gitVersion).toBe(kube.version);
  });

  it("reads a rotating service-account token from its file again, as a Pod's client must", async () => {
    // Prepare
    const file = join(await mkdtemp(join(tmpdir(), "sluice-token-")), "token");
    await writeFile(file, `${kube.token}\n`);
    const client = await connect({ server: kube.server, caPem: kube.caPem, tokenFile: file }, { tokenRefreshMs: 0 });
    const list = () => client.send<{ items: unknown[] }>({ method: "GET", path: "/api/v1/namespaces" });
    // Act + Assess
    expect((await list()).items.length).toBeGreaterThan(0);
    await writeFile(file, "revoked-token\n");
    await expect(list()).rejects.toMatchObject({ status: 401 });
    await writeFile(file, kube.token);
    expect((await list()).items.length).toBeGreaterThan(0);
  });

  it("asks a token source before every request, so an expiring token (EKS: 15 minutes) is replaced in a long-lived client", async () => {
    // Prepare
    let current = kube.token;
    let asked = 0;
    const client = await connect({
      server: kube.server,
      caPem: kube.caPem,
      tokenSource: async () => (asked++, current),
    });
    const list = () => client.send<{ items: unknown[] }>({ method: "GET", path: "/api/v1/namespaces" });
    // Act + Assess
    expect((await list()).items.length).toBeGreaterThan(0);
    current = "expired-token";
    await expect(list()).rejects.toMatchObject({ status: 401 });
    current = kube.token;
    expect((await list()).items.length).toBeGreaterThan(0);
    expect(asked).toBe(3);
  });

  it("connects with kubeconfig content and verifies the server against its CA", async () => {
    // Prepare
    const client = await connect({ kubeconfig: kube.kubeconfig, context: "sluice-testbed" });
    const untrusted = await connect({ server: kube.server, caPem: "", token: kube.token });
    // Act
    const namespaces = await client.send<{ items: unknown[] }>({ method: "GET", path: "/api/v1/namespaces" });
    // Assess
    expect(namespaces.items.length).toBeGreaterThan(0);
    await expect(untrusted.send({ method: "GET", path: "/version" })).rejects.toThrow(/certificate/i);
  });

  it("refuses kubeconfigs that would run an exec plugin, and names missing contexts", async () => {
    // Prepare
    const exec = kube.kubeconfig.replace(
      / {4}token: .*/,
      "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [-c, 'echo pwned']",
    );
    // Act + Assess
    await expect(connect({ kubeconfig: exec })).rejects.toThrow(ClusterConfigError);
    await expect(connect({ kubeconfig: exec })).rejects.toThrow(
      /uses an exec plugin or auth provider, which Sluice does not run/,
    );
    await expect(connect({ kubeconfig: kube.kubeconfig, context: "prod" })).rejects.toThrow(
      /kubeconfig has no context "prod"/,
    );
  });
});

describe(`API Priority and Fairness (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  const flowcontrol = adminKubeConfig(kube).makeApiClient(FlowcontrolApiserverV1Api);
  const name = `sluice-throttle-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    ns = await freshNamespace(kube, "apf");
    // A priority level with the smallest share that rejects rather than queues, for one service account.
    await flowcontrol.createPriorityLevelConfiguration({
      body: {
        metadata: { name },
        spec: {
          type: "Limited",
          limited: { nominalConcurrencyShares: 1, lendablePercent: 0, limitResponse: { type: "Reject" } },
        },
      },
    });
    await flowcontrol.createFlowSchema({
      body: {
        metadata: { name },
        spec: {
          priorityLevelConfiguration: { name },
          matchingPrecedence: 100,
          rules: [
            {
              subjects: [{ kind: "ServiceAccount", serviceAccount: { name: "throttled", namespace: ns.name } }],
              nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
            },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await flowcontrol.deleteFlowSchema({ name });
    await flowcontrol.deletePriorityLevelConfiguration({ name });
    await ns.remove();
  });

  it("retries 429 answers after Retry-After until every request succeeds", async () => {
    // Prepare: the flow schema takes effect asynchronously; wait until this identity gets throttled
    const client = await connect(
      { kubeconfig: kube.kubeconfig },
      { impersonate: serviceAccount(ns.name, "throttled"), maxConcurrency: 128, maxAttempts: 30 },
    );
    const burst = () =>
      Promise.all(Array.from({ length: 128 }, () => client.send({ method: "GET", path: "/version" })));
    // Act: bursts (a short pause between them lets the new flow schema take effect) until throttled
    let results: unknown[] = [];
    for (let round = 0; round < 50 && client.counts.throttled === 0; round++) {
      results = await burst();
      await new Promise((r) => setTimeout(r, 100));
    }
    // Assess
    expect(client.counts.throttled).toBeGreaterThan(0);
    expect(results).toHaveLength(128);
    expect(results.every((r) => (r as { gitVersion?: string }).gitVersion === kube.version)).toBe(true);
  });
});
