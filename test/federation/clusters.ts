import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { CLUSTER_NAMESPACE, newClusterRegistration, type ClusterConnection } from "../../src/api/cluster.js";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { openCluster, type Cluster } from "../../src/cluster/cluster.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { systemClock } from "../../src/ports/clock.js";
import { startLocal, type LocalControlPlane } from "../../src/runtime/local.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree, type GitInfo } from "../env/git-server.js";
import { start, type KubeInfo } from "../env/kube.js";
import { freePort } from "../env/process.js";

/** Another real cluster (etcd + kube-apiserver, no controller manager), for federation; stop() removes its data. */
export async function extraCluster(name: string): Promise<{ info: KubeInfo; stop(): Promise<void> }> {
  const runDir = await mkdtemp(join(tmpdir(), `sluice-${name}-`));
  const logDir = join(runDir, "logs");
  await mkdir(logDir, { recursive: true });
  const running = await start({ runDir, logDir, cacheDir: cacheDir() }, { controllerManager: false });
  return {
    info: running.info,
    stop: async () => (await running.stop(), await rm(runDir, { recursive: true, force: true })),
  };
}

/** A TLS endpoint that never answers: it accepts connections and says nothing (a blackholed or hung API server). Counts connections. */
export async function silentServer(): Promise<{ server: string; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const listener: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address() as { port: number };
  return {
    server: `https://127.0.0.1:${port}`,
    connections: () => accepted,
    close: () => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), listener.close(() => resolve()))),
  };
}

/** An address where nothing listens (connections are refused). */
export async function closedPort(): Promise<string> {
  return `https://127.0.0.1:${await freePort()}`;
}

/** A kubeconfig for `server` with the test bed's CA and token (the token is never sent to a dead one). */
export function kubeconfigFor(server: string, like: KubeInfo): string {
  return like.kubeconfig.replace(like.server, server);
}

/** The admin's Cluster of a test-bed or extra kube-apiserver. */
export function adminCluster(info: KubeInfo): Promise<Cluster> {
  return openCluster({ server: info.server, caPem: info.caPem, token: info.token }, systemClock);
}

/**
 * Registers cluster `name` (direct) with its kubeconfig in a Secret of sluice-system on the control
 * plane's cluster, where local mode reads Secrets.
 */
export async function registerCluster(
  lp: LocalControlPlane,
  name: string,
  kubeconfig: string,
  extra: { allowedNamespaces?: string[] } = {},
): Promise<void> {
  const secret = `${name}-kubeconfig`;
  await applyAll(lp.cluster, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: CLUSTER_NAMESPACE } }]);
  await applyAll(lp.cluster, [kubeconfigSecret(secret, kubeconfig)], { force: true });
  const connection: ClusterConnection = { kubeConfig: { secretRef: { name: secret } } };
  await applyToStore(lp.runtime.store, newClusterRegistration(name, "direct", extra.allowedNamespaces, connection));
}

/** A kubeconfig Secret in sluice-system, as a registration's spec.kubeConfig.secretRef names it. */
export function kubeconfigSecret(name: string, kubeconfig: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: CLUSTER_NAMESPACE },
    stringData: { value: kubeconfig },
  };
}

/** A local control plane on the test bed's cluster, noticing Store changes fast. */
export async function controlPlane(kube: KubeInfo, concurrency?: number): Promise<LocalControlPlane> {
  return startLocal({
    stateDir: await mkdtemp(join(tmpdir(), "sluice-federation-")),
    kubeconfig: kube.kubeconfig,
    clock: systemClock,
    log: pino({ level: "silent" }),
    concurrency,
    settings: { healthPollMs: 200 },
    watchIntervalMs: 200,
  });
}

/** A Git repository holding one ConfigMap (no namespace: each Kustomization sets targetNamespace), and its GitRepository in the Store. */
export async function configMapSource(
  lp: LocalControlPlane,
  git: GitInfo,
  namespace: string,
  name: string,
): Promise<void> {
  const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  greeting: hello\n";
  const url = await createRepo(git, `${namespace}-${name}`);
  await pushTree(git, `${namespace}-${name}`, { files: { "app.yaml": configMap } });
  const auth = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "git-auth", namespace },
    stringData: { username: git.username, password: git.password },
  };
  await applyAll(lp.cluster, [auth], { force: true });
  const spec = { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } };
  const source: KubeObject = {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace },
    spec,
  };
  await applyToStore(lp.runtime.store, source);
}

/** A Kustomization of that source applying into `targetNamespace`, on registered cluster `cluster` (none: the control plane's). */
export function kustomization(
  name: string,
  namespace: string,
  source: string,
  targetNamespace: string,
  cluster?: string,
): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace, ...(cluster && { annotations: { "sluice.dev/cluster": cluster } }) },
    spec: {
      interval: "10m",
      path: "./",
      prune: true,
      targetNamespace,
      sourceRef: { kind: "GitRepository", name: source },
    },
  };
}

export interface Ready {
  status: string;
  reason: string;
  message: string;
}

/** The Ready condition of a Kustomization in the Store. */
export async function readyOf(lp: LocalControlPlane, namespace: string, name: string): Promise<Ready | undefined> {
  const stored = await lp.runtime.store.get({ kind: "Kustomization", namespace, name });
  return (stored?.object.status as { conditions?: (Ready & { type: string })[] } | undefined)?.conditions?.find(
    (c) => c.type === "Ready",
  );
}

/** Polls until `probe` returns a value, or fails naming `what`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
