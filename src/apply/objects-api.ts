import { resourcePath, type ResourceInfo } from "../cluster/discovery.js";
import { isNotFound } from "../cluster/errors.js";
import type { Cluster } from "../cluster/cluster.js";
import type { KubeObject } from "./object.js";

/** The live object, or undefined when it does not exist. */
export async function getObject(
  cluster: Cluster,
  info: ResourceInfo,
  namespace: string,
  name: string,
): Promise<KubeObject | undefined> {
  try {
    return withKind(
      info,
      await cluster.client.send<KubeObject>({ method: "GET", path: resourcePath(info, namespace, name) }),
    );
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Objects of one resource in one namespace (or cluster-wide) matching a label selector. */
export async function listObjects(
  cluster: Cluster,
  info: ResourceInfo,
  namespace: string,
  labelSelector: string,
): Promise<KubeObject[]> {
  const list = await cluster.client.send<{ items?: KubeObject[] }>({
    method: "GET",
    path: resourcePath(info, namespace),
    query: { labelSelector },
  });
  return (list.items ?? []).map((item) => withKind(info, item));
}

/** Server-side apply, forcing ownership of conflicting fields; with `dryRun` nothing is persisted. */
export async function serverSideApply(
  cluster: Cluster,
  info: ResourceInfo,
  object: KubeObject,
  options: { fieldManager: string; dryRun: boolean },
): Promise<KubeObject> {
  return cluster.client.send<KubeObject>({
    method: "PATCH",
    path: resourcePath(info, object.metadata.namespace, object.metadata.name),
    query: { fieldManager: options.fieldManager, force: "true", dryRun: options.dryRun ? "All" : undefined },
    contentType: "application/apply-patch+yaml",
    body: object,
  });
}

/** A JSON patch (RFC 6902), used for metadata cleanup. */
export async function jsonPatch(
  cluster: Cluster,
  info: ResourceInfo,
  namespace: string,
  name: string,
  patch: unknown[],
  fieldManager: string,
): Promise<void> {
  await cluster.client.send({
    method: "PATCH",
    path: resourcePath(info, namespace, name),
    query: { fieldManager },
    contentType: "application/json-patch+json",
    body: patch,
  });
}

/** Deletes with the given propagation; a missing object counts as deleted. */
export async function deleteObject(
  cluster: Cluster,
  info: ResourceInfo,
  namespace: string,
  name: string,
  propagationPolicy: "Background" | "Foreground" | "Orphan" = "Background",
): Promise<void> {
  try {
    await cluster.client.send({
      method: "DELETE",
      path: resourcePath(info, namespace, name),
      body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy },
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

// List items come without apiVersion/kind; drift comparison needs them.
function withKind(info: ResourceInfo, object: KubeObject): KubeObject {
  return { ...object, apiVersion: info.group ? `${info.group}/${info.version}` : info.version, kind: info.kind };
}
