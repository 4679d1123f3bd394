import { mkdir, rm } from "node:fs/promises";
import type { Logger } from "pino";
import { FileArtifactStore } from "../artifacts/fs-artifact-store.js";
import { openCluster, type Cluster } from "../cluster/cluster.js";
import { MemoryDependents } from "../store/memory-dependents.js";
import { REQUESTED_AT } from "../api/meta.js";
import { dispatch } from "../controllers/dispatch.js";
import { type ReconcilerPorts } from "../controllers/reconciler-ports.js";
import { defaultSettings, type Settings } from "../controllers/settings.js";
import type { FluxEvent } from "../notify/events.js";
import { FileEvents } from "../notify/file-events.js";
import { AlertingEvents } from "../notify/alert-dispatch.js";
import { MemoryQueue } from "../queue/memory-queue.js";
import { resolveTools } from "../render/tools.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import { FileStore } from "../store/fs-store.js";
import { FileReceiverIndex } from "../store/fs-receiver-index.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";
import { cacheDir } from "./cache-dir.js";
import { statePaths } from "./state-paths.js";
import type { Clock } from "../ports/clock.js";
import type { QueueObserver, ReconcileMetrics } from "../ports/metrics.js";
import { clusterFactory } from "./clusters.js";
import { strictStatusFromEnv } from "./strict-status.js";
import { RenderCache } from "../controllers/kustomize/render-cache.js";
import { ecrLogin } from "../aws/ecr.js";
import { DEFAULT_WATCH_CONFIGS_SELECTOR, startConfigWatch } from "./config-watch.js";
import { runtimeAwsIdentity } from "../aws/identity.js";

/** Every this many looks at the Store, all its files are compared, not only those the change notices named. */
const FULL_SCAN_EVERY_TICKS = 30;

export interface LocalOptions {
  stateDir: string;
  /** Kubeconfig content of the cluster to apply to (and to read Secrets from). */
  kubeconfig: string;
  context?: string;
  clock: Clock;
  log: Logger;
  concurrency?: number;
  settings?: Partial<Settings>;
  onEvent?: (event: FluxEvent) => void;
  /** How often to look for objects created or changed by the CLI. @default 1_000 */
  watchIntervalMs?: number;
  /**
   * The ConfigMaps and Secrets whose changes reconcile their users at once (Flux's `--watch-configs-label-selector`;
   * "" for all). @default DEFAULT_WATCH_CONFIGS_SELECTOR
   */
  watchConfigsSelector?: string;
  /** Told about every reconcile and the queue's work (`sluice run`'s /metrics); absent: nothing is measured. */
  metrics?: ReconcileMetrics & QueueObserver;
  /** Called after a Store watch pass that saw objects written, created or deleted (the web UI's live updates). */
  onStoreChange?: () => void;
}

export interface LocalControlPlane {
  runtime: ReconcilerPorts;
  queue: MemoryQueue;
  cluster: Cluster;
  stop(): Promise<void>;
}

/**
 * The embedded control plane: the same reconcilers as Lambda, with a file Store, file artifacts, an
 * in-memory queue, and the kubeconfig's cluster. Objects written by the CLI are noticed from the kernel's change
 * notices on the Store's files (generation, requestedAt, deletion) and reconciled at once.
 */
export async function startLocal(options: LocalOptions): Promise<LocalControlPlane> {
  const paths = statePaths(options.stateDir);
  // Scratch only (checkouts, extractions, build copies under random names): what a previous process
  // left there is never reused, so it goes now rather than piling up with every restart.
  await rm(paths.work, { recursive: true, force: true });
  await mkdir(paths.work, { recursive: true });
  const cluster = await openCluster({ kubeconfig: options.kubeconfig, context: options.context }, options.clock);
  const secrets = new KubeSecrets(cluster.client);
  const queue = new MemoryQueue({
    clock: options.clock,
    concurrency: options.concurrency ?? 4,
    onError: (request, error) => options.log.error({ object: request.key, err: error }, "reconcile failed"),
    observer: options.metrics,
  });
  const store = new FileStore(paths.store);
  const settings = { ...defaultSettings, strictStatus: strictStatusFromEnv(), ...options.settings };
  // Alerts are delivered in-process, in the background: a reconcile's emit returns once the event is recorded.
  const events = new AlertingEvents(new FileEvents(paths.events, options.onEvent), {
    store,
    secrets,
    clock: options.clock,
    log: options.log,
    network: { allowPrivateNetworks: settings.allowPrivateNetworks },
    noCrossNamespaceRefs: settings.noCrossNamespaceRefs,
  });
  const runtime: ReconcilerPorts = {
    store,
    queue,
    artifacts: new FileArtifactStore(paths.artifacts),
    secrets,
    events,
    clock: options.clock,
    log: options.log,
    tools: await resolveTools({ cacheDir: cacheDir() }),
    workDir: paths.work,
    cluster: clusterFactory(cluster, secrets, options.clock),
    settings,
    dependents: new MemoryDependents(),
    renders: new RenderCache(),
    receivers: new FileReceiverIndex(paths.receivers),
    // The AWS identity of the environment (profile, variables), asked only by an OCIRepository with provider aws.
    registryLogin: ecrLogin({ endpoint: process.env.SLUICE_AWS_ENDPOINT }, options.clock),
    // The same identity for a Bucket with provider aws and no secretRef.
    awsIdentity: runtimeAwsIdentity({}),
    metrics: options.metrics,
  };
  queue.start(async (request) => void (await dispatch(runtime, request)));
  const configWatch = await startConfigWatch({
    client: cluster.client,
    selector: options.watchConfigsSelector ?? DEFAULT_WATCH_CONFIGS_SELECTOR,
    dependents: runtime.dependents,
    queue,
    log: options.log,
    clock: options.clock,
  });

  // What was last seen of each object: its file's signature, and what in it asks for a reconcile. Only files whose
  // signature changed are read again (reading all of them every second was a tenth of a fleet's CPU), and only the
  // files the kernel's change notices name are looked at, with a scan of every file now and then for notices lost:
  // a stat of every file each second grew with the fleet and with the time it ran (quadratic over a fleet's rollout).
  const seen = new Map<string, { signature: string; fingerprint: string }>();
  const noticed = new Map<string, ObjectKey>();
  await mkdir(paths.store, { recursive: true });
  let notices = store.watchChanges(
    (key) => noticed.set(formatKey(key), key),
    () => {
      notices = undefined;
      options.log.warn("store change notices failed: every stored file is looked at each second instead");
    },
  );
  let ticks = 0;
  const look = async (objectKey: ObjectKey, signature: string | undefined): Promise<boolean> => {
    const key = formatKey(objectKey);
    const before = seen.get(key);
    if (before?.signature === signature) return false;
    const object = signature === undefined ? undefined : (await store.get(objectKey))?.object;
    if (!object) return seen.delete(key);
    const fingerprint = JSON.stringify([
      object.metadata.generation,
      object.metadata.annotations?.[REQUESTED_AT],
      object.metadata.deletionTimestamp,
    ]);
    seen.set(key, { signature: signature!, fingerprint });
    if (before?.fingerprint !== fingerprint) await queue.enqueue({ key, reason: before ? "changed" : "startup" });
    return true;
  };
  const watch = async () => {
    let changed = false;
    if (!notices || ticks++ % FULL_SCAN_EVERY_TICKS === 0) {
      noticed.clear();
      const signatures = await store.signatures();
      const present = new Set(signatures.map(({ key }) => formatKey(key)));
      for (const key of seen.keys()) if (!present.has(key)) changed = seen.delete(key) || changed;
      for (const { key, signature } of signatures) changed = (await look(key, signature)) || changed;
    } else if (noticed.size > 0) {
      const keys = [...noticed.values()];
      noticed.clear();
      for (const { key, signature } of await store.signaturesOf(keys))
        changed = (await look(key, signature)) || changed;
    }
    if (changed) options.onStoreChange?.();
  };
  await watch();
  let watching = Promise.resolve();
  const timer = setInterval(() => {
    // One look at a time: a slow scan must not overlap the next.
    watching = watching.then(watch).catch((error: unknown) => options.log.error({ err: error }, "store watch failed"));
  }, options.watchIntervalMs ?? 1_000);
  timer.unref();

  return {
    runtime,
    queue,
    cluster,
    stop: async () => {
      clearInterval(timer);
      notices?.close();
      await configWatch.stop();
      await queue.stop();
      await events.drain();
    },
  };
}
