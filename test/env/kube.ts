import { generateKeyPairSync, randomBytes } from "node:crypto";
import { access, constants, mkdir, readFile, writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { join } from "node:path";
import type { Running, RunContext } from "./component.js";
import { MissingPrerequisiteError, freePort, startProcess, waitUntilReady, type ServerProcess } from "./process.js";

/** The version the test bed builds and expects; see test/env/build-k8s.sh. */
export const KUBERNETES_VERSION = "v1.36.3";

/** How tests reach the test bed's kube-apiserver as cluster admin (group system:masters). */
export interface KubeInfo {
  /** https://127.0.0.1:PORT */
  server: string;
  /** Admin bearer token. */
  token: string;
  /** PEM of the CA that signed the serving certificate. */
  caPem: string;
  /** Path of an admin kubeconfig file (also usable with `kubectl --kubeconfig`). */
  kubeconfigPath: string;
  /** Contents of that kubeconfig. */
  kubeconfig: string;
  /** e.g. "v1.36.3" (from /version). */
  version: string;
}

const BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager"] as const;
type Binary = (typeof BINARIES)[number];

/** For extra clusters a test starts itself (federation); the test bed's own cluster uses the defaults. */
export interface KubeStartOptions {
  /**
   * Run kube-controller-manager too. Without it no Deployment gets status, no namespace is finalized and
   * no default service account appears, but the cluster starts faster and costs less CPU. @default true
   */
  controllerManager?: boolean;
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on loopback. The controller manager is what
 * gives Deployments status, garbage-collects dependents and finalizes deleted namespaces; there is
 * no scheduler or kubelet, so Pods never run. Each call needs its own `ctx.runDir`.
 */
export async function start(ctx: RunContext, options: KubeStartOptions = {}): Promise<Running<KubeInfo>> {
  const bin = await locateBinaries(ctx.cacheDir);
  const dir = join(ctx.runDir, "kube");
  const certDir = join(dir, "certs");
  await mkdir(certDir, { recursive: true });
  const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const processes: ServerProcess[] = [];
  const stop = async () => {
    // Reverse start order: controllers first, etcd last.
    for (const p of processes.reverse()) await p.stop();
  };
  try {
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = startProcess({
      name: "etcd",
      command: bin.etcd,
      logDir: ctx.logDir,
      args: [
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
    });
    processes.push(etcd);
    await waitUntilReady("etcd", async () => (await fetch(`${etcdUrl}/health`)).ok, {
      process: etcd,
      timeoutMs: 30_000,
    });

    const token = randomBytes(24).toString("hex");
    const files = await writeApiServerFiles(dir, token);
    const apiserver = startProcess({
      name: "kube-apiserver",
      command: bin["kube-apiserver"],
      logDir: ctx.logDir,
      args: [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        "--service-cluster-ip-range=10.0.0.0/16", // room for fleet-scale benchmarks (thousands of Services)
        "--allow-privileged=true",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${files.saKey}`,
        `--service-account-signing-key-file=${files.saKey}`,
        `--token-auth-file=${files.tokens}`,
        "--v=0",
      ],
    });
    processes.push(apiserver);
    const server = `https://127.0.0.1:${apiPort}`;
    // The serving certificate is self-signed by the apiserver at start; trust is checked below via caPem.
    const insecure = new Agent({ rejectUnauthorized: false });
    await waitUntilReady(
      "kube-apiserver",
      async () => (await get(`${server}/readyz`, token, insecure)).status === 200,
      {
        process: apiserver,
        timeoutMs: 60_000,
      },
    );
    const caPem = await readFile(join(certDir, "apiserver.crt"), "utf8");
    const kubeconfig = kubeconfigYaml(server, caPem, token);
    const kubeconfigPath = join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
    const trusted = new Agent({ ca: caPem });
    const version = async () =>
      (JSON.parse((await get(`${server}/version`, token, trusted)).body) as { gitVersion: string }).gitVersion;
    if (options.controllerManager === false)
      return { info: { server, token, caPem, kubeconfigPath, kubeconfig, version: await version() }, stop };

    const controllerManager = startProcess({
      name: "kube-controller-manager",
      command: bin["kube-controller-manager"],
      logDir: ctx.logDir,
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${await freePort()}`,
        "--leader-elect=false",
        `--service-account-private-key-file=${files.saKey}`,
        `--root-ca-file=${join(certDir, "apiserver.crt")}`,
        "--controllers=*",
        // The default client budget (20 qps) makes a few hundred Deployments take minutes to report
        // status; managed control planes give their controllers far more.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=20",
        "--concurrent-replicaset-syncs=20",
        "--v=0",
      ],
    });
    processes.push(controllerManager);
    // Ready once the service-account controller has populated kube-system; proves it talks to us.
    await waitUntilReady(
      "kube-controller-manager",
      async () =>
        (await get(`${server}/api/v1/namespaces/kube-system/serviceaccounts/default`, token, trusted)).status === 200,
      { process: controllerManager, timeoutMs: 60_000 },
    );
    return { info: { server, token, caPem, kubeconfigPath, kubeconfig, version: await version() }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function locateBinaries(cacheDir: string): Promise<Record<Binary, string>> {
  const cached = join(cacheDir, "k8s", KUBERNETES_VERSION);
  const assets = process.env.KUBEBUILDER_ASSETS;
  const found: Partial<Record<Binary, string>> = {};
  for (const name of BINARIES) {
    for (const folder of [assets, cached]) {
      if (!folder) continue;
      const path = join(folder, name);
      if (
        await access(path, constants.X_OK).then(
          () => true,
          () => false,
        )
      ) {
        found[name] = path;
        break;
      }
    }
  }
  const missing = BINARIES.filter((n) => !found[n]);
  if (missing.length > 0) {
    throw new MissingPrerequisiteError(
      `${missing.join(", ")} (looked in ${assets ? `KUBEBUILDER_ASSETS=${assets} and ` : ""}${cached})`,
      "bash test/env/build-k8s.sh (builds from the Go module proxy once, a few minutes)",
    );
  }
  return found as Record<Binary, string>;
}

async function writeApiServerFiles(dir: string, token: string): Promise<{ saKey: string; tokens: string }> {
  const saKey = join(dir, "sa.key");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  await writeFile(saKey, privateKey.export({ type: "pkcs1", format: "pem" }), { mode: 0o600 });
  const tokens = join(dir, "tokens.csv");
  await writeFile(tokens, `${token},sluice-test-admin,sluice-test-admin,"system:masters"\n`, { mode: 0o600 });
  return { saKey, tokens };
}

function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: sluice-testbed",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    "- name: sluice-test-admin",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: sluice-testbed",
    "  context:",
    "    cluster: sluice-testbed",
    "    user: sluice-test-admin",
    "current-context: sluice-testbed",
    "",
  ].join("\n");
}

function get(url: string, token: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
