import type { KubeObject } from "../apply/object.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";

/** A stored object and the opaque version its next write must name (an ETag on S3). */
export interface Stored {
  object: KubeObject;
  version: string;
}

/** A write lost a race: someone else changed (or created, or deleted) the object first. */
export class ConflictError extends Error {
  override name = "ConflictError";
  constructor(readonly key: ObjectKey) {
    super(`${formatKey(key)} was changed concurrently; re-read it and try again`);
  }
}

/**
 * Flux objects (spec + status), as stored JSON — validated when reconciled, so one invalid object
 * fails alone. Every write is conditional: optimistic concurrency, never last-writer-wins.
 */
export interface Store {
  get(key: ObjectKey): Promise<Stored | undefined>;
  /** All objects, or those of one kind and/or namespace, sorted by key. */
  list(filter?: { kind?: string; namespace?: string }): Promise<Stored[]>;
  /** Creates the object; ConflictError when it exists. */
  create(object: KubeObject): Promise<Stored>;
  /** Replaces the object if it is still at `version`; ConflictError otherwise (or when gone). */
  update(object: KubeObject, version: string): Promise<Stored>;
  /** Deletes the object (if still at `version`, when given); no error when already gone. */
  delete(key: ObjectKey, version?: string): Promise<void>;
}
