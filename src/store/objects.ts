import { isDeepStrictEqual } from "node:util";
import type { KubeObject } from "../apply/object.js";
import { ConflictError, type Store, type Stored } from "./store.js";
import { keyOf, type ObjectKey } from "../api/object-key.js";

// Store semantics the API server would give us: a generation that moves only when the spec (or
// labels/annotations) change, status kept apart from spec, and a deletion mark that lets the
// reconciler finalize (delete what the object applied) before the object goes.

const ATTEMPTS = 10;

/** Retries a read-modify-write on ConflictError. */
async function withRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ConflictError) || i >= ATTEMPTS) throw error;
    }
  }
}

/** What `kubectl apply` of a Flux object would change: spec, labels, annotations. */
function desiredPart(object: KubeObject): unknown {
  return { spec: object.spec, labels: object.metadata.labels ?? {}, annotations: object.metadata.annotations ?? {} };
}

/**
 * Creates or updates a Flux object from its desired form, keeping status; bumps the generation when
 * the spec changed. Returns "created", "configured" or "unchanged".
 */
export async function applyToStore(store: Store, desired: KubeObject): Promise<"created" | "configured" | "unchanged"> {
  const key = keyOf(desired);
  return withRetry(async () => {
    const current = await store.get(key);
    const metadata = { ...desired.metadata, namespace: key.namespace };
    if (!current) {
      await store.create({
        apiVersion: desired.apiVersion,
        kind: desired.kind,
        metadata: { ...metadata, generation: 1 },
        spec: desired.spec,
      });
      return "created";
    }
    const live = current.object;
    if (isDeepStrictEqual(desiredPart(live), desiredPart(desired)) && !live.metadata.deletionTimestamp)
      return "unchanged";
    const specChanged = !isDeepStrictEqual(live.spec, desired.spec);
    const generation = (live.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    const kept = { ...live.metadata, ...metadata, generation };
    delete kept.deletionTimestamp; // registered again: no longer being deleted
    await store.update(
      { ...live, apiVersion: desired.apiVersion, metadata: kept, spec: desired.spec },
      current.version,
    );
    return "configured";
  });
}

/** Changes metadata (annotations, labels) or spec through `mutate`, bumping generation when spec changes. */
export async function updateObject(
  store: Store,
  key: ObjectKey,
  mutate: (object: KubeObject) => void,
): Promise<Stored | undefined> {
  return withRetry(async () => {
    const current = await store.get(key);
    if (!current) return undefined;
    const next = structuredClone(current.object);
    mutate(next);
    if (isDeepStrictEqual(next, current.object)) return current;
    if (!isDeepStrictEqual(next.spec, current.object.spec))
      next.metadata.generation = (current.object.metadata.generation ?? 1) + 1;
    return store.update(next, current.version);
  });
}

/** Replaces the status, whatever else changed meanwhile (status is the reconciler's alone). */
export async function writeStatus(store: Store, key: ObjectKey, status: unknown): Promise<void> {
  await withRetry(async () => {
    const current = await store.get(key);
    if (!current || isDeepStrictEqual(current.object.status, status)) return;
    await store.update({ ...current.object, status }, current.version);
  });
}

/** Marks an object for deletion; the reconciler finalizes it and then removes it. */
export async function requestDeletion(store: Store, key: ObjectKey, now: Date): Promise<void> {
  await updateObject(store, key, (object) => {
    object.metadata.deletionTimestamp ??= now.toISOString();
  });
}
