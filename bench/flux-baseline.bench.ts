import { execFile } from "node:child_process";
import https from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { KubeObject } from "../src/apply/object.js";
import { REQUESTED_AT } from "../src/api/meta.js";
import { keyOf } from "../src/api/object-key.js";
import { gitRepositoryManifest, kustomizationManifest } from "../src/cli/manifests.js";
import { resolveTools } from "../src/render/tools.js";
import { cacheDir } from "../src/runtime/cache-dir.js";
import { applyToStore, updateObject } from "../src/store/objects.js";
import { createRepo, pushTree } from "../test/env/git-server.js";
import type { KubeInfo } from "../test/env/kube.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { appObjects } from "./fleet.bench.js";
import { startFluxControllers, FLUX_KUSTOMIZE_CONTROLLER, FLUX_SOURCE_CONTROLLER } from "./flux-controllers.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";
import { startSluiceProcess } from "./sluice-process.js";

// Flux's own controllers as the baseline, same machine, same cluster, same run (issue 18 item 5).
// The fleet is shaped like flux-benchmark's but written the way users write it: one GitRepository on the
// test bed's Git server, N apps (fleet.bench's four objects, no namespace in them), each its own
// Kustomization with targetNamespace, prune, wait and a 1m timeout. Subject: `sluice run` from the bundled
// CLI (bench/sluice-process.ts), objects written to its Store. Baseline: Flux's source-controller and
// kustomize-controller (test/env/build-flux-controllers.sh), objects created in the cluster. Both at
// concurrency 4 (kustomize-controller's default). Per side:
//   - secondsToAllReady: objects registered → every Kustomization seen Ready (once each);
//   - noOpSeconds: one interval of the whole fleet with nothing changed (every object annotated with
//     reconcile.fluxcd.io/requestedAt, as `flux reconcile` does) → every object handled it;
//   - peak RSS of the side's processes (Flux: the two controllers summed, and each);
//   - apiRequests / noOpApiRequests: the kube-apiserver's apiserver_request_total delta, minus the
//     harness's own requests (creates, annotations, polls). kube-controller-manager's requests (the
//     Deployments' status, the same on both sides) are included on both.
// Each round uses fresh namespaces, removed (and waited for) before the next side starts.
// Sizes from the command line: `npm run bench -- flux-baseline 100 500 1000` (default 100).

const run = promisify(execFile);
const CONCURRENCY = 4;
const POLL_MS = 500;
/** How long one side may take to reach all Ready, and again for its no-op interval (SLUICE_BENCH_LIMIT_MINUTES). */
const LIMIT_MS = Number(process.env.SLUICE_BENCH_LIMIT_MINUTES ?? 30) * 60_000;
const CRDS = [
  "source.toolkit.fluxcd.io_gitrepositories.yaml",
  "source.toolkit.fluxcd.io_ocirepositories.yaml",
  "source.toolkit.fluxcd.io_buckets.yaml",
  "source.toolkit.fluxcd.io_helmrepositories.yaml",
  "source.toolkit.fluxcd.io_helmcharts.yaml",
  "source.toolkit.fluxcd.io_externalartifacts.yaml",
  "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
];

let testbed: Testbed | undefined;
export async function cleanup(): Promise<void> {
  await testbed?.stop();
}

type Status = { lastHandledReconcileAt?: string; conditions?: { type: string; status: string }[] };
const isReady = (status: unknown) =>
  (status as Status | undefined)?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/**
 * Counts the Kustomizations seen Ready at least once. Not "Ready now": a fleet that takes longer than its interval
 * is reconciled again while the last ones finish, and each reconcile sets Ready=Unknown while it runs, so "all Ready
 * at once" may never be seen (Flux at 500 apps sat at 496/500 that way).
 */
function readyOnce(): (objects: KubeObject[]) => number {
  const seen = new Set<string>();
  return (objects) => {
    for (const o of objects) if (isReady(o.status)) seen.add(o.metadata.name);
    return seen.size;
  };
}

/** One request to the test bed's kube-apiserver as its admin; the JSON answer (or the text, for /metrics). */
function kubeRequest(kube: KubeInfo, method: string, path: string, body?: unknown, contentType?: string) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = https.request(
      `${kube.server}${path}`,
      {
        method,
        ca: kube.caPem,
        headers: {
          authorization: `Bearer ${kube.token}`,
          ...(body !== undefined && { "content-type": contentType ?? "application/json" }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response
          .on("data", (chunk: Buffer) => chunks.push(chunk))
          .on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }))
          .on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Sum of the kube-apiserver's apiserver_request_total (every request it served so far). */
async function apiRequestsSoFar(kube: KubeInfo): Promise<number> {
  const { text } = await kubeRequest(kube, "GET", "/metrics");
  return text
    .split("\n")
    .filter((line) => line.startsWith("apiserver_request_total{"))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** Counts the apiserver's requests during `work`, minus the `own` requests the harness made itself. */
async function countRequests(kube: KubeInfo, work: () => Promise<number>): Promise<number> {
  const before = await apiRequestsSoFar(kube);
  const own = await work();
  // +1: the read of `before` is counted once it has been served.
  return (await apiRequestsSoFar(kube)) - before - own - 1;
}

const pathOf = (object: KubeObject, plural: string) => {
  const [group, version] = object.apiVersion.split("/");
  return `/apis/${group}/${version}/namespaces/${object.metadata.namespace}/${plural}`;
};

async function expectOk(what: string, answer: Promise<{ status: number; text: string }>) {
  const { status, text } = await answer;
  if (status >= 300) throw new Error(`${what}: HTTP ${status}: ${text.slice(0, 500)}`);
  return text;
}

/** A round's two namespaces: the Flux objects and the Git credentials in `<id>-flux`, the apps in `<id>`. */
interface Round {
  id: string;
  sources: string;
  manifests: KubeObject[];
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const sizes = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  testbed = await startTestbed({ only: ["kube", "git"] });
  const { kube, git } = testbed.info;
  const { kubectl: kubectlPath } = await resolveTools({ cacheDir: cacheDir() });
  const kubectl = (...args: string[]) => run(kubectlPath, ["--kubeconfig", kube.kubeconfigPath, ...args]);
  const crdDir = join(import.meta.dirname, "..", "test", "fixtures", "flux-crds");
  await kubectl("apply", "--server-side", ...CRDS.flatMap((f) => ["-f", join(crdDir, f)]));
  await kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all");
  // RUNTIME_NAMESPACE of Flux's controllers.
  await kubectl("create", "namespace", "flux-system");
  let counter = 0;

  const createNamespace = (name: string) =>
    expectOk(`namespace ${name}`, kubeRequest(kube, "POST", "/api/v1/namespaces", { metadata: { name } }));

  /** Fresh namespaces, the Git repository of N apps and its credentials; the Flux objects to register. */
  const prepare = async (n: number, side: string): Promise<Round> => {
    const id = `fb${n}-${side}-${counter++}`;
    const sources = `${id}-flux`;
    await createNamespace(id);
    await createNamespace(sources);
    await expectOk(
      "Git credentials Secret",
      kubeRequest(kube, "POST", `/api/v1/namespaces/${sources}/secrets`, {
        metadata: { name: "git" },
        stringData: { username: git.username, password: git.password },
      }),
    );
    const url = await createRepo(git, id);
    const files = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        `apps/app-${i}/app.yaml`,
        appObjects(undefined, i)
          .map((o) => stringify(o))
          .join("---\n"),
      ]),
    );
    await pushTree(git, id, { files });
    const manifests = [
      gitRepositoryManifest("fleet", sources, { url, branch: "main", interval: "10m", secretRef: "git" }),
      ...Array.from({ length: n }, (_, i) =>
        kustomizationManifest(`app-${i}`, sources, {
          source: "GitRepository/fleet",
          path: `./apps/app-${i}`,
          targetNamespace: id,
          prune: true,
          wait: true,
          interval: "10m",
          healthCheckTimeout: "1m",
        }),
      ),
    ];
    return { id, sources, manifests };
  };

  /** Deletes the round's namespaces and waits until they are gone (their objects with them). */
  const remove = async (round: Round) => {
    for (const ns of [round.sources, round.id]) await kubeRequest(kube, "DELETE", `/api/v1/namespaces/${ns}`);
    const deadline = Date.now() + 600_000;
    for (const ns of [round.sources, round.id])
      while ((await kubeRequest(kube, "GET", `/api/v1/namespaces/${ns}`)).status !== 404) {
        if (Date.now() > deadline) throw new Error(`namespace ${ns} still there after 10 minutes`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
  };

  /**
   * Polls `count` until it reaches `n` or the limit passes: the number of polls (API requests when `count` lists from
   * the cluster) and how many it had reached. A side past the limit is recorded, not thrown, so the other side and the
   * next size still run (kustomize-controller's time per app grows with the fleet).
   */
  const waitFor = async (what: string, n: number, count: () => Promise<number>) => {
    const start = performance.now();
    const deadline = Date.now() + LIMIT_MS;
    for (let polls = 1; ; polls++) {
      const done = await count();
      process.stderr.write(
        `\r\x1b[K  ${what}: ${done}/${n} after ${((performance.now() - start) / 1000).toFixed(0)} s`,
      );
      if (done >= n || Date.now() > deadline) {
        if (done < n) process.stderr.write(`\n  ${what}: stopped at the limit (${LIMIT_MS / 60_000} min)\n`);
        return { polls, done };
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  /** The phase's seconds when it reached all `n`; otherwise how many it had reached at the limit. */
  const reached = (seconds: string, atLimit: string, start: number, done: number, n: number): Metrics =>
    done >= n ? { [seconds]: (performance.now() - start) / 1000 } : { [atLimit]: done };

  const sluiceSide = async (n: number): Promise<Metrics> => {
    const round = await prepare(n, "sluice");
    const sluice = await startSluiceProcess(kube.kubeconfigPath, CONCURRENCY);
    try {
      const kustomizations = async () =>
        (await sluice.store.list({ kind: "Kustomization", namespace: round.sources })).map((s) => s.object);
      const ready: Metrics = {};
      ready.apiRequests = await countRequests(kube, async () => {
        const start = performance.now();
        for (const manifest of round.manifests) await applyToStore(sluice.store, manifest);
        const readyCount = readyOnce();
        const { done } = await waitFor("sluice: Ready", n, async () => readyCount(await kustomizations()));
        Object.assign(ready, reached("secondsToAllReady", "readyAtLimit", start, done, n));
        return 0; // the Store is a folder: registering and polling cost the apiserver nothing
      });
      if (ready.readyAtLimit !== undefined) return { ...ready, ...(await sluice.usage()) };
      const noOp: Metrics = {};
      noOp.noOpApiRequests = await countRequests(kube, async () => {
        const token = new Date().toISOString();
        const start = performance.now();
        for (const manifest of round.manifests)
          await updateObject(sluice.store, keyOf(manifest), (o) => {
            o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: token };
          });
        const { done } = await waitFor("sluice: no-op interval", n + 1, async () => {
          const sources = await sluice.store.list({ kind: "GitRepository", namespace: round.sources });
          return [...(await kustomizations()), ...sources.map((s) => s.object)].filter(
            (o) => (o.status as Status | undefined)?.lastHandledReconcileAt === token,
          ).length;
        });
        Object.assign(noOp, reached("noOpSeconds", "noOpHandledAtLimit", start, done, n + 1));
        return 0;
      });
      return { ...ready, ...noOp, ...(await sluice.usage()) };
    } finally {
      await sluice.stop();
      await remove(round);
    }
  };

  const fluxSide = async (n: number): Promise<Metrics> => {
    const round = await prepare(n, "flux");
    const flux = await startFluxControllers(kube.kubeconfigPath, CONCURRENCY);
    try {
      const [gitRepository, ...kustomizationList] = round.manifests;
      const listPath = pathOf(kustomizationList[0]!, "kustomizations");
      const kustomizations = async () =>
        (
          JSON.parse(await expectOk("list Kustomizations", kubeRequest(kube, "GET", listPath))) as {
            items: KubeObject[];
          }
        ).items;
      const ready: Metrics = {};
      ready.apiRequests = await countRequests(kube, async () => {
        const start = performance.now();
        await expectOk(
          "GitRepository",
          kubeRequest(kube, "POST", pathOf(gitRepository!, "gitrepositories"), gitRepository),
        );
        for (const k of kustomizationList)
          await expectOk(`Kustomization ${k.metadata.name}`, kubeRequest(kube, "POST", listPath, k));
        const readyCount = readyOnce();
        const { polls, done } = await waitFor("flux: Ready", n, async () => readyCount(await kustomizations()));
        Object.assign(ready, reached("secondsToAllReady", "readyAtLimit", start, done, n));
        return round.manifests.length + polls;
      });
      const rss = async () => {
        const peak = await flux.peakRssMiB();
        return {
          peakRssMiB: peak["source-controller"] + peak["kustomize-controller"],
          sourceControllerRssMiB: peak["source-controller"],
          kustomizeControllerRssMiB: peak["kustomize-controller"],
        };
      };
      if (ready.readyAtLimit !== undefined) return { ...ready, ...(await rss()) };
      const noOp: Metrics = {};
      noOp.noOpApiRequests = await countRequests(kube, async () => {
        const token = new Date().toISOString();
        const patch = { metadata: { annotations: { [REQUESTED_AT]: token } } };
        const start = performance.now();
        await expectOk(
          "annotate GitRepository",
          kubeRequest(
            kube,
            "PATCH",
            `${pathOf(gitRepository!, "gitrepositories")}/fleet`,
            patch,
            "application/merge-patch+json",
          ),
        );
        for (const k of kustomizationList)
          await expectOk(
            `annotate Kustomization ${k.metadata.name}`,
            kubeRequest(kube, "PATCH", `${listPath}/${k.metadata.name}`, patch, "application/merge-patch+json"),
          );
        const { polls, done } = await waitFor("flux: no-op interval", n + 1, async () => {
          const source = JSON.parse(
            await expectOk(
              "get GitRepository",
              kubeRequest(kube, "GET", `${pathOf(gitRepository!, "gitrepositories")}/fleet`),
            ),
          ) as KubeObject;
          return [...(await kustomizations()), source].filter(
            (o) => (o.status as Status | undefined)?.lastHandledReconcileAt === token,
          ).length;
        });
        Object.assign(noOp, reached("noOpSeconds", "noOpHandledAtLimit", start, done, n + 1));
        return round.manifests.length + 2 * polls;
      });
      return { ...ready, ...noOp, ...(await rss()) };
    } finally {
      // Deleted while the controllers run: their finalizers on the Flux objects need them.
      await remove(round).finally(() => flux.stop());
    }
  };

  return (sizes.length > 0 ? sizes : [100]).map((n) =>
    defineBenchmark({
      name: `flux-baseline-${n}-apps`,
      iterations: 1,
      warmup: 0,
      subject: {
        name: "sluice run (bundled CLI), concurrency 4; ms: whole round with setup and cleanup",
        run: () => sluiceSide(n),
      },
      baseline: {
        name: `Flux source-controller ${FLUX_SOURCE_CONTROLLER} + kustomize-controller ${FLUX_KUSTOMIZE_CONTROLLER}, --concurrent=4`,
        run: () => fluxSide(n),
      },
    }),
  );
}
