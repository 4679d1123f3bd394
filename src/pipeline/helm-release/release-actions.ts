import { applyAll, planAll } from "../../apply/apply.js";
import { changeSetEntry, type ChangeSetEntry } from "../../apply/changeset.js";
import { clientSideApplyAll } from "../../apply/client-side.js";
import { ApplyFailedError } from "../../apply/errors.js";
import { entryId, fromChangeSet, type Inventory } from "../../apply/inventory.js";
import { objMetadata, type KubeObject } from "../../apply/object.js";
import { deleteObject, getObject } from "../../apply/objects-api.js";
import type { IgnoreRule } from "../../apply/ignore.js";
import { ownerLabels, type Owner } from "../../apply/policy.js";
import type { Cluster } from "../../cluster/cluster.js";
import type { ChartRecord } from "../../helm/chart.js";
import type { ReleaseRecord, ReleaseStatus } from "../../helm/release-record.js";
import { splitOutput, type RenderedRelease } from "../../helm/render.js";
import type { ReleaseStorage } from "../../helm/storage.js";
import { HookError, runHooks, type HookEvent } from "./hooks.js";

// Helm's install, upgrade, rollback and uninstall, done the serverless way: the chart is rendered
// by the real helm (`helm template`), the objects are server-side applied by Sluice's engine with
// helm-controller's field manager (or client-side, as Helm's three-way merge, when the release says so), and each
// step is recorded in Helm's own release storage as Helm records it (pending → deployed or failed, the previous
// version superseded). Nothing here waits for a rollout: health is checked by later reconciles, and a failed check
// marks the record failed.

/** helm-controller's field manager, so Flux and Sluice see each other's fields as their own. */
export const FIELD_MANAGER = "helm-controller";
/** helm-controller's API group: the prefix of the origin labels on everything a HelmRelease applies. */
export const HELM_GROUP = "helm.toolkit.fluxcd.io";

/** Everything an action needs: where the release lives and as whom it is applied. */
export interface ReleaseTarget {
  cluster: Cluster;
  storage: ReleaseStorage;
  releaseName: string;
  /** Where the chart's namespaced objects go (`spec.targetNamespace`). */
  namespace: string;
  /** The HelmRelease, recorded as Flux's origin labels on every object. */
  owner: Owner;
  /** `spec.commonMetadata`: labels and annotations for every object. */
  commonMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  now: () => Date;
}

/** A Helm action failed; the record (when one was written) is marked failed in storage already. */
export class ReleaseActionError extends Error {
  override name = "ReleaseActionError";
  constructor(
    message: string,
    readonly record?: ReleaseRecord,
    readonly changeSet: ChangeSetEntry[] = [],
  ) {
    super(message);
  }
}

export interface ActionResult {
  record: ReleaseRecord;
  changeSet: ChangeSetEntry[];
  inventory: Inventory;
  /** Every version in storage after the action, oldest first. */
  stored: ReleaseRecord[];
}

export interface ReleaseRequest {
  action: "install" | "upgrade";
  chart: ChartRecord;
  rendered: RenderedRelease;
  values: Record<string, unknown>;
  /** The release's newest stored version, if any (an upgrade's base, or an adopted release). */
  previous?: ReleaseRecord;
  /** `install.crds` / `upgrade.crds`: what to do with the chart's crds/ folder. */
  crds: "Skip" | "Create" | "CreateReplace";
  force: boolean;
  /** Server-side apply, or Helm's client-side apply (recorded as the version's `apply_method`). */
  serverSideApply: boolean;
  maxHistory: number;
  /** How long hooks may take; undefined: hooks disabled (`disableHooks`). */
  hooks?: HookLimits;
  /**
   * `install|upgrade.disableTakeOwnership`: an object the action would create that exists without this release's
   * ownership metadata fails the action (Helm's own rule), instead of being adopted (helm-controller's default).
   */
  disableTakeOwnership?: boolean;
  /** `upgrade.cleanupOnFail`: a failed upgrade deletes what it created (see cleanupCreated). */
  cleanupOnFail?: boolean;
  /** `install.replace`: an install may reuse the name of an uninstalled (history kept) or failed release. */
  replace?: boolean;
}

/** The bounds of a hook's wait: the action's timeout and the worker's budget. */
export interface HookLimits {
  timeoutMs: number;
  budgetMs: number;
}

/** Runs one event's hooks of a record, throwing on failure; the record with their last runs. */
async function withHooks(
  target: ReleaseTarget,
  record: ReleaseRecord,
  event: HookEvent,
  limits: HookLimits | undefined,
): Promise<ReleaseRecord> {
  if (!limits || !record.hooks?.length) return record;
  const run = await runHooks(target, record.hooks, event, limits);
  if (run.failure) throw new HookError(run.failure);
  return { ...record, hooks: run.hooks };
}

/**
 * Installs or upgrades: CRDs per policy, a pending record, the objects applied, stale objects of the
 * previous version deleted, the record deployed and its predecessor superseded, history trimmed.
 */
export async function release(target: ReleaseTarget, request: ReleaseRequest): Promise<ActionResult> {
  const { storage, releaseName, namespace } = target;
  const { previous, action } = request;
  // Helm's availableName: an install over a kept history reuses the name only with `replace`.
  const replaced = action === "install" && previous;
  if (replaced && !(request.replace && ["uninstalled", "failed"].includes(previous.info.status)))
    throw new ReleaseActionError("cannot reuse a name that is still in use");
  if (request.disableTakeOwnership) await refuseForeignObjects(target, action, request.rendered.objects, previous);
  const now = target.now().toISOString();
  const record: ReleaseRecord = {
    name: releaseName,
    info: {
      first_deployed: (action === "upgrade" && previous?.info.first_deployed) || now,
      last_deployed: now,
      description: action === "install" ? "Initial install underway" : "Preparing upgrade",
      status: action === "install" ? "pending-install" : "pending-upgrade",
    },
    chart: request.chart,
    config: request.values,
    manifest: request.rendered.manifest,
    hooks: request.rendered.hooks,
    version: (previous?.version ?? 0) + 1,
    namespace,
    apply_method: request.serverSideApply ? "ssa" : "csa",
  };
  await storage.create(record, target.now());
  let current = record;
  let changeSet: ChangeSetEntry[] = [];
  try {
    if (request.crds !== "Skip") await applyCrds(target.cluster, request.rendered.crds, request.crds);
    current = await withHooks(target, current, `pre-${action}`, request.hooks);
    const objects = request.rendered.objects;
    // An install takes over existing objects as they are rendered (Helm's adoption); an upgrade merges from the
    // previous version's manifest.
    const originals = action === "install" ? objects : splitOutput(previous?.manifest ?? "").objects;
    changeSet = await applyRelease(target, objects, originals, {
      serverSideApply: request.serverSideApply,
      force: request.force,
      install: action === "install",
    });
    const inventory = fromChangeSet(changeSet);
    if (previous?.manifest) await deleteStale(target, previous, inventory);
    current = await withHooks(target, current, `post-${action}`, request.hooks);
    const done = action === "install" ? "Install complete" : "Upgrade complete";
    const deployed = await setStatus(storage, current, "deployed", done, target.now());
    // Replacing keeps a failed predecessor as it is, as Helm's replaceRelease does.
    if (replaced && previous.info.status !== "failed")
      await setStatus(storage, previous, "superseded", "superseded by new release", target.now());
    else if (previous && previous.info.status === "deployed")
      await setStatus(storage, previous, "superseded", previous.info.description ?? "", target.now());
    const stored = await trimHistory(storage, releaseName, request.maxHistory);
    return { record: deployed, changeSet, inventory, stored };
  } catch (error) {
    const applied = error instanceof ApplyFailedError ? error.changeSet : changeSet;
    let message = (error as Error).message;
    if (request.cleanupOnFail && action === "upgrade")
      message = await cleanupCreated(target, request.rendered.objects, previous, message);
    const failed = await setStatus(
      storage,
      current,
      "failed",
      failedDescription(action, releaseName, message),
      target.now(),
    );
    throw new ReleaseActionError(message, failed, applied);
  }
}

/**
 * Rolls back to `to` as Helm does: its manifest applied again as a new version (`Rollback to N`),
 * the failed version superseded. No re-render: the stored manifest is what ran before.
 */
export async function rollback(
  target: ReleaseTarget,
  failedOne: ReleaseRecord,
  to: ReleaseRecord,
  options: { force: boolean; serverSideApply: boolean; maxHistory: number; hooks?: HookLimits },
): Promise<ActionResult> {
  const { storage } = target;
  const now = target.now().toISOString();
  const record: ReleaseRecord = {
    ...to,
    info: {
      first_deployed: to.info.first_deployed,
      last_deployed: now,
      description: `Rollback to ${to.version}`,
      status: "pending-rollback",
    },
    version: failedOne.version + 1,
    apply_method: options.serverSideApply ? "ssa" : "csa",
  };
  await storage.create(record, target.now());
  let current = record;
  try {
    current = await withHooks(target, current, "pre-rollback", options.hooks);
    const objects = splitOutput(to.manifest ?? "").objects;
    const originals = splitOutput(failedOne.manifest ?? "").objects;
    const changeSet = await applyRelease(target, objects, originals, {
      serverSideApply: options.serverSideApply,
      force: options.force,
      install: false,
    });
    const inventory = fromChangeSet(changeSet);
    if (failedOne.manifest) await deleteStale(target, failedOne, inventory);
    current = await withHooks(target, current, "post-rollback", options.hooks);
    await setStatus(storage, failedOne, "superseded", failedOne.info.description ?? "", target.now());
    const deployed = await setStatus(storage, current, "deployed", `Rollback to ${to.version}`, target.now());
    const stored = await trimHistory(storage, target.releaseName, options.maxHistory);
    return { record: deployed, changeSet, inventory, stored };
  } catch (error) {
    const message = (error as Error).message;
    const failed = await setStatus(
      storage,
      current,
      "failed",
      failedDescription("rollback", target.releaseName, message),
      target.now(),
    );
    throw new ReleaseActionError(message, failed);
  }
}

/**
 * Uninstalls: every object of the release's manifest that Helm's ownership annotations still give
 * to this release is deleted; the records are deleted, or kept as `uninstalled` with `keepHistory`.
 */
export async function uninstall(
  target: ReleaseTarget,
  latest: ReleaseRecord,
  options: { keepHistory: boolean; propagation: "background" | "foreground" | "orphan"; hooks?: HookLimits },
): Promise<ChangeSetEntry[]> {
  const { storage, releaseName } = target;
  await withHooks(target, latest, "pre-delete", options.hooks);
  const objects = splitOutput(latest.manifest ?? "").objects;
  const changeSet: ChangeSetEntry[] = [];
  for (const object of objects.reverse()) {
    const deleted = await deleteIfOwned(target, object, options.propagation);
    if (deleted) changeSet.push(deleted);
  }
  await withHooks(target, latest, "post-delete", options.hooks);
  if (options.keepHistory) {
    const now = target.now().toISOString();
    await storage.update(
      {
        ...latest,
        info: { ...latest.info, status: "uninstalled", deleted: now, description: "Uninstallation complete" },
      },
      target.now(),
    );
  } else {
    for (const record of await storage.history(releaseName)) await storage.delete(releaseName, record.version);
  }
  return changeSet;
}

/**
 * driftDetection: the release's objects as they are in the cluster against its manifest, by one
 * server-side dry-run each (the ignore rules' fields left out). `enabled` writes back what drifted
 * (only that), `warn` only reports it. Returns the drifted objects' change set: empty when in sync.
 */
export async function correctDrift(
  target: ReleaseTarget,
  latest: ReleaseRecord,
  options: { mode: "enabled" | "warn"; ignore?: IgnoreRule[] },
): Promise<ChangeSetEntry[]> {
  const objects = withReleaseMetadata(target, splitOutput(latest.manifest ?? "").objects);
  const apply = { fieldManager: FIELD_MANAGER, defaultNamespace: target.namespace, driftIgnoreRules: options.ignore };
  const changes =
    options.mode === "enabled"
      ? await applyAll(target.cluster, objects, apply)
      : (await planAll(target.cluster, objects, apply)).map((p) => p.entry);
  return changes.filter((e) => e.action === "created" || e.action === "configured");
}

/**
 * The objects applied as the release says: server-side by Sluice's engine, or client-side as Helm does (`originals`,
 * the manifest being replaced, is the merge's base; `force` replaces objects instead of patching them).
 */
async function applyRelease(
  target: ReleaseTarget,
  objects: KubeObject[],
  originals: KubeObject[],
  how: { serverSideApply: boolean; force: boolean; install: boolean },
): Promise<ChangeSetEntry[]> {
  const desired = withReleaseMetadata(target, objects);
  if (how.serverSideApply)
    return applyAll(target.cluster, desired, {
      fieldManager: FIELD_MANAGER,
      defaultNamespace: target.namespace,
      force: how.force,
    });
  return clientSideApplyAll(target.cluster, desired, withReleaseMetadata(target, originals), {
    fieldManager: FIELD_MANAGER,
    defaultNamespace: target.namespace,
    replace: how.force,
    threeWayForCustomResources: how.install,
  });
}

/**
 * helm-controller's apply method for an action: `install.serverSideApply` (true unless set false); for upgrade and
 * rollback `enabled`, `disabled` or `auto` (the default), which follows the method `basis` was recorded with — the
 * newest version for an upgrade, the target for a rollback — so a release made by Helm 3 or `--server-side=false`
 * stays client-side.
 */
export function appliesServerSide(
  mode: boolean | "enabled" | "disabled" | "auto" | undefined,
  basis: ReleaseRecord | undefined,
): boolean {
  if (typeof mode === "boolean") return mode;
  if (mode === "enabled" || mode === "disabled") return mode === "enabled";
  return basis?.apply_method === "ssa";
}

/** How Helm describes a failed version: `Release "x" failed: …` (install), `Upgrade "x" failed: …`, `Rollback "x" failed: …`. */
export function failedDescription(action: "install" | "upgrade" | "rollback", name: string, why: string): string {
  const verb = { install: "Release", upgrade: "Upgrade", rollback: "Rollback" }[action];
  return `${verb} ${JSON.stringify(name)} failed: ${why}`;
}

/** Marks a stored version with a new status (a rollout that failed its health check, an unlocked pending one). */
export async function setStatus(
  storage: ReleaseStorage,
  record: ReleaseRecord,
  status: ReleaseStatus,
  description: string,
  now: Date,
): Promise<ReleaseRecord> {
  const next = { ...record, info: { ...record.info, status, description } };
  await storage.update(next, now);
  return next;
}

/**
 * The objects as Helm applies them: Helm's ownership (managed-by label, release annotations), Flux's
 * origin labels and `commonMetadata`, which the chart's own labels do not override.
 */
function withReleaseMetadata(target: ReleaseTarget, objects: KubeObject[]): KubeObject[] {
  const flux = fluxMetadata(target);
  const labels = { ...flux.labels, "app.kubernetes.io/managed-by": "Helm" };
  const annotations = {
    ...flux.annotations,
    "meta.helm.sh/release-name": target.releaseName,
    "meta.helm.sh/release-namespace": target.namespace,
  };
  return objects.map((o) => ({
    ...o,
    metadata: {
      ...o.metadata,
      labels: { ...o.metadata.labels, ...labels },
      annotations: { ...o.metadata.annotations, ...annotations },
    },
  }));
}

/** What helm-controller's own post-renderers set: `commonMetadata`, then the origin labels over its labels. */
export function fluxMetadata(target: ReleaseTarget): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  return {
    labels: { ...target.commonMetadata?.labels, ...ownerLabels(target.owner) },
    annotations: { ...target.commonMetadata?.annotations },
  };
}

/** CRDs first: created when missing (Create), or applied over the existing ones too (CreateReplace). */
async function applyCrds(cluster: Cluster, crds: KubeObject[], policy: "Create" | "CreateReplace"): Promise<void> {
  const info = await cluster.discovery.find("apiextensions.k8s.io/v1", "CustomResourceDefinition");
  if (!info || crds.length === 0) return;
  const missing = [];
  for (const crd of crds)
    if (policy === "CreateReplace" || !(await getObject(cluster, info, "", crd.metadata.name))) missing.push(crd);
  // applyAll waits for them to be established and served.
  if (missing.length > 0) await applyAll(cluster, missing, { fieldManager: FIELD_MANAGER, force: true });
}

/** Deletes what the previous version had and this one lacks, as Helm's upgrade does. */
async function deleteStale(target: ReleaseTarget, previous: ReleaseRecord, next: Inventory): Promise<void> {
  const kept = new Set(next.entries.map((e) => e.id));
  for (const object of splitOutput(previous.manifest ?? "").objects) {
    const info = await target.cluster.discovery.find(object.apiVersion, object.kind);
    const namespace = info?.namespaced ? (object.metadata.namespace ?? target.namespace) : "";
    const id = entryId({ ...objMetadata(object), namespace });
    if (!kept.has(id)) await deleteIfOwned(target, object, "background");
  }
}

/** Deletes an object of the release if Helm's annotations still give it to this release; what was done, if anything. */
async function deleteIfOwned(
  target: ReleaseTarget,
  object: KubeObject,
  propagation: "background" | "foreground" | "orphan",
): Promise<ChangeSetEntry | undefined> {
  const found = await liveOf(target, object);
  if (!found?.live) return undefined;
  const { info, namespace, live } = found;
  const annotations = live.metadata.annotations ?? {};
  const owned =
    annotations["meta.helm.sh/release-name"] === target.releaseName &&
    annotations["meta.helm.sh/release-namespace"] === target.namespace;
  if (!owned) return changeSetEntry(live, "skipped");
  const policy = ({ background: "Background", foreground: "Foreground", orphan: "Orphan" } as const)[propagation];
  await deleteObject(target.cluster, info, namespace, object.metadata.name, policy);
  return changeSetEntry(live, "deleted");
}

/** An object of the release as it is in the cluster (undefined: its kind is not served), and where it lives. */
async function liveOf(target: ReleaseTarget, object: KubeObject) {
  const info = await target.cluster.discovery.find(object.apiVersion, object.kind);
  if (!info) return undefined;
  const namespace = info.namespaced ? (object.metadata.namespace ?? target.namespace) : "";
  return { info, namespace, live: await getObject(target.cluster, info, namespace, object.metadata.name) };
}

/**
 * `cleanupOnFail`, as Helm does after a failed upgrade or rollback: the objects the new version brought that its
 * predecessor did not have are deleted (those Helm's annotations give to this release). Returns the failure's
 * message, with Helm's words added when the cleanup fails too.
 */
export async function cleanupCreated(
  target: ReleaseTarget,
  objects: KubeObject[],
  predecessor: ReleaseRecord | undefined,
  message: string,
): Promise<string> {
  const errors: string[] = [];
  for (const object of added(target, objects, predecessor).reverse()) {
    try {
      await deleteIfOwned(target, object, "background");
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  if (errors.length === 0) return message;
  return `an error occurred while cleaning up resources. original upgrade error: ${message}: unable to cleanup resources: ${errors.join(", ")}`;
}

/**
 * Helm's check without TakeOwnership, before anything is recorded or applied: what the action creates (on install
 * everything, on upgrade what the previous version did not have) may exist only with this release's ownership
 * metadata. Fails with Helm's message, naming the first object that does not.
 */
async function refuseForeignObjects(
  target: ReleaseTarget,
  action: "install" | "upgrade",
  objects: KubeObject[],
  previous: ReleaseRecord | undefined,
): Promise<void> {
  for (const object of added(target, objects, action === "upgrade" ? previous : undefined)) {
    const found = await liveOf(target, object);
    const problems = found?.live && ownershipProblems(target, found.live);
    if (problems)
      throw new ReleaseActionError(
        `unable to continue with ${action === "install" ? "install" : "update"}: ${object.kind} "${object.metadata.name}" in namespace "${found.namespace}" exists and cannot be imported into the current release: invalid ownership metadata; ${problems}`,
      );
  }
}

/** What Helm's checkOwnership finds wrong with an object's ownership metadata, or undefined when it is this release's. */
function ownershipProblems(target: ReleaseTarget, live: KubeObject): string | undefined {
  const expect = (where: Record<string, string> | undefined, key: string, value: string) => {
    const actual = where?.[key];
    if (actual === undefined) return `missing key "${key}": must be set to "${value}"`;
    return actual === value ? undefined : `key "${key}" must equal "${value}": current value is "${actual}"`;
  };
  const { labels, annotations } = live.metadata;
  const problems = [
    ["label", expect(labels, "app.kubernetes.io/managed-by", "Helm")],
    ["annotation", expect(annotations, "meta.helm.sh/release-name", target.releaseName)],
    ["annotation", expect(annotations, "meta.helm.sh/release-namespace", target.namespace)],
  ].filter(([, problem]) => problem);
  return problems.length
    ? problems.map(([kind, problem]) => `${kind} validation error: ${problem}`).join("; ")
    : undefined;
}

/** The objects a version brings that `predecessor`'s manifest did not have (Helm's diff by kind and name). */
function added(target: ReleaseTarget, objects: KubeObject[], predecessor: ReleaseRecord | undefined): KubeObject[] {
  const id = (o: KubeObject) => entryId({ ...objMetadata(o), namespace: o.metadata.namespace ?? target.namespace });
  const had = new Set(splitOutput(predecessor?.manifest ?? "").objects.map(id));
  return objects.filter((o) => !had.has(id(o)));
}

/** Keeps at most `max` versions (0: all), deleting the oldest, as Helm's `--history-max`; returns those kept. */
async function trimHistory(storage: ReleaseStorage, name: string, max: number): Promise<ReleaseRecord[]> {
  const history = await storage.history(name);
  const excess = max > 0 ? Math.max(0, history.length - max) : 0;
  for (const record of history.slice(0, excess)) await storage.delete(name, record.version);
  return history.slice(excess);
}
