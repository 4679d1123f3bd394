import type { Cluster } from "../cluster/cluster.js";
import type { ResourceInfo } from "../cluster/discovery.js";
import { changeSetEntry, type ChangeSetEntry } from "./changeset.js";
import { cleanedAnnotations, cleanupPatch, type DEFAULT_CLEANUP } from "./cleanup.js";
import { hasDrifted } from "./drift.js";
import { fieldDiff } from "./field-diff.js";
import { ApplyFailedError, ObjectError, describeApiError, isImmutableError } from "./errors.js";
import { withoutIgnoredFields, type IgnoreRule } from "./ignore.js";
import { waitForHealth } from "./wait.js";
import { clone, formatId, groupOf, idOf, objMetadata, anyInMetadata, versionOf, type KubeObject } from "./object.js";
import { deleteObject, getObject, jsonPatch, listObjects, serverSideApply } from "./objects-api.js";
import { compareObjects, isClusterDefinition, stages, type GroupKind } from "./order.js";
import { EXCLUDE, FORCE, IF_NOT_PRESENT, MERGE, ownerLabels, ownerSelector, type Owner } from "./policy.js";

/** Options for {@link applyAll}. */
export interface ApplyOptions {
  /** Field manager of every apply. @default "sluice" */
  fieldManager?: string;
  /** Recorded as Flux's ownership labels on every object; also narrows the live-object lookup to one LIST per kind. */
  owner?: Owner;
  /** Namespace for namespaced objects that have none. @default none: such objects are an error */
  defaultNamespace?: string;
  /**
   * Recreate objects whose immutable fields changed (as if each had `kustomize.toolkit.fluxcd.io/force: Enabled`).
   * @default false
   */
  force?: boolean;
  /** Kinds applied in their own stage after `*Class` kinds and before everything else. @default [] */
  customStageKinds?: GroupKind[];
  /** How long to wait for CRDs to be Established and Namespaces Active after stage 1. @default 60_000 */
  definitionsTimeoutMs?: number;
  /**
   * Annotations removed and field managers taken over before applying (skipped for `ssa: Merge`). @default Flux's
   * list
   */
  cleanup?: typeof DEFAULT_CLEANUP;
  /** Flux's `driftIgnoreRules`: fields of existing objects left to other managers. */
  driftIgnoreRules?: IgnoreRule[];
  /**
   * Record in the change set each configured object's fields as the apply changes them (a drift correction's
   * report); `hide`: objects whose values must not be shown (SOPS-decrypted ones; a Secret's never are). @default
   * none recorded
   */
  fieldDiffs?: { hide: (object: KubeObject) => boolean };
}

interface Prepared {
  object: KubeObject;
  subject: string;
  /** Undefined while its CRD is part of the same set and not yet applied. */
  info?: ResourceInfo;
  /** Its values stay out of the change set's field diff. */
  hidden?: boolean;
}

type Plan = { entry: ChangeSetEntry; apply?: Prepared };

/**
 * Server-side applies a set of objects in stages and returns the change set. Only new or drifted
 * objects are written; every object costs one dry-run, and live objects are read with one LIST per
 * kind and namespace when an owner is given. Invalid input fails before anything is written. On
 * failure an {@link ApplyFailedError} carries the change set of the stages already applied.
 */
export async function applyAll(
  cluster: Cluster,
  objects: KubeObject[],
  options: ApplyOptions = {},
): Promise<ChangeSetEntry[]> {
  const prepared = await prepare(cluster, objects, options);
  const changeSet: ChangeSetEntry[] = [];
  for (const stage of stages(
    prepared.map((p) => p.object),
    options.customStageKinds,
  )) {
    const members = stage.map((object) => prepared.find((p) => p.object === object)!);
    const resolved = await settle(members.map((p) => resolveDeferred(cluster, p)));
    if (resolved.errors.length > 0) throw new ApplyFailedError(changeSet, resolved.errors);
    const live = await fetchLive(cluster, members, options.owner);
    if (live.errors.length > 0) throw new ApplyFailedError(changeSet, live.errors);
    const plans = await settle(members.map((p) => plan(cluster, p, live.objects.get(p.subject), options)));
    if (plans.errors.length > 0) throw new ApplyFailedError(changeSet, plans.errors);

    const applied = await applyInKindOrder(cluster, plans.values, options);
    changeSet.push(...applied.values);
    if (applied.errors.length > 0) throw new ApplyFailedError(changeSet, applied.errors);

    const definitions = members.filter((p) => isClusterDefinition(p.object));
    if (definitions.length > 0) {
      await waitForDefinitions(cluster, definitions, options.definitionsTimeoutMs ?? 60_000, changeSet);
      const crds = definitions.filter((p) => p.object.kind === "CustomResourceDefinition").map((p) => p.object);
      if (crds.length > 0) await untilServed(cluster, crds, options.definitionsTimeoutMs ?? 60_000, changeSet);
    }
  }
  return changeSet;
}

/** Checks every object, defaults namespaces and sets ownership labels; all problems are reported at once. */
async function prepare(cluster: Cluster, input: KubeObject[], options: ApplyOptions): Promise<Prepared[]> {
  const crds = input.filter((o) => o.kind === "CustomResourceDefinition");
  const errors: ObjectError[] = [];
  const prepared: Prepared[] = [];
  const seen = new Set<string>();
  let refreshed = false;
  for (const original of input) {
    if (!isObjectShape(original)) {
      errors.push(new ObjectError(idOf(original), "validation", "apiVersion, kind and metadata.name are required"));
      continue;
    }
    const object = clone(original);
    let info = await cluster.discovery.find(object.apiVersion, object.kind);
    if (!info && !refreshed) {
      // A CRD established moments ago may not be in the discovery read earlier: look again, once per apply.
      refreshed = true;
      await cluster.discovery.refresh();
      info = await cluster.discovery.find(object.apiVersion, object.kind);
    }
    const definedHere = info ? undefined : crdScopeFor(crds, object);
    if (!info && !definedHere) {
      errors.push(
        new ObjectError(
          idOf(object),
          "validation",
          `no kind "${object.kind}" is served for apiVersion "${object.apiVersion}"; is its CustomResourceDefinition installed?`,
        ),
      );
      continue;
    }
    const namespaced = info ? info.namespaced : definedHere === "Namespaced";
    if (namespaced && !object.metadata.namespace) {
      if (!options.defaultNamespace) {
        errors.push(
          new ObjectError(idOf(object), "validation", "namespace not specified and no default namespace is set"),
        );
        continue;
      }
      object.metadata.namespace = options.defaultNamespace;
    }
    if (!namespaced && object.metadata.namespace) {
      errors.push(
        new ObjectError(
          idOf(object),
          "validation",
          `${object.kind} is cluster-scoped but metadata.namespace is set to "${object.metadata.namespace}"`,
        ),
      );
      continue;
    }
    const subject = formatId(objMetadata(object));
    if (seen.has(`${object.apiVersion}|${subject}`)) {
      errors.push(new ObjectError(subject, "validation", "the object appears more than once in the set"));
      continue;
    }
    seen.add(`${object.apiVersion}|${subject}`);
    if (options.owner) object.metadata.labels = { ...object.metadata.labels, ...ownerLabels(options.owner) };
    prepared.push({ object, subject, info, hidden: options.fieldDiffs?.hide(original) });
  }
  if (errors.length > 0) throw new ApplyFailedError([], errors);
  return prepared.sort((a, b) => compareObjects(objMetadata(a.object), objMetadata(b.object)));
}

function isObjectShape(object: Partial<KubeObject>): object is KubeObject {
  return (
    typeof object?.apiVersion === "string" &&
    typeof object.kind === "string" &&
    typeof object.metadata?.name === "string" &&
    object.metadata.name !== ""
  );
}

/** The scope of `object`'s kind when a CRD in the same set defines it at that version. */
function crdScopeFor(crds: KubeObject[], object: KubeObject): string | undefined {
  const crd = crds.find((c) => {
    const spec = c.spec as { group?: string; names?: { kind?: string }; versions?: { name?: string }[] } | undefined;
    return (
      spec?.group === groupOf(object.apiVersion) &&
      spec.names?.kind === object.kind &&
      (spec.versions ?? []).some((v) => v.name === versionOf(object.apiVersion))
    );
  });
  return crd ? String((crd.spec as { scope?: string }).scope ?? "Namespaced") : undefined;
}

/** Looks up the resource of an object whose CRD was applied in an earlier stage of this run. */
async function resolveDeferred(cluster: Cluster, p: Prepared): Promise<void> {
  p.info ??= await cluster.discovery.find(p.object.apiVersion, p.object.kind);
  if (!p.info)
    throw new ObjectError(
      p.subject,
      "validation",
      `its CustomResourceDefinition was applied but the API server does not serve ${p.object.apiVersion} ${p.object.kind}`,
    );
}

/**
 * Live objects by subject. With an owner, one LIST per resource and namespace finds the objects we
 * already own; anything not found that way (new, or owned by someone else) is read with a GET.
 */
async function fetchLive(
  cluster: Cluster,
  members: Prepared[],
  owner: Owner | undefined,
): Promise<{ objects: Map<string, KubeObject>; errors: ObjectError[] }> {
  const live = new Map<string, KubeObject>();
  const read = (p: Prepared, verb: string, work: () => Promise<void>) =>
    work().catch((error: unknown) => {
      throw new ObjectError(
        p.subject,
        verb,
        describeApiError(error, { secret: false, identity: cluster.client.identity }),
        statusOf(error),
      );
    });
  if (owner) {
    const groups = new Map<string, Prepared[]>();
    for (const p of members) {
      const key = `${p.info!.group}|${p.info!.resource}|${p.object.metadata.namespace ?? ""}`;
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    const listed = await settle(
      [...groups.values()].map((group) =>
        read(group[0]!, "list", async () => {
          const items = await listObjects(
            cluster,
            group[0]!.info!,
            group[0]!.object.metadata.namespace ?? "",
            ownerSelector(owner),
          );
          for (const item of items) live.set(formatId(objMetadata(item)), item);
        }),
      ),
    );
    if (listed.errors.length > 0) return { objects: live, errors: listed.errors };
  }
  const got = await settle(
    members
      .filter((p) => !live.has(p.subject))
      .map((p) =>
        read(p, "get", async () => {
          const object = await getObject(cluster, p.info!, p.object.metadata.namespace ?? "", p.object.metadata.name);
          if (object) live.set(p.subject, object);
        }),
      ),
  );
  return { objects: live, errors: got.errors };
}

/** Decides one object's action: skip, unchanged, or apply (after a dry-run and metadata cleanup). */
async function plan(cluster: Cluster, p: Prepared, live: KubeObject | undefined, options: ApplyOptions): Promise<Plan> {
  if (anyInMetadata(p.object, EXCLUDE) || anyInMetadata(live, EXCLUDE))
    return { entry: changeSetEntry(p.object, "skipped") };
  if (live && anyInMetadata(p.object, IF_NOT_PRESENT)) return { entry: changeSetEntry(p.object, "skipped") };
  if (live) p.object = withoutIgnoredFields(p.object, options.driftIgnoreRules);
  const fieldManager = options.fieldManager ?? "sluice";
  const isSecret = p.object.kind === "Secret" && p.object.apiVersion === "v1";
  let dryRun: KubeObject;
  try {
    dryRun = await serverSideApply(cluster, p.info!, p.object, { fieldManager, dryRun: true });
  } catch (error) {
    const forced = options.force || anyInMetadata(p.object, FORCE) || anyInMetadata(live, FORCE);
    if (!(live && isImmutableError(error) && forced)) {
      const hint = isImmutableError(error)
        ? `; to recreate it, set the annotation ${Object.keys(FORCE)[0]}: Enabled or enable force`
        : "";
      throw new ObjectError(
        p.subject,
        "dry-run",
        describeApiError(error, { secret: isSecret, identity: cluster.client.identity }) + hint,
        statusOf(error),
      );
    }
    await recreate(cluster, p, isSecret);
    return plan(cluster, p, undefined, options);
  }
  let patched = false;
  if (live && !anyInMetadata(p.object, MERGE) && !anyInMetadata(live, MERGE)) {
    const patch = cleanupPatch(live, fieldManager, options.cleanup);
    if (patch.length > 0) {
      await jsonPatch(
        cluster,
        p.info!,
        p.object.metadata.namespace ?? "",
        p.object.metadata.name,
        patch,
        fieldManager,
      ).catch((error: unknown) => {
        throw new ObjectError(
          p.subject,
          "metadata cleanup",
          describeApiError(error, { secret: isSecret, identity: cluster.client.identity }),
          statusOf(error),
        );
      });
      patched = true;
    }
  }
  if (!patched && !hasDrifted(live, dryRun)) return { entry: changeSetEntry(p.object, "unchanged") };
  const existed = live !== undefined && dryRun.metadata.resourceVersion !== undefined;
  const entry = changeSetEntry(p.object, existed ? "configured" : "created");
  // The dry-run result, less what the cleanup removed after it, is what the server will store: live → it is what
  // this apply changes (a drift, reverted).
  if (existed && options.fieldDiffs)
    entry.diff = fieldDiff(
      live,
      patched ? withoutAnnotations(dryRun, cleanedAnnotations(live, options.cleanup)) : dryRun,
      p.hidden,
    );
  return { entry, apply: p };
}

function withoutAnnotations(object: KubeObject, keys: string[]): KubeObject {
  const annotations = Object.fromEntries(
    Object.entries(object.metadata.annotations ?? {}).filter(([key]) => !keys.includes(key)),
  );
  return { ...object, metadata: { ...object.metadata, annotations } };
}

/** Deletes an object whose immutable fields changed and waits until it is gone (finalizers may hold it). */
async function recreate(cluster: Cluster, p: Prepared, isSecret: boolean): Promise<void> {
  const { namespace = "", name } = p.object.metadata;
  try {
    await deleteObject(cluster, p.info!, namespace, name, "Background");
    const deadline = cluster.clock.now() + 60_000;
    while (await getObject(cluster, p.info!, namespace, name)) {
      if (cluster.clock.now() > deadline) throw new Error("still present 60 s after delete");
      await cluster.clock.sleep(250);
    }
  } catch (error) {
    throw new ObjectError(
      p.subject,
      "recreate (immutable field changed)",
      describeApiError(error, { secret: isSecret, identity: cluster.client.identity }),
      statusOf(error),
    );
  }
}

/** Writes the planned objects: kinds in order, the objects of one kind concurrently. */
async function applyInKindOrder(
  cluster: Cluster,
  plans: Plan[],
  options: ApplyOptions,
): Promise<{ values: ChangeSetEntry[]; errors: ObjectError[] }> {
  const values: ChangeSetEntry[] = [];
  const errors: ObjectError[] = [];
  const byKind: Plan[][] = [];
  for (const plan of plans) {
    const last = byKind.at(-1);
    if (
      last &&
      last[0]!.entry.object.kind === plan.entry.object.kind &&
      last[0]!.entry.object.group === plan.entry.object.group
    )
      last.push(plan);
    else byKind.push([plan]);
  }
  for (const group of byKind) {
    const results = await settle(
      group.map(async (plan) => {
        if (!plan.apply) return plan.entry;
        const { object, subject, info } = plan.apply;
        await serverSideApply(cluster, info!, object, {
          fieldManager: options.fieldManager ?? "sluice",
          dryRun: false,
        }).catch((error: unknown) => {
          throw new ObjectError(
            subject,
            "apply",
            describeApiError(error, { secret: object.kind === "Secret", identity: cluster.client.identity }),
            statusOf(error),
          );
        });
        return plan.entry;
      }),
    );
    values.push(...results.values);
    errors.push(...results.errors);
  }
  return { values, errors };
}

async function waitForDefinitions(
  cluster: Cluster,
  definitions: Prepared[],
  timeoutMs: number,
  changeSet: ChangeSetEntry[],
): Promise<void> {
  const result = await waitForHealth(
    cluster,
    definitions.map((p) => p.object),
    { timeoutMs, intervalMs: 250 },
  );
  if (!result.healthy) {
    const errors = result.objects
      .filter((o) => o.status !== "Current")
      .map((o) => new ObjectError(o.subject, "wait", `not ready after ${timeoutMs} ms: ${o.status}: ${o.message}`));
    throw new ApplyFailedError(changeSet, errors);
  }
}

/**
 * Re-reads discovery until every served version of the CRDs is listed: kube-apiserver publishes an
 * established CRD in aggregated discovery a moment later, and the next stage needs its kinds.
 */
async function untilServed(
  cluster: Cluster,
  crds: KubeObject[],
  timeoutMs: number,
  changeSet: ChangeSetEntry[],
): Promise<void> {
  const deadline = cluster.clock.now() + timeoutMs;
  for (;;) {
    await cluster.discovery.refresh();
    const missing: string[] = [];
    for (const crd of crds) {
      const spec = crd.spec as {
        group: string;
        names: { kind: string };
        versions?: { name: string; served?: boolean }[];
      };
      for (const version of (spec.versions ?? []).filter((v) => v.served !== false)) {
        if (!(await cluster.discovery.find(`${spec.group}/${version.name}`, spec.names.kind)))
          missing.push(`${spec.names.kind}.${spec.group}/${version.name}`);
      }
    }
    if (missing.length === 0) return;
    if (cluster.clock.now() >= deadline) {
      throw new ApplyFailedError(changeSet, [
        new ObjectError(missing.join(", "), "wait", `not served by the API server's discovery after ${timeoutMs} ms`),
      ]);
    }
    await cluster.clock.sleep(250);
  }
}

/** Runs all to completion, collecting ObjectErrors (anything else is a bug and propagates). */
async function settle<T>(work: Promise<T>[]): Promise<{ values: T[]; errors: ObjectError[] }> {
  const results = await Promise.allSettled(work);
  const values: T[] = [];
  const errors: ObjectError[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") values.push(r.value);
    else if (r.reason instanceof ObjectError) errors.push(r.reason);
    else throw r.reason;
  }
  return { values, errors };
}

function statusOf(error: unknown): number | undefined {
  return typeof error === "object" && error !== null && "status" in error && typeof error.status === "number"
    ? error.status
    : undefined;
}

/** One object's difference from the cluster, for `sluice diff`: nothing is written. */
export interface PlannedChange {
  entry: ChangeSetEntry;
  /** The live object, when there is one. */
  live?: KubeObject;
  /** What the API server would store (server-side dry-run); absent when it cannot be computed yet. */
  desired?: KubeObject;
}

/**
 * What {@link applyAll} would do, without writing: one dry-run per object against the live state.
 * Objects whose CRD is part of the same set (not installed yet) are reported as `created`.
 */
export async function planAll(
  cluster: Cluster,
  objects: KubeObject[],
  options: ApplyOptions = {},
): Promise<PlannedChange[]> {
  const prepared = await prepare(cluster, objects, options);
  const known = prepared.filter((p) => p.info);
  const live = await fetchLive(cluster, known, options.owner);
  if (live.errors.length > 0) throw new ApplyFailedError([], live.errors);
  const planned = await settle(
    prepared.map(async (p): Promise<PlannedChange> => {
      if (!p.info) return { entry: changeSetEntry(p.object, "created"), desired: p.object };
      const current = live.objects.get(p.subject);
      if (
        anyInMetadata(p.object, EXCLUDE) ||
        anyInMetadata(current, EXCLUDE) ||
        (current && anyInMetadata(p.object, IF_NOT_PRESENT))
      )
        return { entry: changeSetEntry(p.object, "skipped"), live: current };
      const object = current ? withoutIgnoredFields(p.object, options.driftIgnoreRules) : p.object;
      const desired = await serverSideApply(cluster, p.info, object, {
        fieldManager: options.fieldManager ?? "sluice",
        dryRun: true,
      }).catch((error: unknown) => {
        throw new ObjectError(
          p.subject,
          "dry-run",
          describeApiError(error, { secret: p.object.kind === "Secret", identity: cluster.client.identity }),
          statusOf(error),
        );
      });
      const action = !current ? "created" : hasDrifted(current, desired) ? "configured" : "unchanged";
      return { entry: changeSetEntry(p.object, action), live: current, desired };
    }),
  );
  if (planned.errors.length > 0) throw new ApplyFailedError([], planned.errors);
  return planned.values;
}
