import { helmChartOf, type HelmRelease } from "../api/helmrelease.js";
import { REQUESTED_AT } from "../api/meta.js";
import { keyOf, type ObjectKey } from "../api/object-key.js";
import type { Clock } from "../ports/clock.js";
import { updateObject } from "./objects.js";
import type { Store, Stored } from "./store.js";

// The writes behind `sluice reconcile|suspend|resume` and the web UI's buttons: one implementation, so both ask the
// control plane the same way (flux's annotations and spec.suspend) and nothing else.

/**
 * Sets requestedAt (and `also`, with the same token, as flux sets forceAt/resetAt) to a fresh token; the control
 * plane copies the token to `status.lastHandledReconcileAt` once it handled the request. Undefined: no such object.
 */
export async function requestReconcile(
  store: Store,
  key: ObjectKey,
  now: Date,
  also: string[] = [],
): Promise<string | undefined> {
  const token = now.toISOString();
  const updated = await updateObject(store, key, (o) => {
    o.metadata.annotations = {
      ...o.metadata.annotations,
      ...Object.fromEntries([REQUESTED_AT, ...also].map((annotation) => [annotation, token])),
    };
  });
  return updated && token;
}

/** The status once the request `token` was handled; undefined when `deadline` (epoch ms) came first. */
export async function waitHandled<S extends { lastHandledReconcileAt?: string }>(
  store: Store,
  key: ObjectKey,
  token: string,
  deadline: number,
  clock: Clock,
): Promise<S | undefined> {
  while (clock.now() < deadline) {
    const status = ((await store.get(key))?.object.status ?? {}) as S;
    if (status.lastHandledReconcileAt === token) return status;
    await clock.sleep(250);
  }
  return undefined;
}

/** Sets or clears `spec.suspend` (bumping the generation); undefined when there is no such object. */
export async function setSuspend(store: Store, key: ObjectKey, suspend: boolean): Promise<Stored | undefined> {
  return updateObject(store, key, (o) => {
    const spec = o.spec as { suspend?: boolean };
    if (suspend) spec.suspend = true;
    else delete spec.suspend;
  });
}

/**
 * What "reconcile with source" reconciles first, in order: a Kustomization's or HelmChart's source; for a
 * HelmRelease its HelmChart (the one its template makes, or its chartRef) after the chart's own source, as flux
 * reconciles a HelmRelease's chart with its source.
 */
export async function sourcesOf(store: Store, stored: Stored): Promise<ObjectKey[]> {
  const { namespace } = keyOf(stored.object);
  const refOf = (object: Stored["object"], at: string) => {
    const ref = (object.spec as { sourceRef?: { kind: string; name: string; namespace?: string } }).sourceRef;
    return ref ? [{ kind: ref.kind, namespace: ref.namespace ?? at, name: ref.name }] : [];
  };
  if (stored.object.kind !== "HelmRelease") {
    const refs = refOf(stored.object, namespace);
    // As flux: a Kustomization's source is reconciled for Git, OCI and Bucket sources only (an ExternalArtifact is its
    // generator's to write).
    const other = refs.find((r) => !["GitRepository", "OCIRepository", "Bucket"].includes(r.kind));
    if (stored.object.kind === "Kustomization" && other)
      throw new Error(`cannot reconcile source of kind ${other.kind}`);
    return refs;
  }
  const hr = stored.object as unknown as HelmRelease;
  const chart = hr.spec.chartRef
    ? { kind: hr.spec.chartRef.kind, namespace: hr.spec.chartRef.namespace ?? namespace, name: hr.spec.chartRef.name }
    : { kind: "HelmChart", ...helmChartOf(hr) };
  if (chart.kind !== "HelmChart") throw new Error(`cannot reconcile source of kind ${chart.kind}`);
  const found = await store.get(chart);
  if (!found) throw new Error(`HelmChart '${chart.name}' not found in ${chart.namespace} namespace`);
  return [...refOf(found.object, chart.namespace), chart];
}
