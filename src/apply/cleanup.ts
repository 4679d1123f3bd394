import type { KubeObject, ManagedFieldsEntry } from "./object.js";

/** Field managers whose ownership Sluice takes over, as kustomize-controller does. */
export interface FieldManagerRef {
  name: string;
  operation: "Apply" | "Update";
}

/**
 * Flux's defaults: undo `kubectl apply` (client- and server-side) and `before-first-apply`, and take
 * over fields kustomize-controller set before server-side apply — so a fleet moves from Flux to
 * Sluice without two managers fighting over fields.
 */
export const DEFAULT_CLEANUP: { annotations: string[]; fieldManagers: FieldManagerRef[] } = {
  annotations: [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
  ],
  fieldManagers: [
    { name: "kubectl", operation: "Apply" },
    { name: "kubectl", operation: "Update" },
    { name: "before-first-apply", operation: "Update" },
    { name: "kustomize-controller", operation: "Update" },
    { name: "kustomize-controller", operation: "Apply" },
  ],
};

type JsonPatchOp = { op: "remove"; path: string } | { op: "replace"; path: string; value: unknown };

/**
 * The JSON patch that removes the listed annotations and hands the listed managers' fields to
 * `owner` (merged into its Apply entry). Empty when there is nothing to clean. Pure.
 */
export function cleanupPatch(live: KubeObject, owner: string, cleanup = DEFAULT_CLEANUP): JsonPatchOp[] {
  const patch: JsonPatchOp[] = cleanedAnnotations(live, cleanup).map((key) => ({
    op: "remove",
    path: `/metadata/annotations/${escapePointer(key)}`,
  }));
  const entries = live.metadata.managedFields ?? [];
  const taken = entries.filter(
    (e) => !e.subresource && cleanup.fieldManagers.some((m) => m.name === e.manager && m.operation === e.operation),
  );
  if (taken.length > 0) {
    const kept = entries.filter((e) => !taken.includes(e));
    const ours = kept.find((e) => e.manager === owner && e.operation === "Apply" && !e.subresource);
    const merged = taken.reduce((fields, e) => mergeFields(fields, e.fieldsV1 ?? {}), ours?.fieldsV1 ?? {});
    const replacement: ManagedFieldsEntry = {
      ...(ours ?? { ...taken[0], manager: owner, operation: "Apply" }),
      fieldsType: "FieldsV1",
      fieldsV1: merged,
    };
    patch.push({
      op: "replace",
      path: "/metadata/managedFields",
      value: [...kept.filter((e) => e !== ours), replacement],
    });
  }
  return patch;
}

/** The listed annotations the object has: what the cleanup removes. */
export function cleanedAnnotations(live: KubeObject, cleanup = DEFAULT_CLEANUP): string[] {
  return cleanup.annotations.filter((key) => live.metadata.annotations?.[key] !== undefined);
}

/** Union of two fieldsV1 trees (sets encoded as nested objects). */
function mergeFields(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const existing = out[key];
    out[key] = isRecord(existing) && isRecord(value) ? mergeFields(existing, value) : value;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}
