import { deepEqual, type Json, type JsonMap } from "./strategic-merge.js";

// JSON merge patches (RFC 7386) for kinds the API server takes no strategic merge patch for (custom resources), as
// Helm computes them: two-way from the previous manifest to the new one (evanphx/json-patch CreateMergePatch), or
// three-way when an install takes over existing objects (apimachinery's CreateThreeWayJSONMergePatch). Lists are
// values: a changed list is sent whole.

/** The merge patch that turns `original` into `modified`: changed and added keys, `null` for removed ones. */
export function twoWayMergePatch(original: JsonMap, modified: JsonMap): JsonMap {
  const patch: JsonMap = {};
  for (const [key, value] of Object.entries(modified)) {
    const before = original[key];
    if (isMap(before) && isMap(value)) {
      const nested = twoWayMergePatch(before, value);
      if (Object.keys(nested).length > 0) patch[key] = nested;
    } else if (before === undefined || !deepEqual(before, value)) patch[key] = value;
  }
  for (const key of Object.keys(original)) if (!(key in modified)) patch[key] = null;
  return patch;
}

/**
 * Additions and changes from `current` (live) to `modified`, deletions only of what `original` had and `modified`
 * drops: a key someone else added to the live object stays.
 */
export function threeWayMergePatch(original: JsonMap, modified: JsonMap, current: JsonMap): JsonMap {
  const changes = keepNulls(twoWayMergePatch(current, modified), false);
  const deletions = keepNulls(twoWayMergePatch(original, modified), true);
  return union(deletions, changes);
}

/** Only the nulls of a patch (deletions), or everything but them (additions and changes); empty maps are values. */
function keepNulls(patch: JsonMap, nulls: boolean): JsonMap {
  const kept: JsonMap = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      if (nulls) kept[key] = null;
    } else if (isMap(value) && Object.keys(value).length > 0) {
      const nested = keepNulls(value, nulls);
      if (Object.keys(nested).length > 0) kept[key] = nested;
    } else if (!nulls) kept[key] = value;
  }
  return kept;
}

/** The two patches together (they touch different keys, both being computed against `modified`). */
function union(base: JsonMap, patch: JsonMap): JsonMap {
  const result: JsonMap = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const existing = result[key];
    result[key] = isMap(existing) && isMap(value) ? union(existing, value) : value;
  }
  return result;
}

function isMap(value: Json | undefined): value is JsonMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
