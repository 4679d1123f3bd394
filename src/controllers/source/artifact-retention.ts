import type { ArtifactStore } from "../../artifacts/artifact-store.js";
import type { Log } from "../../ports/log.js";

// source-controller garbage-collects an object's artifacts: it keeps the newest two (`--artifact-retention-records`)
// and removes them all with the object. Sluice keeps the new artifact and the one it supersedes — a consumer that
// read the old status (a Kustomization mid-render, a worker mid-download) still finds its file — and removes the
// older ones when a new artifact is stored, rather than on a TTL timer no Lambda could run.

/** Where a source object's artifacts are stored: `<kind>/<namespace>/<name>/`, lowercase kind as Flux's storage. */
export function artifactFolder(kind: string, namespace: string, name: string): string {
  return `${kind.toLowerCase()}/${namespace}/${name}/`;
}

/**
 * Removes the artifacts under `folder` other than `kept` (the new one and the one it supersedes). A failure is
 * logged, not raised: as in Flux, an artifact left behind never fails the reconcile that stored a new one.
 */
export async function removeSuperseded(
  artifacts: ArtifactStore,
  log: Log,
  folder: string,
  kept: (string | undefined)[],
): Promise<void> {
  try {
    const keep = new Set(kept.filter((path) => path !== undefined));
    const stale = (await artifacts.list(folder)).filter((path) => !keep.has(path));
    for (const path of stale) await artifacts.delete(path);
    if (stale.length > 0) log.info({ folder, removed: stale.length }, `garbage collected ${stale.length} artifacts`);
  } catch (error) {
    log.warn({ folder, error: (error as Error).message }, "garbage collection of artifacts failed");
  }
}

/** Removes every artifact under `folder`: the object is being deleted (source-controller's finalizer). */
export async function removeAll(artifacts: ArtifactStore, folder: string): Promise<void> {
  for (const path of await artifacts.list(folder)) await artifacts.delete(path);
}
