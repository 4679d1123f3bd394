// Kubernetes' three-way strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch
// CreateThreeWayMergePatch, with overwrite), as Helm's client-side apply sends it: the deletions come from the
// previous manifest against the new one, the additions and changes from the live object against the new one, so a
// field someone else set on the live object and the manifests never held is left alone. Lists are merged by the
// schema's patch merge key (`$patch: delete` for a removed item, `$deleteFromPrimitiveList` for a removed scalar,
// `$setElementOrder` for the order), `retainKeys` fields get a `$retainKeys` list. The patch is the same, key for key,
// as Kubernetes computes, so the API server applies it as it would kubectl's or Helm's.

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | JsonMap;
export interface JsonMap {
  [key: string]: Json;
}

/** What a schema says of one field: its patch strategies (`merge`, `replace`, `retainKeys`) and list merge key. */
export interface FieldPatchMeta {
  strategies: string[];
  mergeKey?: string;
  /** The schema of the field's value (of a list's items). */
  schema: PatchSchema;
}

/** A schema node: what it says of each of its fields (undefined: the field is not in the schema). */
export interface PatchSchema {
  field(name: string): FieldPatchMeta | undefined;
}

/** A patch that cannot be computed: the documents disagree with the schema. */
export class StrategicPatchError extends Error {
  override name = "StrategicPatchError";
}

const DIRECTIVE = "$patch";
const RETAIN_KEYS = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER = "$setElementOrder/";

interface DiffOptions {
  ignoreChangesAndAdditions?: boolean;
  ignoreDeletions?: boolean;
  buildRetainKeys?: boolean;
}

/**
 * The patch that takes `current` (the live object) to `modified` (the new manifest), deleting only what `original`
 * (the previous manifest) had and `modified` drops. An empty object when there is nothing to change.
 */
export function threeWayStrategicMergePatch(
  original: JsonMap,
  modified: JsonMap,
  current: JsonMap,
  schema: PatchSchema,
): JsonMap {
  const delta = diffMaps(current, modified, schema, { ignoreDeletions: true }, "");
  const deletions = diffMaps(original, modified, schema, { ignoreChangesAndAdditions: true }, "");
  return mergeMap(deletions, delta, schema, "");
}

function diffMaps(original: JsonMap, modified: JsonMap, schema: PatchSchema, options: DiffOptions, path: string) {
  const patch: JsonMap = {};
  const retainKeys: string[] = [];
  for (const [key, modifiedValue] of Object.entries(modified)) {
    if (options.buildRetainKeys && modifiedValue !== null) retainKeys.push(key);
    if (!(key in original)) {
      if (!options.ignoreChangesAndAdditions) patch[key] = modifiedValue;
      continue;
    }
    const originalValue = original[key]!;
    if (key === DIRECTIVE) {
      if (typeof originalValue !== "string" || typeof modifiedValue !== "string")
        throw new StrategicPatchError(`${path || "the object"}: invalid value for special key ${DIRECTIVE}`);
      if (originalValue !== modifiedValue) patch[key] = modifiedValue;
      continue;
    }
    if (typeOf(originalValue) !== typeOf(modifiedValue)) {
      if (!options.ignoreChangesAndAdditions) patch[key] = modifiedValue;
      continue;
    }
    const at = join(path, key);
    if (isMap(originalValue)) diffMapField(key, originalValue, modifiedValue as JsonMap, patch, schema, options, at);
    else if (Array.isArray(originalValue))
      diffListField(key, originalValue, modifiedValue as Json[], patch, schema, options, at);
    else if (!options.ignoreChangesAndAdditions && !deepEqual(originalValue, modifiedValue)) patch[key] = modifiedValue;
  }
  if (!options.ignoreDeletions) for (const key of Object.keys(original)) if (!(key in modified)) patch[key] = null;
  if (retainKeys.length > 0 && (Object.keys(patch).length > 0 || hasAdditionalNewField(original, modified)))
    patch[RETAIN_KEYS] = sortScalars(retainKeys);
  return patch;
}

/** The field's patch metadata; a field the schema does not know may only be left unchanged. */
function fieldMeta(schema: PatchSchema, key: string, unchanged: boolean, path: string) {
  const meta = schema.field(key);
  if (meta) return { meta, ...strategyOf(meta.strategies, path) };
  if (unchanged) return undefined;
  throw new StrategicPatchError(`${path}: the field is not in the kind's schema`);
}

function strategyOf(strategies: string[], path: string): { retainKeys: boolean; strategy: string } {
  const retainKeys = strategies.includes("retainKeys");
  const others = strategies.filter((s) => s !== "retainKeys");
  if (others.length > 1 || strategies.length > 2)
    throw new StrategicPatchError(`${path}: unexpected patch strategy ${strategies.join(",")}`);
  return { retainKeys, strategy: others[0] ?? "" };
}

function diffMapField(
  key: string,
  original: JsonMap,
  modified: JsonMap,
  patch: JsonMap,
  schema: PatchSchema,
  options: DiffOptions,
  path: string,
) {
  const found = fieldMeta(schema, key, deepEqual(original, modified), path);
  if (!found) return;
  if (found.strategy === "replace") {
    if (!options.ignoreChangesAndAdditions) patch[key] = modified;
    return;
  }
  const value = diffMaps(
    original,
    modified,
    found.meta.schema,
    { ...options, buildRetainKeys: found.retainKeys },
    path,
  );
  if (Object.keys(value).length > 0) patch[key] = value;
}

function diffListField(
  key: string,
  original: Json[],
  modified: Json[],
  patch: JsonMap,
  schema: PatchSchema,
  options: DiffOptions,
  path: string,
) {
  const found = fieldMeta(schema, key, deepEqual(original, modified), path);
  if (!found) return;
  if (found.strategy !== "merge") {
    if (!options.ignoreChangesAndAdditions && !deepEqual(original, modified)) patch[key] = modified;
    return;
  }
  const listOptions = { ...options, buildRetainKeys: found.retainKeys };
  const { add, remove, order } = diffLists(original, modified, found.meta, listOptions, path);
  if (add.length > 0) patch[key] = add;
  if (remove.length > 0) patch[DELETE_FROM_PRIMITIVE_LIST + key] = remove;
  if (order.length > 0) patch[SET_ELEMENT_ORDER + key] = order;
}

/** A merge list's additions and changes, the parallel deletion list (scalars) and the element order. */
function diffLists(original: Json[], modified: Json[], meta: FieldPatchMeta, options: DiffOptions, path: string) {
  const none = { add: [] as Json[], remove: [] as Json[], order: [] as Json[] };
  if (original.length === 0) {
    if (modified.length === 0 || options.ignoreChangesAndAdditions) return none;
    return { ...none, add: modified };
  }
  const kind = elementKind(path, original, modified);
  if (kind === "map") {
    const mergeKey = requireMergeKey(meta, path);
    const { patch, deletions } = diffListsOfMaps(original as JsonMap[], modified as JsonMap[], meta, options, path);
    const add = [...normalizeOrder(patch, modified, mergeKey, path), ...deletions];
    const orderSame = isOrderSame(original as JsonMap[], modified as JsonMap[], mergeKey, path);
    const wantsOrder =
      (!options.ignoreChangesAndAdditions && (add.length > 0 || !orderSame)) ||
      (!options.ignoreDeletions && add.length > 0);
    return { add, remove: [], order: wantsOrder ? orderOf(modified, mergeKey) : [] };
  }
  const { add, remove } = diffListsOfScalars(original, modified, options);
  const wantsOrder =
    (!options.ignoreDeletions && remove.length > 0) ||
    (!options.ignoreChangesAndAdditions && !deepEqual(original, modified));
  return { add: normalizeOrder(add, modified, "", path), remove, order: wantsOrder ? modified : [] };
}

/** `$setElementOrder` for a list of maps: each item's merge key alone, in the new order. */
function orderOf(modified: Json[], mergeKey: string): JsonMap[] {
  return (modified as JsonMap[]).map((item) => ({ [mergeKey]: item[mergeKey]! }));
}

function requireMergeKey(meta: FieldPatchMeta, path: string): string {
  if (!meta.mergeKey) throw new StrategicPatchError(`${path}: a merge list of objects without a merge key`);
  return meta.mergeKey;
}

/** Matched by merge key: changed items patched (with their key), added ones whole, removed ones `$patch: delete`. */
function diffListsOfMaps(
  original: JsonMap[],
  modified: JsonMap[],
  meta: FieldPatchMeta,
  options: DiffOptions,
  path: string,
) {
  const mergeKey = meta.mergeKey!;
  const sortedOriginal = sortByField(original, mergeKey, path);
  const sortedModified = sortByField(modified, mergeKey, path);
  const patch: JsonMap[] = [];
  const deletions: JsonMap[] = [];
  let i = 0;
  let j = 0;
  while (i < sortedOriginal.length || j < sortedModified.length) {
    const o = sortedOriginal[i];
    const m = sortedModified[j];
    const ok = o && scalarString(o[mergeKey]!);
    const mk = m && scalarString(m[mergeKey]!);
    if (o && m && ok === mk) {
      const value = diffMaps(o, m, meta.schema, options, `${path}[${mergeKey}=${mk}]`);
      if (Object.keys(value).length > 0) patch.push({ ...value, [mergeKey]: m[mergeKey]! });
      i++;
      j++;
    } else if (m && (!o || ok! > mk!)) {
      if (!options.ignoreChangesAndAdditions) patch.push(m);
      j++;
    } else {
      if (!options.ignoreDeletions) deletions.push({ [mergeKey]: o![mergeKey]!, [DIRECTIVE]: "delete" });
      i++;
    }
  }
  return { patch, deletions };
}

/** Scalars added and removed (the latter deduplicated), compared by their string form as Kubernetes does. */
function diffListsOfScalars(original: Json[], modified: Json[], options: DiffOptions) {
  const sortedOriginal = sortScalars([...original]);
  const sortedModified = sortScalars([...modified]);
  const add: Json[] = [];
  const remove: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < sortedOriginal.length || j < sortedModified.length) {
    const o = i < sortedOriginal.length ? scalarString(sortedOriginal[i]!) : undefined;
    const m = j < sortedModified.length ? scalarString(sortedModified[j]!) : undefined;
    if (o !== undefined && o === m) {
      i++;
      j++;
    } else if (m !== undefined && (o === undefined || o > m)) {
      if (!options.ignoreChangesAndAdditions) add.push(sortedModified[j]!);
      j++;
    } else {
      if (!options.ignoreDeletions) remove.push(sortedOriginal[i]!);
      i++;
    }
  }
  return { add, remove: deduplicateScalars(remove) };
}

function isOrderSame(original: JsonMap[], modified: JsonMap[], mergeKey: string, path: string): boolean {
  if (original.length !== modified.length) return false;
  return modified.every(
    (item, index) => mergeKeyOf(original[index]!, mergeKey, path) === mergeKeyOf(item, mergeKey, path),
  );
}

/**
 * Merges the additions-and-changes patch into the deletions patch (mergeMap without parallel-list merging): both
 * were computed against the same new manifest, so their directives agree and their lists combine by merge key.
 */
function mergeMap(original: JsonMap, patch: JsonMap, schema: PatchSchema, path: string): JsonMap {
  if (DIRECTIVE in patch) {
    if (patch[DIRECTIVE] === "replace") {
      const replaced = { ...patch };
      delete replaced[DIRECTIVE];
      return replaced;
    }
    if (patch[DIRECTIVE] === "delete") return {};
    throw new StrategicPatchError(
      `${path || "the object"}: unknown patch directive ${JSON.stringify(patch[DIRECTIVE])}`,
    );
  }
  const result: JsonMap = { ...original };
  const rest: JsonMap = { ...patch };
  if (RETAIN_KEYS in rest) {
    if (RETAIN_KEYS in result && !deepEqual(result[RETAIN_KEYS]!, rest[RETAIN_KEYS]!))
      throw new StrategicPatchError(`${path || "the object"}: the two patches disagree on ${RETAIN_KEYS}`);
    result[RETAIN_KEYS] = rest[RETAIN_KEYS]!;
    delete rest[RETAIN_KEYS];
  }
  mergeOrderedLists(result, rest, schema, path);
  for (const [key, patchValue] of Object.entries(rest)) {
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      result[key] = patchValue;
      continue;
    }
    const originalValue = result[key];
    const at = join(path, key);
    // A value the deletions do not have, a null, a scalar or a change of type: the patch's value, directives dropped.
    if (originalValue === undefined || typeOf(originalValue) !== typeOf(patchValue) || !isMapOrList(patchValue)) {
      const value = withoutDirectives(patchValue);
      if (value === undefined) delete result[key];
      else result[key] = value;
      continue;
    }
    const { meta, strategy } = fieldMeta(schema, key, false, at)!;
    if (isMap(patchValue))
      result[key] =
        strategy === "replace" ? patchValue : mergeMap(originalValue as JsonMap, patchValue, meta.schema, at);
    else
      result[key] =
        strategy === "merge" ? mergeList(originalValue as Json[], patchValue as Json[], meta, at) : patchValue;
  }
  return result;
}

/**
 * The lists that come with a `$setElementOrder`: merged, then put in that order (the patch's items first as the
 * order says, the others after them), the directive kept once.
 */
function mergeOrderedLists(result: JsonMap, patch: JsonMap, schema: PatchSchema, path: string) {
  for (const [directive, order] of Object.entries(patch)) {
    if (!directive.startsWith(SET_ELEMENT_ORDER)) continue;
    if (directive in result && !deepEqual(result[directive]!, order))
      throw new StrategicPatchError(`${path || "the object"}: the two patches disagree on ${directive}`);
    result[directive] = order;
    delete patch[directive];
    const key = directive.slice(SET_ELEMENT_ORDER.length);
    const at = join(path, key);
    if (!Array.isArray(order)) throw new StrategicPatchError(`${at}: ${directive} is not a list`);
    const originalList = result[key];
    const patchList = patch[key];
    if (originalList === undefined && patchList === undefined) continue;
    const meta = schema.field(key);
    if (!meta) throw new StrategicPatchError(`${at}: the field is not in the kind's schema`);
    const asList = (value: Json | undefined) => {
      if (value !== undefined && !Array.isArray(value)) throw new StrategicPatchError(`${at}: not a list`);
      return value;
    };
    const originalItems = asList(originalList);
    const patchItems = asList(patchList);
    const { strategy } = strategyOf(meta.strategies, at);
    let merged: Json[];
    if (!patchItems) merged = originalItems!;
    else if (!originalItems) merged = withoutDirectives(patchItems) as Json[];
    else merged = strategy === "merge" ? mergeList(originalItems, patchItems, meta, at) : patchItems;
    const mergeKey = meta.mergeKey ?? "";
    const inOrder = (item: Json) => order.some((o) => sameElement(o, item, mergeKey));
    const kind = elementKind(at, originalItems ?? [], patchItems ?? []);
    result[key] = normalizeElementOrder(
      merged.filter(inOrder),
      merged.filter((item) => !inOrder(item)),
      order,
      originalItems ?? [],
      kind === "map" ? mergeKey : "",
      at,
    );
    delete patch[key];
  }
}

/** Two merge lists combined: maps by merge key (`$patch: delete` and `replace` items honoured), scalars as a set. */
function mergeList(original: Json[], patch: Json[], meta: FieldPatchMeta, path: string): Json[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind(path, original, patch);
  if (kind !== "map") {
    const merged = deduplicateScalars([...original, ...patch]);
    return normalizeElementOrder(
      merged.filter((v) => patch.some((p) => p === v)),
      merged.filter((v) => !patch.some((p) => p === v)),
      patch,
      original,
      "",
      path,
    );
  }
  const mergeKey = requireMergeKey(meta, path);
  let items = [...(original as JsonMap[])];
  const plain: JsonMap[] = [];
  let replace = false;
  for (const item of patch as JsonMap[]) {
    const directive = item[DIRECTIVE];
    if (directive === undefined) plain.push(item);
    else if (directive === "delete") {
      const value = mergeKeyOf(item, mergeKey, path);
      items = items.filter((o) => o[mergeKey] !== value);
    } else if (directive === "replace") replace = true;
    else throw new StrategicPatchError(`${path}: list directive ${JSON.stringify(directive)} is not supported`);
  }
  if (replace) return plain;
  const base = [...items];
  for (const item of plain) {
    const value = mergeKeyOf(item, mergeKey, path);
    const index = items.findIndex((o) => o[mergeKey] === value);
    if (index >= 0) items[index] = mergeMap(items[index]!, item, meta.schema, `${path}[${mergeKey}=${String(value)}]`);
    else items.push(item);
  }
  const inPatch = (item: JsonMap) => plain.some((p) => p[mergeKey] === item[mergeKey]);
  return normalizeElementOrder(
    items.filter(inPatch),
    items.filter((i) => !inPatch(i)),
    plain,
    base,
    mergeKey,
    path,
  );
}

/**
 * The patch's items in the patch's order, the others in the server's order, interleaved where the server's order
 * says so (Kubernetes' normalizeElementOrder and mergeSortedSlice).
 */
function normalizeElementOrder(
  patchItems: Json[],
  serverOnly: Json[],
  patchOrder: Json[],
  serverOrder: Json[],
  mergeKey: string,
  path: string,
): Json[] {
  const right = normalizeOrder(patchItems, patchOrder, mergeKey, path);
  const left = normalizeOrder(serverOnly, serverOrder, mergeKey, path);
  const merged: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (j >= right.length) merged.push(left[i++]!);
    else if (i >= left.length) merged.push(right[j++]!);
    else {
      const li = indexIn(serverOrder, left[i]!, mergeKey);
      const ri = indexIn(serverOrder, right[j]!, mergeKey);
      if (li >= 0 && ri >= 0 && li < ri) merged.push(left[i++]!);
      else merged.push(right[j++]!);
    }
  }
  return merged;
}

/** `items` stably sorted by their place in `order`; for maps, `$patch: delete` items last. */
function normalizeOrder(items: Json[], order: Json[], mergeKey: string, path: string): Json[] {
  if (!mergeKey) return stableSortByIndex(items, order, "");
  for (const item of [...items, ...order]) mergeKeyOf(item as JsonMap, mergeKey, path);
  const kept = items.filter((i) => (i as JsonMap)[DIRECTIVE] !== "delete");
  const deleted = items.filter((i) => (i as JsonMap)[DIRECTIVE] === "delete");
  return [...stableSortByIndex(kept, order, mergeKey), ...deleted];
}

function stableSortByIndex(items: Json[], order: Json[], mergeKey: string): Json[] {
  return items
    .map((item, position) => ({ item, position, index: indexIn(order, item, mergeKey) }))
    .sort((a, b) => (a.index >= 0 && b.index >= 0 ? a.index - b.index : 0) || a.position - b.position)
    .map((e) => e.item);
}

function indexIn(list: Json[], item: Json, mergeKey: string): number {
  return list.findIndex((candidate) => sameElement(candidate, item, mergeKey));
}

function sameElement(a: Json, b: Json, mergeKey: string): boolean {
  if (!mergeKey) return a === b;
  return isMap(a) && isMap(b) && a[mergeKey] === b[mergeKey];
}

function mergeKeyOf(item: JsonMap, mergeKey: string, path: string): Json {
  if (!isMap(item)) throw new StrategicPatchError(`${path}: a list item is not an object`);
  if (!(mergeKey in item))
    throw new StrategicPatchError(`${path}: an item has no merge key ${JSON.stringify(mergeKey)}`);
  return item[mergeKey]!;
}

/** The value without `$patch` directives; undefined when the value itself is one. */
function withoutDirectives(value: Json): Json | undefined {
  if (Array.isArray(value)) return value.map(withoutDirectives).filter((v) => v !== undefined) as Json[];
  if (!isMap(value)) return value;
  if (DIRECTIVE in value) return undefined;
  const result: JsonMap = {};
  for (const [key, item] of Object.entries(value)) {
    const kept = withoutDirectives(item);
    if (kept !== undefined) result[key] = kept;
  }
  return result;
}

function sortByField(items: JsonMap[], field: string, path: string): JsonMap[] {
  for (const item of items) mergeKeyOf(item, field, path);
  return [...items].sort((a, b) => compareStrings(scalarString(a[field]!), scalarString(b[field]!)));
}

function sortScalars<T extends Json>(values: T[]): T[] {
  return values.sort((a, b) => compareStrings(scalarString(a), scalarString(b)));
}

/** Kubernetes' in-place deduplication (each duplicate replaced by the last item), kept for the same order. */
function deduplicateScalars(values: Json[]): Json[] {
  const s = [...values];
  let length = s.length - 1;
  for (let i = 0; i < length; i++) {
    for (let j = i + 1; j <= length; j++) {
      if (s[i] === s[j]) {
        s[j] = s[length]!;
        s.length = length;
        length--;
        j--;
      }
    }
  }
  return s;
}

function hasAdditionalNewField(original: JsonMap, modified: JsonMap): boolean {
  return Object.entries(original).some(([key, value]) => value !== null && !(key in modified));
}

/** All items of the lists are of one kind, and not lists. */
function elementKind(path: string, ...lists: Json[][]): string {
  let kind: string | undefined;
  for (const item of lists.flat()) {
    const k = typeOf(item);
    if (k === "array") throw new StrategicPatchError(`${path}: lists of lists are not supported`);
    if (kind && k !== kind) throw new StrategicPatchError(`${path}: list items of different types`);
    kind = k;
  }
  return kind ?? "none";
}

/** Go's `%v` of a scalar, by which Kubernetes sorts and compares list items. */
function scalarString(value: Json): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function typeOf(value: Json): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "map" : typeof value;
}

function isMapOrList(value: Json): boolean {
  return typeof value === "object" && value !== null;
}

function isMap(value: Json | undefined): value is JsonMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]!));
  if (isMap(a) && isMap(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k]!, b[k]!));
  }
  return false;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
