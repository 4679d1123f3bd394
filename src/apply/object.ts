/** An unstructured Kubernetes object, as rendered from YAML. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  deletionTimestamp?: string;
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
}

/** One `metadata.managedFields` entry. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: "Apply" | "Update";
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

/** The identity of an object, as Flux's inventory and change sets record it. */
export interface ObjMetadata {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

/** The group of an apiVersion ("" for the core group). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/** The version of an apiVersion. */
export function versionOf(apiVersion: string): string {
  return apiVersion.slice(apiVersion.indexOf("/") + 1);
}

export function objMetadata(object: KubeObject): ObjMetadata {
  return {
    group: groupOf(object.apiVersion),
    kind: object.kind,
    namespace: object.metadata.namespace ?? "",
    name: object.metadata.name,
  };
}

/** `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects — the prefix of every message about an object. */
export function formatId(object: Pick<ObjMetadata, "kind" | "namespace" | "name">): string {
  return object.namespace ? `${object.kind}/${object.namespace}/${object.name}` : `${object.kind}/${object.name}`;
}

/** Id of an unstructured object (tolerates missing metadata, for error messages about bad input). */
export function idOf(object: Partial<KubeObject>): string {
  return formatId({
    kind: object.kind ?? "<no kind>",
    namespace: object.metadata?.namespace ?? "",
    name: object.metadata?.name ?? "<no name>",
  });
}

/** True when any `key: value` of `selector` is in the object's labels or annotations. */
export function anyInMetadata(object: KubeObject | undefined, selector: Record<string, string>): boolean {
  if (!object) return false;
  const { labels = {}, annotations = {} } = object.metadata;
  return Object.entries(selector).some(([key, value]) => labels[key] === value || annotations[key] === value);
}

/** A deep copy through JSON (objects here are always JSON). */
export function clone<T>(value: T): T {
  return structuredClone(value);
}
