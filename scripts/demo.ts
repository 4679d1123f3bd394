import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { getObject } from "../src/apply/objects-api.js";
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
  await kubectl("create", "namespace", "flux-system").catch(() => "exists");
  const token = randomBytes(16).toString("hex");
  await kubectl(
    "-n",
    "flux-system",
    "create",
    "secret",
    "generic",
    "flux-system",
    `--from-literal=username=${env.git.username}`,
    `--from-literal=password=${env.git.password}`,
  );
  await kubectl("-n", "flux-system", "create", "secret", "generic", "webhook-token", `--from-literal=token=${token}`);

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
    say(`► control plane running (state ${stateDir}); bootstrapping flux-system from clusters/dev`);
    const started = performance.now();
    await applyToStore(
      plane.runtime.store,
      gitRepositoryManifest("flux-system", "flux-system", {
        url,
        branch: "main",
        interval: "1m",
        secretRef: "flux-system",
      }),
    );
    await applyToStore(
      plane.runtime.store,
      kustomizationManifest("flux-system", "flux-system", {
        source: "GitRepository/flux-system",
        path: "./clusters/dev",
        prune: true,
        interval: "10m",
      }),
    );
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
          (await plane.runtime.store.get({ kind: "Receiver", namespace: "flux-system", name: "fleet" }))?.object
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
      "podinfo",
      "patch",
      "configmap",
      "podinfo-config",
      "--type=merge",
      "-p",
      '{"data":{"PODINFO_UI_MESSAGE":"edited by hand"}}',
    );
    const edited = performance.now();
    say("► running the apps interval now instead of in 10 minutes");
    await plane.queue.enqueue({ key: "Kustomization/flux-system/apps", reason: "interval" });
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
  }
}

async function allReady(plane: LocalControlPlane, names: string[]): Promise<boolean> {
  for (const name of names) {
    const status = (await plane.runtime.store.get({ kind: "Kustomization", namespace: "flux-system", name }))?.object
      .status as { conditions?: { type: string; status: string }[] } | undefined;
    if (status?.conditions?.find((c) => c.type === "Ready")?.status !== "True") return false;
  }
  return true;
}

async function table(plane: LocalControlPlane): Promise<string> {
  const rows = (await plane.runtime.store.list({ kind: "Kustomization", namespace: "flux-system" })).map((s) => {
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
  const cm = await getObject(plane.cluster, info!, "podinfo", "podinfo-config");
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
