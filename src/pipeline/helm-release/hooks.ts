import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration } from "../../api/duration.js";
import { applyAll } from "../../apply/apply.js";
import type { KubeObject } from "../../apply/object.js";
import { deleteObject, getObject } from "../../apply/objects-api.js";
import type { HookRecord } from "../../helm/render.js";
import { parse } from "yaml";
import type { Cluster } from "../../cluster/cluster.js";

/** Where hooks run: the release's cluster (as its identity) and namespace. */
export interface HookTarget {
  cluster: Cluster;
  namespace: string;
  now(): Date;
}

// Helm's hooks (pkg/action/hooks.go), run by Sluice: the hooks of one event in weight order, each
// created after its before-hook-creation delete, Jobs and Pods waited for until they finish, then
// deleted per hook-succeeded / hook-failed. This is the one place a reconcile waits: a hook is
// a step Helm itself blocks on, and the wait is bounded by the action's timeout and by what one
// worker may spend, so a hook that needs longer fails clearly instead of the worker being killed.

/** Helm's hook events. */
export type HookEvent =
  | "pre-install"
  | "post-install"
  | "pre-upgrade"
  | "post-upgrade"
  | "pre-rollback"
  | "post-rollback"
  | "pre-delete"
  | "post-delete"
  | "test";

/** A hook failed or did not finish in time: what Helm's message says, with the hook named. */
export class HookError extends Error {
  override name = "HookError";
}

const POLL_MS = 250;

/** What running one event's hooks did: every hook with its last_run, and the first failure, if any. */
export interface HookRun {
  hooks: HookRecord[];
  /** How many hooks ran. */
  ran: number;
  failure?: string;
}

/**
 * Runs the hooks of `event` that `select` keeps (`test` also matches Helm 2's `test-success`), in
 * Helm's order (weight, then name), stopping at the first that fails or does not finish in time.
 */
export async function runHooks(
  target: HookTarget,
  hooks: HookRecord[],
  event: HookEvent,
  limits: { timeoutMs: number; budgetMs: number },
  select: (hook: HookRecord) => boolean = () => true,
): Promise<HookRun> {
  const selected = hooks
    .filter((h) => h.events.includes(event) || (event === "test" && h.events.includes("test-success")))
    .filter(select)
    .sort((a, b) => (a.weight ?? 0) - (b.weight ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const waitMs = Math.min(limits.timeoutMs, limits.budgetMs);
  const ran = new Map<HookRecord, HookRecord>();
  for (const hook of selected) {
    const object = hookObject(target, hook);
    const policies = hook.delete_policies?.length ? hook.delete_policies : ["before-hook-creation"];
    if (policies.includes("before-hook-creation")) await remove(target, object, waitMs);
    const started = target.now().toISOString();
    await applyAll(target.cluster, [object], { fieldManager: "helm-controller", defaultNamespace: target.namespace });
    let phase: "Succeeded" | "Failed";
    let failure: string | undefined;
    try {
      phase = await finished(target, object, waitMs, limits);
      if (phase === "Failed") failure = `${event} hook ${hook.kind}/${hook.name} failed`;
    } catch (error) {
      if (!(error instanceof HookError)) throw error;
      [phase, failure] = ["Failed", error.message];
    }
    ran.set(hook, { ...hook, last_run: { started_at: started, completed_at: target.now().toISOString(), phase } });
    if (policies.includes(phase === "Succeeded" ? "hook-succeeded" : "hook-failed"))
      await remove(target, object, waitMs);
    if (failure) return { hooks: hooks.map((h) => ran.get(h) ?? h), ran: ran.size, failure };
  }
  return { hooks: hooks.map((h) => ran.get(h) ?? h), ran: ran.size };
}

function hookObject(target: HookTarget, hook: HookRecord): KubeObject {
  const object = parse(hook.manifest, { maxAliasCount: 1_000 }) as KubeObject | null;
  if (!object?.metadata?.name) throw new HookError(`hook ${hook.kind}/${hook.name} has no manifest`);
  return { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? target.namespace } };
}

/** Waits for a Job or Pod to finish (other kinds are done once created); Succeeded or Failed. */
async function finished(
  target: HookTarget,
  object: KubeObject,
  waitMs: number,
  limits: { timeoutMs: number; budgetMs: number },
): Promise<"Succeeded" | "Failed"> {
  if (object.kind !== "Job" && object.kind !== "Pod") return "Succeeded";
  const info = await target.cluster.discovery.find(object.apiVersion, object.kind);
  if (!info) return "Succeeded";
  const deadline = Date.now() + waitMs;
  for (;;) {
    const live = (await getObject(target.cluster, info, object.metadata.namespace!, object.metadata.name)) as
      (KubeObject & { status?: JobOrPodStatus }) | undefined;
    const phase = live && phaseOf(object.kind, live.status);
    if (phase) return phase;
    if (Date.now() >= deadline) {
      const subject = `${object.kind}/${object.metadata.namespace}/${object.metadata.name}`;
      const why =
        limits.budgetMs < limits.timeoutMs
          ? `within the ${formatDuration(limits.budgetMs)} a Sluice worker may wait for hooks (the action's timeout is ${formatDuration(limits.timeoutMs)})`
          : `within the timeout of ${formatDuration(limits.timeoutMs)}`;
      throw new HookError(`hook ${subject} did not complete ${why}`);
    }
    await sleep(POLL_MS);
  }
}

interface JobOrPodStatus {
  phase?: string;
  succeeded?: number;
  conditions?: { type: string; status: string }[];
}

function phaseOf(kind: string, status: JobOrPodStatus | undefined): "Succeeded" | "Failed" | undefined {
  if (kind === "Pod") return status?.phase === "Succeeded" || status?.phase === "Failed" ? status.phase : undefined;
  const condition = (type: string) => status?.conditions?.some((c) => c.type === type && c.status === "True");
  if (condition("Complete") || (status?.succeeded ?? 0) > 0) return "Succeeded";
  return condition("Failed") ? "Failed" : undefined;
}

/** Deletes a hook object and waits (bounded) until it is gone, so the next create does not collide. */
async function remove(target: HookTarget, object: KubeObject, waitMs: number): Promise<void> {
  const info = await target.cluster.discovery.find(object.apiVersion, object.kind);
  if (!info) return;
  const namespace = info.namespaced ? object.metadata.namespace! : "";
  await deleteObject(target.cluster, info, namespace, object.metadata.name);
  const deadline = Date.now() + waitMs;
  while (await getObject(target.cluster, info, namespace, object.metadata.name)) {
    if (Date.now() >= deadline)
      throw new HookError(`hook ${object.kind}/${object.metadata.name} was not deleted in time`);
    await sleep(POLL_MS);
  }
}
