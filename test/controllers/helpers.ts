import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import type { Cluster } from "../../src/cluster/cluster.js";
import { systemClock } from "../../src/ports/clock.js";
import { startLocal, type LocalControlPlane, type LocalOptions } from "../../src/runtime/local.js";
import { adminCluster } from "../apply/helpers.js";
import type { GitInfo } from "../env/git-server.js";
import type { KubeInfo } from "../env/kube.js";
import { freshNamespace } from "../env/kube-client.js";
import type { Snapshot } from "../../src/controllers/kustomize/history.js";
import type { KubeObject } from "../../src/apply/object.js";
import { applyToStore } from "../../src/store/objects.js";

/** What a test may choose of a local control plane: the rest is fixed by startTestPlane. */
export interface TestPlaneOptions extends Partial<Pick<LocalOptions, "clock" | "log" | "onEvent" | "settings">> {
  /** The start of the state folder's name in the temporary folder. @default "sluice-state-" */
  statePrefix?: string;
}

/** A local control plane and its state folder. */
export type TestPlane = LocalControlPlane & { stateDir: string };

/** A local control plane on the test bed's cluster in a new state folder, polling fast (Store watch and health checks every 200 ms). */
export async function startTestPlane(kube: KubeInfo, options: TestPlaneOptions = {}): Promise<TestPlane> {
  const stateDir = await mkdtemp(join(tmpdir(), options.statePrefix ?? "sluice-state-"));
  const plane = await startLocal({
    stateDir,
    kubeconfig: kube.kubeconfig,
    clock: options.clock ?? systemClock,
    log: options.log ?? pino({ level: "silent" }),
    onEvent: options.onEvent,
    settings: { healthPollMs: 200, ...options.settings },
    watchIntervalMs: 200,
  });
  return { ...plane, stateDir };
}

/** A file's local control plane, its namespace and the admin Cluster: set once the file's beforeAll has run. */
export interface PlaneSuite {
  plane: TestPlane;
  admin: Cluster;
  namespace: string;
  /** Creates or replaces an object of the suite's namespace in the plane's Store, as `kubectl apply` would. */
  put(
    apiVersion: string,
    kind: string,
    name: string,
    spec: Record<string, unknown>,
    metadata?: Partial<KubeObject["metadata"]>,
  ): Promise<void>;
}

/**
 * Registers the hooks of a file whose tests share one local control plane. Before them: a fresh namespace
 * `<namespace>-<random>`, the admin Cluster, `prepare(admin)`, the `git-auth` Secret for the test bed's Git
 * server in the namespace, then the plane. After them: stops the plane and removes the namespace.
 */
export function planeSuite(
  kube: KubeInfo,
  git: GitInfo,
  options: TestPlaneOptions & { namespace: string; prepare?: (admin: Cluster) => Promise<void> },
): PlaneSuite {
  const suite = {
    put: async (apiVersion, kind, name, spec, metadata = {}) => {
      await applyToStore(suite.plane.runtime.store, {
        apiVersion,
        kind,
        metadata: { name, namespace: suite.namespace, ...metadata },
        spec,
      });
    },
  } as PlaneSuite;
  let namespace: { name: string; remove(): Promise<void> } | undefined;
  beforeAll(async () => {
    namespace = await freshNamespace(kube, options.namespace);
    suite.namespace = namespace.name;
    suite.admin = await adminCluster(kube);
    await options.prepare?.(suite.admin);
    // The Git credentials live in a Secret, read the way source-controller reads them.
    await suite.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${namespace.name}/secrets`,
      body: { metadata: { name: "git-auth" }, stringData: { username: git.username, password: git.password } },
    });
    suite.plane = await startTestPlane(kube, options);
  });
  afterAll(async () => {
    await suite.plane?.stop();
    await namespace?.remove();
  });
  return suite;
}

/** A condition in a Flux object's status. */
export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** The status fields of Flux objects the tests read. */
export interface FluxStatus {
  conditions?: Condition[];
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  inventory?: { entries: { id: string; v: string }[] };
  lastAppliedOriginRevision?: string;
  history?: Snapshot[];
}

/** The status of an object in the plane's Store (empty when it has none). */
export async function storedStatus(
  plane: LocalControlPlane,
  kind: string,
  namespace: string,
  name: string,
): Promise<FluxStatus> {
  return ((await plane.runtime.store.get({ kind, namespace, name }))?.object.status ?? {}) as FluxStatus;
}

/** The Ready condition of a status. */
export const ready = (status: FluxStatus) => status.conditions?.find((c) => c.type === "Ready");

/** Polls `probe` every 100 ms until it gives a truthy value, and returns it; throws "timed out waiting for <what>" after `timeoutMs`. */
export async function until<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
