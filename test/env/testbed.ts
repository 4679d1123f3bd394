import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import type { Running, RunContext } from "./component.js";
import type * as aws from "./aws.js";
import type * as git from "./git-server.js";
import type * as helmRepo from "./helm-repo.js";
import type * as kube from "./kube.js";
import type * as nats from "./nats.js";
import type * as registry from "./registry.js";
import type * as sshd from "./sshd.js";

/** Everything a test needs to reach the real components of the test bed. */
export interface TestbedInfo {
  kube: kube.KubeInfo;
  git: git.GitInfo;
  aws: aws.AwsInfo;
  registry: registry.RegistryInfo;
  helmRepo: helmRepo.HelmRepoInfo;
  sshd: sshd.SshdInfo;
  nats: nats.NatsInfo;
}

type Name = keyof TestbedInfo;
type Starter<N extends Name> = (ctx: RunContext) => Promise<Running<TestbedInfo[N]>>;
/** Loaded on demand, so a partial test bed (`SLUICE_TESTBED=kube`) imports only what it starts. */
const components: { [N in Name]: () => Promise<Starter<N>> } = {
  kube: async () => (await import("./kube.js")).start,
  git: async () => (await import("./git-server.js")).start,
  aws: async () => (await import("./aws.js")).start,
  registry: async () => (await import("./registry.js")).start,
  helmRepo: async () => (await import("./helm-repo.js")).start,
  sshd: async () => (await import("./sshd.js")).start,
  nats: async () => (await import("./nats.js")).start,
};

export interface Testbed {
  info: TestbedInfo;
  /** Seconds from start() until every component answered ready. */
  startupSeconds: number;
  logDir: string;
  stop(): Promise<void>;
}

/**
 * Starts every component in parallel on free loopback ports. `only` limits the set (for
 * development: `SLUICE_TESTBED=kube,git`). If one component fails, the others are stopped and the
 * error names the component.
 */
export async function startTestbed(
  options: { only?: Name[]; onProgress?: (line: string) => void } = {},
): Promise<Testbed> {
  const began = performance.now();
  const runDir = await mkdtemp(join(tmpdir(), "sluice-testbed-"));
  const logDir = join(runDir, "logs");
  await mkdir(logDir, { recursive: true });
  const ctx: RunContext = { runDir, logDir, cacheDir: cacheDir() };
  const names = (Object.keys(components) as Name[]).filter((n) => !options.only || options.only.includes(n));
  const progress = options.onProgress ?? (() => {});

  const started = await Promise.allSettled(
    names.map(async (name) => {
      const t0 = performance.now();
      const start = (await components[name]()) as (c: RunContext) => Promise<Running<unknown>>;
      const running = await start(ctx);
      progress(`${name} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return [name, running] as const;
    }),
  );
  const up = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stopAll = async () => {
    await Promise.allSettled(up.map(([, r]) => r.stop()));
  };
  const failures = started.flatMap((r, i) => (r.status === "rejected" ? [`${names[i]}: ${errorText(r.reason)}`] : []));
  if (failures.length > 0) {
    await stopAll();
    throw new Error(`test bed failed to start (logs in ${logDir}):\n${failures.join("\n")}`);
  }
  return {
    info: Object.fromEntries(up.map(([n, r]) => [n, r.info])) as unknown as TestbedInfo,
    startupSeconds: (performance.now() - began) / 1000,
    logDir,
    async stop() {
      await stopAll();
      await rm(runDir, { recursive: true, force: true });
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses `SLUICE_TESTBED=kube,git` into a component list; undefined means all. */
export function onlyFromEnv(value: string | undefined): Name[] | undefined {
  if (!value) return undefined;
  const names = value.split(",").map((s) => s.trim());
  const unknown = names.filter((n) => !(n in components));
  if (unknown.length > 0)
    throw new Error(
      `SLUICE_TESTBED: unknown component(s) ${unknown.join(", ")}; known: ${Object.keys(components).join(", ")}`,
    );
  return names as Name[];
}
