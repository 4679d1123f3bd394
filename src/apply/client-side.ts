import type { Cluster } from "../cluster/cluster.js";
import { resourcePath, type ResourceInfo } from "../cluster/discovery.js";
import { KubeApiError } from "../cluster/errors.js";
import { changeSetEntry, type ChangeSetEntry } from "./changeset.js";
import { ApplyFailedError, ObjectError, describeApiError } from "./errors.js";
import { entryId } from "./inventory.js";
import { threeWayMergePatch, twoWayMergePatch } from "./merge-patch.js";
import { clone, idOf, objMetadata, type KubeObject } from "./object.js";
import { getObject } from "./objects-api.js";
import { patchKindFor } from "./openapi-patch-schema.js";
import { StrategicPatchError, threeWayStrategicMergePatch, type JsonMap } from "./strategic-merge.js";

// Client-side apply, as Helm does it when a release is not applied server-side: objects that do not exist are
// created, existing ones patched — a three-way strategic merge patch (previous manifest, new manifest, live object)
// for kinds the API server takes one for, a JSON merge patch for custom resources — or replaced with `force`.
// The objects are handled in the order given (Helm's install order), each through the API server as the cluster's
// identity, so RBAC decides what a release may touch exactly as it does for server-side apply.

export interface ClientSideApplyOptions {
  fieldManager: string;
  /** Where namespaced objects without a namespace go. */
  defaultNamespace: string;
  /** Helm's ForceReplace (`force` without server-side apply): existing objects are replaced (PUT), not patched. */
  replace?: boolean;
  /**
   * Three-way JSON merge patches for custom resources (an install taking over existing objects); otherwise two-way,
   * from the previous manifest to the new one, as Helm's upgrade and rollback compute them.
   */
  threeWayForCustomResources?: boolean;
}

/**
 * Applies `objects` client-side; `originals` are the previous manifest's objects (an object without one is
 * patched against its live state, as Helm does). Returns the change set; throws ApplyFailedError naming each
 * object that failed, with what was done before.
 */
export async function clientSideApplyAll(
  cluster: Cluster,
  objects: KubeObject[],
  originals: KubeObject[],
  options: ClientSideApplyOptions,
): Promise<ChangeSetEntry[]> {
  const changeSet: ChangeSetEntry[] = [];
  const errors: ObjectError[] = [];
  const previous = new Map<string, KubeObject>();
  for (const original of originals) {
    const located = await locate(cluster, original, options.defaultNamespace).catch(() => undefined);
    if (located) previous.set(located.id, located.object);
  }
  for (const input of objects) {
    try {
      const { info, object, id } = await locate(cluster, input, options.defaultNamespace);
      changeSet.push(await applyOne(cluster, info, object, previous.get(id), options));
    } catch (error) {
      errors.push(asObjectError(idOf(input), error, cluster));
      break; // Helm stops at the first object that fails
    }
  }
  if (errors.length > 0) throw new ApplyFailedError(changeSet, errors);
  return changeSet;
}

/** The object's resource, with its namespace as it will be stored (the default, or none when cluster-scoped). */
async function locate(cluster: Cluster, input: KubeObject, defaultNamespace: string) {
  const info = await cluster.discovery.find(input.apiVersion, input.kind);
  if (!info)
    throw new ObjectError(
      idOf(input),
      "validation",
      `no kind "${input.kind}" is served for apiVersion "${input.apiVersion}"; is its CustomResourceDefinition installed?`,
    );
  const object = clone(input);
  if (info.namespaced) object.metadata.namespace ??= defaultNamespace;
  else delete object.metadata.namespace;
  return { info, object, id: entryId(objMetadata(object)) };
}

async function applyOne(
  cluster: Cluster,
  info: ResourceInfo,
  object: KubeObject,
  original: KubeObject | undefined,
  options: ClientSideApplyOptions,
): Promise<ChangeSetEntry> {
  const { namespace, name } = object.metadata;
  const query = { fieldManager: options.fieldManager };
  const live = await getObject(cluster, info, namespace ?? "", name);
  if (!live) {
    const created = await cluster.client.send<KubeObject>({
      method: "POST",
      path: resourcePath(info, namespace),
      query,
      body: object,
    });
    return changeSetEntry({ ...created, apiVersion: object.apiVersion, kind: object.kind }, "created");
  }
  const path = resourcePath(info, namespace, name);
  if (options.replace) {
    const body = { ...object, metadata: { ...object.metadata, resourceVersion: live.metadata.resourceVersion } };
    await cluster.client.send({ method: "PUT", path, query, body });
    return changeSetEntry(object, "configured");
  }
  const { patch, contentType } = await patchFor(cluster, info, object, original ?? live, live, options);
  if (Object.keys(patch).length === 0) return changeSetEntry(object, "unchanged");
  const patched = await cluster.client.send<KubeObject>({ method: "PATCH", path, query, contentType, body: patch });
  const changed = patched.metadata.resourceVersion !== live.metadata.resourceVersion;
  return changeSetEntry(object, changed ? "configured" : "unchanged");
}

/** Helm's createPatch: a strategic merge patch where the server takes one, a JSON merge patch otherwise. */
async function patchFor(
  cluster: Cluster,
  info: ResourceInfo,
  object: KubeObject,
  original: KubeObject,
  live: KubeObject,
  options: ClientSideApplyOptions,
): Promise<{ patch: JsonMap; contentType: string }> {
  const kind = await patchKindFor(cluster, info);
  const [previous, modified, current] = [original, object, live] as unknown as JsonMap[];
  if (!kind)
    throw new ObjectError(
      idOf(object),
      "patch",
      `the API server's OpenAPI does not describe how to patch ${info.group ? `${info.group}/` : ""}${info.version} ${info.kind}; it cannot be applied client-side`,
    );
  if (kind.type === "merge") {
    const patch = options.threeWayForCustomResources
      ? threeWayMergePatch(previous!, modified!, current!)
      : twoWayMergePatch(previous!, modified!);
    return { patch, contentType: "application/merge-patch+json" };
  }
  refuseDirectives(object, modified!, "");
  const patch = threeWayStrategicMergePatch(previous!, modified!, current!, kind.schema);
  return { patch, contentType: "application/strategic-merge-patch+json" };
}

/**
 * A manifest key the server would read as a strategic merge directive (`$patch: replace` wiping what others set,
 * `$retainKeys`, …) is refused: the manifest describes objects, it does not get to steer the merge.
 */
function refuseDirectives(object: KubeObject, value: unknown, path: string): void {
  if (Array.isArray(value)) value.forEach((item, index) => refuseDirectives(object, item, `${path}[${index}]`));
  else if (typeof value === "object" && value !== null)
    for (const [key, item] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      if (key.startsWith("$"))
        throw new ObjectError(
          idOf(object),
          "patch",
          `${at}: a key starting with "$" is a patch directive, not a field`,
        );
      refuseDirectives(object, item, at);
    }
}

function asObjectError(subject: string, error: unknown, cluster: Cluster): ObjectError {
  if (error instanceof ObjectError) return error;
  if (error instanceof StrategicPatchError) return new ObjectError(subject, "patch", error.message);
  const status = error instanceof KubeApiError ? error.status : undefined;
  const detail = describeApiError(error, { secret: subject.startsWith("Secret/"), identity: cluster.client.identity });
  return new ObjectError(subject, "apply", detail, status);
}
