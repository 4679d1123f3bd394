import type { Command } from "commander";
import { parseDuration } from "../api/duration.js";
import { FORCE_AT, RESET_AT } from "../api/helmrelease.js";
import { formatImageRef, type ImageRef } from "../api/imagepolicy.js";
import { systemClock } from "../ports/clock.js";
import { requestReconcile, setSuspend, sourcesOf, waitHandled } from "../store/reconcile-requests.js";
import type { RequestableKind } from "../api/requestable-kinds.js";
import type { Store, Stored } from "../store/store.js";
import { keyOf, type ObjectKey } from "../api/object-key.js";
import { announce, globals, openStore, type GlobalOptions } from "./context.js";
import { say } from "./output.js";

/** The kinds `reconcile`, `suspend` and `resume` act on. */
export type Kind = RequestableKind;
const LABEL: Record<Kind, string> = {
  GitRepository: "source git",
  OCIRepository: "source oci",
  Bucket: "source bucket",
  HelmRepository: "source helm",
  HelmChart: "source chart",
  Kustomization: "kustomization",
  HelmRelease: "helmrelease",
  Alert: "alert",
  Provider: "alert-provider",
  ImageRepository: "image repository",
  ImagePolicy: "image policy",
  ImageUpdateAutomation: "image update",
};

/** `sluice reconcile source git|oci|helm|chart|kustomization|helmrelease|alert|alert-provider NAME` (defined in commands/reconcile.ts). */
export async function reconcile(kind: Kind, name: string, command: Command): Promise<void> {
  const options = globals(command);
  const store = await openStore(options);
  const key = { kind, namespace: options.namespace, name };
  const current = await store.get(key);
  if (!current) throw new Error(`${kind} '${name}' not found in ${options.namespace} namespace`);
  if ((current.object.spec as { suspend?: boolean }).suspend)
    throw new Error(`resume ${LABEL[kind]} '${name}' first: it is suspended`);
  const flags = command.opts() as { withSource?: boolean; force?: boolean; reset?: boolean };
  if (flags.withSource)
    for (const source of await sourcesOf(store, current)) await requestAndWait(store, source, options);
  // flux's HelmRelease requests: a one-off install or upgrade, a reset of the failure counts.
  const also = [...(flags.force ? [FORCE_AT] : []), ...(flags.reset ? [RESET_AT] : [])];
  const status = await requestAndWait(store, key, options, also);
  const ready = status.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") throw new Error(`${kind} reconciliation failed: ${ready?.message ?? "not ready"}`);
  sayRevision(kind, status);
}

/** The revision a reconcile ended at, as flux reports it: applied, fetched, or none (Alerts, Providers, OCI Helm repositories). */
function sayRevision(kind: Kind, status: WaitedStatus): void {
  if (kind === "Kustomization") say.success(`applied revision ${status.lastAppliedRevision}`);
  else if (kind === "HelmRelease")
    say.success(`applied revision ${status.history?.[0]?.chartVersion ?? status.lastAttemptedRevision ?? ""}`);
  else if (status.artifact) say.success(`fetched revision ${status.artifact.revision}`);
  // flux's successMessage for image objects: what the scan found, what the policy selected.
  else if (kind === "ImageRepository") say.success(`scan fetched ${status.lastScanResult?.tagCount ?? 0} tags`);
  else if (kind === "ImagePolicy" && status.latestRef) say.success(`selected ref ${formatImageRef(status.latestRef)}`);
  // flux reports an automation's run by its Ready message ("repository up-to-date").
  else if (kind === "ImageUpdateAutomation")
    say.success(status.conditions?.find((c) => c.type === "Ready")?.message ?? "automation not yet run");
}

interface WaitedStatus {
  lastHandledReconcileAt?: string;
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  history?: { chartVersion: string }[];
  artifact?: { revision: string };
  conditions?: { type: string; status: string; reason: string; message: string }[];
  lastScanResult?: { tagCount: number };
  latestRef?: ImageRef;
}

/** Sets requestedAt (and `also`, with the same token, as flux sets them) and waits until the control plane handled it. */
async function requestAndWait(
  store: Store,
  key: ObjectKey,
  options: GlobalOptions,
  also: string[] = [],
): Promise<WaitedStatus> {
  const { timeout } = options;
  say.action(`annotating ${key.kind} ${key.name} in ${key.namespace} namespace`);
  const token = await requestReconcile(store, key, new Date(), also);
  if (!token) throw new Error(`${key.kind} '${key.name}' not found in ${key.namespace} namespace`);
  say.success(`${key.kind} annotated`);
  await announce(options, key);
  say.waiting(`waiting for ${key.kind} reconciliation`);
  const status = await waitHandled<WaitedStatus>(store, key, token, Date.now() + parseDuration(timeout), systemClock);
  if (status) return status;
  throw new Error(
    `timeout waiting for ${key.kind} ${key.name} to be reconciled after ${timeout}; is \`sluice run\` running with the same --state-dir (or --aws-queue-url given for AWS)?`,
  );
}

/** The flags of `sluice suspend` and `sluice resume` (flux's persistent ones). */
export interface SuspendFlags {
  all: boolean;
  /** resume only: wait for each to reconcile; by default only when one name is given, as flux does. */
  wait?: boolean;
}

/**
 * `sluice suspend|resume KIND NAME…` or `--all` in the namespace: sets or clears `spec.suspend`, one
 * object at a time as flux does (a missing name is reported and the rest go on). Resume then waits
 * for the control plane to reconcile the new generation and reports each result.
 */
export async function setSuspended(suspend: boolean, kind: Kind, names: string[], command: Command): Promise<void> {
  const options = globals(command) as GlobalOptions & SuspendFlags;
  const { namespace } = options;
  if (names.length === 0 && !options.all) throw new Error(`${LABEL[kind]} name is required`);
  const store = await openStore(options);
  const targets = names.length > 0 ? [...new Set(names)] : (await store.list({ kind, namespace })).map(nameOf);
  if (targets.length === 0) say.failure(`no ${kind} objects found in ${namespace} namespace`);
  const changed: Stored[] = [];
  for (const name of targets) {
    const key = { kind, namespace, name };
    say.action(`${suspend ? "suspending" : "resuming"} ${LABEL[kind]} ${name} in ${namespace} namespace`);
    const updated = await setSuspend(store, key, suspend);
    if (!updated) {
      say.failure(`${kind} ${name} not found in ${namespace} namespace`);
      continue;
    }
    await announce(options, key);
    say.success(`${LABEL[kind]} ${suspend ? "suspended" : "resumed"}`);
    changed.push(updated);
  }
  if (suspend || !(options.wait ?? names.length === 1)) return;
  if (changed.length > 0) say.waiting(`waiting for ${kind} reconciliation`);
  const results = await Promise.all(changed.map((s) => reconciled(store, s, options.timeout)));
  for (const { name, error, status } of results.sort((a, b) => a.name.localeCompare(b.name))) {
    if (error) say.failure(`${kind} ${name} reconciliation failed: ${error}`);
    else {
      say.success(`${kind} ${name} reconciliation completed`);
      sayRevision(kind, status!);
    }
  }
  const failed = results.filter((r) => r.error).length;
  if (failed > 0) throw new Error(`reconciliation failed for ${failed} ${kind}(s)`);
}

/**
 * Waits until the control plane has reconciled the object's current generation to a verdict (Ready
 * True, or False), as flux's kstatus wait does.
 */
async function reconciled(
  store: Store,
  stored: Stored,
  timeout: string,
): Promise<{ name: string; error?: string; status?: WaitedStatus }> {
  const { metadata } = stored.object;
  const key = keyOf(stored.object);
  const deadline = Date.now() + parseDuration(timeout);
  while (Date.now() < deadline) {
    const status = ((await store.get(key))?.object.status ?? {}) as WaitedStatus & { observedGeneration?: number };
    const ready = status.conditions?.find((c) => c.type === "Ready");
    if ((status.observedGeneration ?? 0) >= (metadata.generation ?? 1) && ready && ready.status !== "Unknown")
      return ready.status === "True" ? { name: metadata.name, status } : { name: metadata.name, error: ready.message };
    await new Promise((r) => setTimeout(r, 250));
  }
  return { name: metadata.name, error: `timed out after ${timeout}; is \`sluice run\` running?` };
}

const nameOf = (stored: Stored) => stored.object.metadata.name;
