import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { connect as tcpConnect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { promisify } from "node:util";
import { afterEach, describe, expect, inject, it } from "vitest";
import { openCluster } from "../../src/cluster/cluster.js";
import { KubeClient } from "../../src/cluster/kube-client.js";
import { ClusterUnreachableError } from "../../src/cluster/reachability.js";
import { systemClock } from "../../src/ports/clock.js";
import { clusterFactory } from "../../src/runtime/clusters.js";
import { silentServer } from "./clusters.js";

const kube = inject("testbed").kube;
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP front for the test bed's API server that can be switched off (it then resets every connection), counting connections. */
async function switchableProxy(): Promise<{
  server: string;
  up: boolean;
  connections: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const proxy = { server: "", up: true, connections: 0, close: async () => {} };
  const target = new URL(kube.server);
  const listener = createServer((client) => {
    proxy.connections++;
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    if (!proxy.up) return void client.resetAndDestroy();
    const upstream = tcpConnect(Number(target.port), target.hostname);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  proxy.server = `https://127.0.0.1:${(listener.address() as { port: number }).port}`;
  proxy.close = () => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), listener.close(() => resolve())));
  return proxy;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe(`cluster reachability: bounded connects and a short memory of dead endpoints (kube-apiserver ${kube.version})`, () => {
  it("gives up on a server that accepts and never answers after connectTimeoutMs, then fails at once until the memory expires", async () => {
    // Prepare
    const silent = await silentServer();
    closers.push(silent.close);
    const client = new KubeClient(
      silent.server,
      { ca: kube.caPem },
      { connectTimeoutMs: 300, unreachableMemoryMs: 1_000 },
    );
    const version = () => client.send({ method: "GET", path: "/version" });
    // Act + Assess: the first request waits for the connect timeout, not the 30 s request timeout
    let began = Date.now();
    await expect(version()).rejects.toThrow("no TLS handshake within 0.3s");
    expect(Date.now() - began).toBeLessThan(1_500);
    // Remembered: ten more requests fail at once without a connection attempt
    began = Date.now();
    const remembered = await Promise.allSettled(Array.from({ length: 10 }, version));
    expect(Date.now() - began).toBeLessThan(100);
    expect(remembered.every((r) => r.status === "rejected" && r.reason instanceof ClusterUnreachableError)).toBe(true);
    expect(silent.connections()).toBe(1);
    // Forgotten after the memory: one new attempt
    await sleep(1_100);
    await expect(version()).rejects.toThrow("no TLS handshake within 0.3s");
    expect(silent.connections()).toBe(2);
  });

  it("gives up on a server that completes TLS and then never answers after the request timeout, and remembers it", async () => {
    // Prepare: a TLS server with its own certificate that reads requests and never responds
    const dir = await mkdtemp(join(tmpdir(), "sluice-hung-"));
    const files = ["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")];
    const subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"];
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      ...files,
      "-days",
      "1",
      ...subject,
    ]);
    const [key, cert] = await Promise.all([readFile(join(dir, "key.pem")), readFile(join(dir, "cert.pem"), "utf8")]);
    let requests = 0;
    const hung = createTlsServer({ key, cert }, (socket) => socket.on("data", () => requests++));
    await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => hung.close(() => resolve())));
    const client = new KubeClient(
      `https://127.0.0.1:${(hung.address() as { port: number }).port}`,
      { ca: cert },
      { timeoutMs: 400 },
    );
    // Act + Assess
    await expect(client.send({ method: "GET", path: "/api" })).rejects.toThrow("GET /api: no response within 0.4s");
    await expect(client.send({ method: "GET", path: "/apis" })).rejects.toBeInstanceOf(ClusterUnreachableError);
    expect(requests).toBe(1);
  });

  it("remembers a name that does not resolve like any other dead endpoint", async () => {
    // Prepare
    const client = new KubeClient(
      "https://cluster.sluice-test.invalid:6443",
      { ca: kube.caPem },
      { connectTimeoutMs: 1_000 },
    );
    // Act + Assess
    await expect(client.send({ method: "GET", path: "/version" })).rejects.toThrow(
      /ENOTFOUND|EAI_AGAIN|no TLS handshake/,
    );
    await expect(client.send({ method: "GET", path: "/version" })).rejects.toThrow(
      /^is unreachable at https:\/\/cluster\.sluice-test\.invalid:6443: /,
    );
  });

  it("shares what it learnt with the clients it makes for other identities", async () => {
    // Prepare
    const silent = await silentServer();
    closers.push(silent.close);
    const admin = new KubeClient(silent.server, { ca: kube.caPem }, { connectTimeoutMs: 300 });
    const tenant = admin.impersonating({ user: "system:serviceaccount:team-a:reconciler" });
    // Act
    await expect(admin.send({ method: "GET", path: "/version" })).rejects.toThrow("no TLS handshake");
    // Assess
    await expect(tenant.send({ method: "GET", path: "/api/v1/namespaces" })).rejects.toBeInstanceOf(
      ClusterUnreachableError,
    );
    expect(silent.connections()).toBe(1);
  });

  it("does not mistake a certificate it cannot verify for a dead cluster", async () => {
    // Prepare: the right server, trusted with no CA at all
    const client = new KubeClient(kube.server, { ca: "" }, { connectTimeoutMs: 1_000 });
    // Act
    await expect(client.send({ method: "GET", path: "/version" })).rejects.toThrow(/certificate/i);
    // Assess: not remembered as unreachable, so the next request tries again (and gets the same honest error)
    expect(() => client.reachability.check()).not.toThrow();
    await expect(client.send({ method: "GET", path: "/version" })).rejects.toThrow(/certificate/i);
  });

  it("reads discovery again once a cluster that was down answers, instead of keeping the failure", async () => {
    // Prepare
    const proxy = await switchableProxy();
    closers.push(proxy.close);
    proxy.up = false;
    const cluster = await openCluster({ server: proxy.server, caPem: kube.caPem, token: kube.token }, systemClock, {
      unreachableMemoryMs: 300,
    });
    // Act + Assess
    await expect(cluster.discovery.find("v1", "ConfigMap")).rejects.toThrow(/ECONNRESET|socket hang up/);
    await expect(cluster.discovery.find("v1", "ConfigMap")).rejects.toBeInstanceOf(ClusterUnreachableError);
    proxy.up = true;
    await sleep(350);
    await expect(cluster.discovery.find("v1", "ConfigMap")).resolves.toMatchObject({
      resource: "configmaps",
      namespaced: true,
    });
  });

  it("hands out a cluster only once it has answered; a slow first connection asks the caller to come back instead of holding it", async () => {
    // Prepare
    const silent = await silentServer();
    closers.push(silent.close);
    const kubeconfig = kube.kubeconfig.replace(kube.server, silent.server);
    const secrets = { secret: async () => ({ value: kubeconfig }), configMap: async () => undefined };
    const factory = clusterFactory(undefined, secrets, systemClock, {
      connectGraceMs: 200,
      client: { connectTimeoutMs: 1_000 },
    });
    const request = {
      namespace: "apps",
      cluster: { name: "edge", kubeConfig: { secretRef: { name: "edge-kubeconfig" } } },
    };
    // Act + Assess: callers wait at most the grace, and learn when to come back
    const began = Date.now();
    const first = await factory(request).catch((error: unknown) => error);
    expect(Date.now() - began).toBeLessThan(600);
    expect(first).toMatchObject({ name: "ClusterConnectingError" });
    expect((first as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(500);
    expect((first as Error).message).toMatch(
      /^is not answering yet at https:\/\/127\.0\.0\.1:\d+ \(still connecting; retrying in \d+s\)$/,
    );
    // A caller arriving after the grace does not wait one of its own
    const late = Date.now();
    await expect(factory(request)).rejects.toMatchObject({ name: "ClusterConnectingError" });
    expect(Date.now() - late).toBeLessThan(100);
    await sleep(1_000);
    await expect(factory({ ...request, serviceAccountName: "reconciler" })).rejects.toBeInstanceOf(
      ClusterUnreachableError,
    );
    expect(silent.connections()).toBe(1);
  });

  it("connects to a registered cluster whose Secret is found, and names the registration when it is not", async () => {
    // Prepare
    const secret = async (ref: { namespace: string; name: string }) =>
      ref.name === "east-kubeconfig" ? { value: kube.kubeconfig } : undefined;
    const secrets = { secret, configMap: async () => undefined };
    const factory = clusterFactory(undefined, secrets, systemClock);
    // Act
    const east = await factory({
      namespace: "apps",
      cluster: { name: "east", kubeConfig: { secretRef: { name: "east-kubeconfig" } } },
    });
    const west = { name: "west", kubeConfig: { secretRef: { name: "west-kubeconfig" } } };
    const missing = await factory({ namespace: "apps", cluster: west }).catch((e: Error) => e);
    const eks = await factory({ namespace: "apps", cluster: { name: "prod", eks: { name: "prod" } } }).catch(
      (e: Error) => e,
    );
    // Assess
    expect((await east.client.send<{ gitVersion: string }>({ method: "GET", path: "/version" })).gitVersion).toBe(
      kube.version,
    );
    expect(missing).toMatchObject({
      message: "cluster 'west': spec.kubeConfig.secretRef: secret 'sluice-system/west-kubeconfig' not found",
    });
    expect(eks).toMatchObject({
      message:
        "cluster 'prod': spec.eks: EKS clusters are reached by the AWS control plane's worker; with sluice run, register a kubeconfig (spec.kubeConfig)",
    });
  });
});
