import type { Command } from "commander";
import { parseDuration } from "../api/duration.js";
import { REQUESTED_AT } from "../api/meta.js";
import { updateObject } from "../store/objects.js";
import type { Store } from "../store/store.js";
import type { ObjectKey } from "../api/object-key.js";
import { announce, globals, openStore, type GlobalOptions } from "./context.js";
import { say } from "./output.js";

/** The kinds `reconcile`, `suspend` and `resume` act on. */
export type Kind = "GitRepository" | "Kustomization";
const LABEL: Record<Kind, string> = { GitRepository: "source git", Kustomization: "kustomization" };

/** `sluice reconcile source git|kustomization NAME` (defined in commands/reconcile.ts). */
export async function reconcile(kind: Kind, name: string, command: Command): Promise<void> {
  const options = globals(command);
  const store = await openStore(options);
  const key = { kind, namespace: options.namespace, name };
  const current = await store.get(key);
  if (!current) throw new Error(`${kind} '${name}' not found in ${options.namespace} namespace`);
  if ((current.object.spec as { suspend?: boolean }).suspend)
    throw new Error(`resume ${LABEL[kind]} '${name}' first: it is suspended`);
  const withSource = (command.opts() as { withSource?: boolean }).withSource;
  if (kind === "Kustomization" && withSource) {
    const ref = (current.object.spec as { sourceRef: { kind: Kind; name: string; namespace?: string } }).sourceRef;
    await requestAndWait(
      store,
      { kind: ref.kind, namespace: ref.namespace ?? options.namespace, name: ref.name },
      options,
    );
  }
  const status = await requestAndWait(store, key, options);
  const ready = status.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") throw new Error(`${kind} reconciliation failed: ${ready?.message ?? "not ready"}`);
  say.success(
    kind === "Kustomization"
      ? `applied revision ${status.lastAppliedRevision}`
      : `fetched revision ${status.artifact?.revision}`,
  );
}

interface WaitedStatus {
  lastHandledReconcileAt?: string;
  lastAppliedRevision?: string;
  artifact?: { revision: string };
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

async function requestAndWait(store: Store, key: ObjectKey, options: GlobalOptions): Promise<WaitedStatus> {
  const { timeout } = options;
  const token = new Date().toISOString();
  say.action(`annotating ${key.kind} ${key.name} in ${key.namespace} namespace`);
  await updateObject(store, key, (o) => {
    o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: token };
  });
  say.success(`${key.kind} annotated`);
  await announce(options, key);
  say.waiting(`waiting for ${key.kind} reconciliation`);
  const deadline = Date.now() + parseDuration(timeout);
  while (Date.now() < deadline) {
    const status = ((await store.get(key))?.object.status ?? {}) as WaitedStatus;
    if (status.lastHandledReconcileAt === token) return status;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timeout waiting for ${key.kind} ${key.name} to be reconciled after ${timeout}; is \`sluice run\` running with the same --state-dir (or --aws-queue-url given for AWS)?`,
  );
}

/** `sluice suspend` / `sluice resume`: set or clear `spec.suspend`. */
export async function setSuspended(suspend: boolean, kind: Kind, name: string, command: Command): Promise<void> {
  const options = globals(command);
  const key = { kind, namespace: options.namespace, name };
  say.action(`${suspend ? "suspending" : "resuming"} ${LABEL[kind]} ${name} in ${options.namespace} namespace`);
  const updated = await updateObject(await openStore(options), key, (o) => {
    const spec = o.spec as { suspend?: boolean };
    if (suspend) spec.suspend = true;
    else delete spec.suspend;
  });
  if (!updated) throw new Error(`${kind} '${name}' not found in ${options.namespace} namespace`);
  await announce(options, key);
  say.success(`${LABEL[kind]} ${suspend ? "suspended" : "resumed"}`);
}
