import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { applyAll } from "../src/apply/apply.js";
import type { KubeObject } from "../src/apply/object.js";
import { getObject } from "../src/apply/objects-api.js";
import { openCluster, type Cluster } from "../src/cluster/cluster.js";
import { isNotFound } from "../src/cluster/errors.js";
import { printEvent } from "../src/cli/run.js";
import { formatTable } from "../src/cli/output.js";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import type { FluxEvent } from "../src/notify/events.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { systemClock } from "../src/ports/clock.js";
import { startLocal, type LocalControlPlane } from "../src/runtime/local.js";
import { startWebhookServer } from "../src/runtime/webhook-server.js";
import { applyToStore } from "../src/store/objects.js";
import { createRepo, pushTree, type GitInfo } from "../test/env/git-server.js";

// `npm run demo`: the whole loop on the embedded default — serve examples/fleet over the test bed's
// Git server, reconcile it into a real cluster, push a change through a webhook and time it, edit an
// object by hand and watch it reverted. Exits 0 with a summary.
//
// It may run against someone's real cluster (--use-current-context), one that Flux or Sluice already
// manages: everything it creates lives in two namespaces of its own, labelled, which it deletes at
// the end; it refuses to run in a namespace of that name it did not label. The fleet is unchanged:
// the root Kustomization moves its Flux objects into the demo namespace (targetNamespace) and gives
// the app's Kustomizations the other one (patches), as a Flux user would reuse a fleet.

/** The demo's Flux objects and Secrets. */
export const DEMO_NAMESPACE = "sluice-demo";
/** The example app, instead of the fleet's `podinfo` (a namespace Flux's own guides create). */
export const APP_NAMESPACE = "sluice-demo-podinfo";
const MANAGED_BY = "app.kubernetes.io/managed-by";

const run = promisify(execFile);
const fleet = join(import.meta.dirname, "..", "examples", "fleet");
const say = (line: string) => process.stderr.write(`${line}\n`);

export interface DemoEnvironment {
  kubeconfig: string;
  kubeconfigPath: string;
  git: GitInfo;
  /** Repository name on the Git server. @default "fleet" */
  repo?: string;
}

export interface DemoSummary {
  objects: number;
  firstSyncMs: number;
  pushToAppliedMs: number;
  driftRevertedMs: number;
}

export async function runDemo(env: DemoEnvironment): Promise<DemoSummary> {
  const repo = env.repo ?? "fleet";
  const url = await createRepo(env.git, repo);
  await pushTree(env.git, repo, { folder: fleet }, { message: "fleet: podinfo on dev" });
  say(`► serving examples/fleet at ${url}`);

  const binary = (await resolveTools({ cacheDir: cacheDir() })).kubectl;
  const kubectl = async (...args: string[]) =>
    (await run(binary, ["--kubeconfig", env.kubeconfigPath, ...args])).stdout;
  const cluster = await openCluster({ kubeconfig: env.kubeconfig }, systemClock);
  const token = randomBytes(16).toString("hex");
  await claimNamespaces(cluster);
  await applyAll(
    cluster,
    [
      secret("flux-system", { username: env.git.username, password: env.git.password }),
      secret("webhook-token", { token }),
    ],
    { force: true },
  );
  say(`► namespaces ${DEMO_NAMESPACE} (Flux objects, Secrets) and ${APP_NAMESPACE} (the app) ready`);

  const stateDir = await mkdtemp(join(tmpdir(), "sluice-demo-"));
  const events: FluxEvent[] = [];
  const plane = await startLocal({
    stateDir,
    kubeconfig: env.kubeconfig,
    clock: systemClock,
    log: pino({ level: "info" }, pino.destination({ dest: join(stateDir, "sluice.log"), sync: false })),
    onEvent: (event) => {
      events.push(event);
      printEvent(event);
    },
    settings: { healthPollMs: 500 },
  });
  const webhook = await startWebhookServer(plane.runtime, 0);
  try {
    say(`► control plane running (state ${stateDir}); bootstrapping ${DEMO_NAMESPACE}/flux-system from clusters/dev`);
    const started = performance.now();
    await applyToStore(
      plane.runtime.store,
      gitRepositoryManifest("flux-system", DEMO_NAMESPACE, {
        url,
        branch: "main",
        interval: "1m",
        secretRef: "flux-system",
      }),
    );
    await applyToStore(plane.runtime.store, rootKustomization());
    await waitFor("all Kustomizations Ready", () => allReady(plane, ["flux-system", "infrastructure", "apps"]));
    const firstSyncMs = performance.now() - started;
    say(`✔ fleet reconciled in ${(firstSyncMs / 1000).toFixed(1)} s\n`);
    process.stdout.write(await table(plane));

    say("\n► pushing a change (new UI message) and calling the webhook");
    const changed = await mkdtemp(join(tmpdir(), "sluice-demo-change-"));
    await cp(fleet, changed, { recursive: true });
    const kustomizationFile = join(changed, "apps/base/podinfo/kustomization.yaml");
    await writeFile(
      kustomizationFile,
      (await readFile(kustomizationFile, "utf8")).replace("hello from", "hello again from"),
    );
    const sha = await pushTree(env.git, repo, { folder: changed }, { message: "podinfo: new message" });
    await rm(changed, { recursive: true, force: true });
    const pushed = performance.now();
    const path = await waitFor(
      "receiver path",
      async () =>
        (
          (await plane.runtime.store.get({ kind: "Receiver", namespace: DEMO_NAMESPACE, name: "fleet" }))?.object
            .status as { webhookPath?: string } | undefined
        )?.webhookPath,
    );
    const answer = await fetch(`${webhook.url}${path}`, { method: "POST", body: "{}" });
    if (answer.status !== 202) throw new Error(`webhook answered ${answer.status}: ${await answer.text()}`);
    await waitFor("the new message in the cluster", async () => (await message(plane)) === "hello again from dev");
    const pushToAppliedMs = performance.now() - pushed;
    say(
      `✔ push ${sha.slice(0, 7)} applied in ${pushToAppliedMs.toFixed(0)} ms (push → webhook → fetch → render → apply)\n`,
    );

    say("► editing the ConfigMap by hand (kubectl patch), as someone might in an incident");
    await kubectl(
      "-n",
      APP_NAMESPACE,
      "patch",
      "configmap",
      "podinfo-config",
      "--type=merge",
      "-p",
      '{"data":{"PODINFO_UI_MESSAGE":"edited by hand"}}',
    );
    const edited = performance.now();
    say("► running the apps interval now instead of in 10 minutes");
    await plane.queue.enqueue({ key: `Kustomization/${DEMO_NAMESPACE}/apps`, reason: "interval" });
    await waitFor("the edit reverted", async () => (await message(plane)) === "hello again from dev");
    const driftRevertedMs = performance.now() - edited;
    say(`✔ drift reverted in ${driftRevertedMs.toFixed(0)} ms\n`);

    const objects = (await plane.runtime.store.list({ kind: "Kustomization" })).reduce(
      (n, s) => n + ((s.object.status as { inventory?: { entries: unknown[] } }).inventory?.entries.length ?? 0),
      0,
    );
    const summary = { objects, firstSyncMs, pushToAppliedMs, driftRevertedMs };
    process.stdout.write(
      `\nSummary: ${objects} objects in 3 Kustomizations Ready in ${(firstSyncMs / 1000).toFixed(1)} s; push→applied ${pushToAppliedMs.toFixed(0)} ms; drift reverted in ${driftRevertedMs.toFixed(0)} ms; ${events.filter((e) => e.severity === "error").length} error events.\n`,
    );
    return summary;
  } finally {
    await webhook.close();
    await plane.stop();
    await cleanUp(cluster);
  }
}

/** The root Kustomization: the fleet's clusters/dev, its Flux objects in the demo namespace, its app in the app one. */
function rootKustomization(): KubeObject {
  const root = kustomizationManifest("flux-system", DEMO_NAMESPACE, {
    source: "GitRepository/flux-system",
    path: "./clusters/dev",
    prune: true,
    interval: "10m",
    targetNamespace: DEMO_NAMESPACE,
  });
  const patch = [{ op: "add", path: "/spec/targetNamespace", value: APP_NAMESPACE }];
  return {
    ...root,
    spec: { ...(root.spec as object), patches: [{ target: { kind: "Kustomization" }, patch: JSON.stringify(patch) }] },
  };
}

function secret(name: string, stringData: Record<string, string>): KubeObject {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: DEMO_NAMESPACE }, stringData };
}

/**
 * Creates the demo's namespaces, or takes them back from an earlier run that did not finish (one
 * being deleted is waited for); a namespace of that name without the demo's label is someone else's.
 */
async function claimNamespaces(cluster: Cluster): Promise<void> {
  for (const name of [DEMO_NAMESPACE, APP_NAMESPACE]) {
    const existing = await namespace(cluster, name);
    if (existing && existing.metadata.labels?.[MANAGED_BY] !== "sluice-demo")
      throw new Error(
        `namespace ${name} exists and was not created by the demo: it is left alone; delete it or use another cluster`,
      );
    if (existing?.metadata.deletionTimestamp)
      await waitFor(`namespace ${name} deleted`, async () => !(await namespace(cluster, name)));
  }
  await applyAll(
    cluster,
    [DEMO_NAMESPACE, APP_NAMESPACE].map((name) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: { [MANAGED_BY]: "sluice-demo" } },
    })),
    { force: true },
  );
}

/** Deletes the demo's namespaces, and with them all it applied, and waits until they are gone. */
async function cleanUp(cluster: Cluster): Promise<void> {
  say(`► cleaning up: deleting namespaces ${DEMO_NAMESPACE} and ${APP_NAMESPACE}`);
  for (const name of [DEMO_NAMESPACE, APP_NAMESPACE])
    await cluster.client.send({ method: "DELETE", path: `/api/v1/namespaces/${name}` }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  for (const name of [DEMO_NAMESPACE, APP_NAMESPACE])
    await waitFor(`namespace ${name} deleted`, async () => !(await namespace(cluster, name)));
  say("✔ cleaned up");
}

async function namespace(cluster: Cluster, name: string): Promise<KubeObject | undefined> {
  return cluster.client
    .send<KubeObject>({ method: "GET", path: `/api/v1/namespaces/${name}` })
    .catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
}

async function allReady(plane: LocalControlPlane, names: string[]): Promise<boolean> {
  for (const name of names) {
    const status = (await plane.runtime.store.get({ kind: "Kustomization", namespace: DEMO_NAMESPACE, name }))?.object
      .status as { conditions?: { type: string; status: string }[] } | undefined;
    if (status?.conditions?.find((c) => c.type === "Ready")?.status !== "True") return false;
  }
  return true;
}

async function table(plane: LocalControlPlane): Promise<string> {
  const rows = (await plane.runtime.store.list({ kind: "Kustomization", namespace: DEMO_NAMESPACE })).map((s) => {
    const status = s.object.status as {
      lastAppliedRevision?: string;
      conditions?: { type: string; status: string; message: string }[];
    };
    const ready = status.conditions?.find((c) => c.type === "Ready");
    return [
      s.object.metadata.name,
      status.lastAppliedRevision ?? "",
      "false",
      ready?.status ?? "Unknown",
      ready?.message ?? "",
    ];
  });
  return formatTable([["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"], ...rows]);
}

async function message(plane: LocalControlPlane): Promise<string | undefined> {
  const info = await plane.cluster.discovery.find("v1", "ConfigMap");
  const cm = await getObject(plane.cluster, info!, APP_NAMESPACE, "podinfo-config");
  return (cm?.data as Record<string, string> | undefined)?.PODINFO_UI_MESSAGE;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

if (import.meta.main) {
  const useCurrent = process.argv.includes("--use-current-context");
  const { startTestbed } = await import("../test/env/testbed.js");
  say(
    `► starting the local test bed (${useCurrent ? "Git server; cluster from your current kubeconfig" : "kube-apiserver + etcd + controller-manager, Git server"})`,
  );
  const testbed = await startTestbed({
    only: useCurrent ? ["git"] : ["kube", "git"],
    onProgress: (line) => say(`  ${line}`),
  });
  try {
    const kubeconfigPath = useCurrent
      ? (process.env.KUBECONFIG?.split(":")[0] ?? join(process.env.HOME ?? "", ".kube/config"))
      : testbed.info.kube.kubeconfigPath;
    await runDemo({ kubeconfig: await readFile(kubeconfigPath, "utf8"), kubeconfigPath, git: testbed.info.git });
  } finally {
    await testbed.stop();
  }
}
