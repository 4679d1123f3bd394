import { MetadataWatch } from "../cluster/metadata-watch.js";
import type { KubeClient } from "../cluster/kube-client.js";
import { formatKey } from "../api/object-key.js";
import type { Clock } from "../ports/clock.js";
import type { DependentsIndex } from "../ports/dependents.js";
import type { Log } from "../ports/log.js";
import type { Queue } from "../queue/queue.js";

/** Flux's `--watch-configs-label-selector` default: the `reconcile.fluxcd.io/watch: Enabled` label. */
export const DEFAULT_WATCH_CONFIGS_SELECTOR = "reconcile.fluxcd.io/watch=Enabled";

export interface ConfigWatchOptions {
  /** The cluster Sluice reads referenced ConfigMaps and Secrets from. */
  client: KubeClient;
  /** Which ConfigMaps and Secrets are watched ("" for all of them). */
  selector: string;
  dependents: DependentsIndex;
  queue: Queue;
  log: Log;
  clock: Clock;
  /** How long the server keeps one watch open, in seconds (tests shorten it). */
  watchSeconds?: () => number;
}

export interface ConfigWatch {
  stop(): Promise<void>;
}

/**
 * Flux's config watchers (helm-controller's and kustomize-controller's WatchesMetadata on ConfigMaps and
 * Secrets): a selected ConfigMap or Secret that is created, changed or deleted reconciles at once the
 * Kustomizations and HelmReleases that read it, instead of at their next interval. Resolves once both
 * collections have been listed (or failed to be: then they are retried in the background).
 */
export async function startConfigWatch(options: ConfigWatchOptions): Promise<ConfigWatch> {
  const watches = (["ConfigMap", "Secret"] as const).map((kind) => {
    const log = options.log.child({ watch: kind });
    return new MetadataWatch({
      client: options.client,
      path: `/api/v1/${kind === "ConfigMap" ? "configmaps" : "secrets"}`,
      labelSelector: options.selector,
      log,
      clock: options.clock,
      watchSeconds: options.watchSeconds,
      onChange: async (ref) => {
        const users = await options.dependents.of({ kind, ...ref });
        if (users.length > 0)
          log.info({ object: formatKey({ kind, ...ref }), users }, "changed: reconciling its users");
        for (const key of users) await options.queue.enqueue({ key, reason: "config" });
      },
    });
  });
  await Promise.all(watches.map((w) => w.start()));
  return { stop: async () => void (await Promise.all(watches.map((w) => w.stop()))) };
}
