import { groupOf, type KubeObject, type ObjMetadata } from "./object.js";

// Kinds applied before everything else and kinds applied last, in this order; the same table as
// Flux's ssa.ReconcileOrder, so both tools touch a cluster in the same sequence.
const FIRST = [
  "CustomResourceDefinition",
  "Namespace",
  "ClusterClass",
  "RuntimeClass",
  "PriorityClass",
  "StorageClass",
  "VolumeSnapshotClass",
  "IngressClass",
  "GatewayClass",
  "ResourceQuota",
  "ServiceAccount",
  "Role",
  "ClusterRole",
  "RoleBinding",
  "ClusterRoleBinding",
  "ConfigMap",
  "Secret",
  "Service",
  "LimitRange",
  "Deployment",
  "StatefulSet",
  "CronJob",
  "PodDisruptionBudget",
];
const LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];
const RANK = new Map<string, number>([
  ...FIRST.map((k, i): [string, number] => [k, i - FIRST.length]),
  ...LAST.map((k, i): [string, number] => [k, i + 1]),
]);

/**
 * Orders objects by kind (table above, then group and kind), namespace and name: deterministic whatever the input
 * order.
 */
export function compareObjects(a: ObjMetadata, b: ObjMetadata): number {
  if (a.group !== b.group || a.kind !== b.kind) {
    const [ra, rb] = [RANK.get(a.kind) ?? 0, RANK.get(b.kind) ?? 0];
    if (ra !== rb) return ra - rb;
    if (a.group !== b.group) return a.group < b.group ? -1 : 1;
    return a.kind < b.kind ? -1 : 1;
  }
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A group and kind, e.g. `{ group: "cert-manager.io", kind: "ClusterIssuer" }`. */
export interface GroupKind {
  group: string;
  kind: string;
}

/**
 * Splits objects into apply stages: (1) CRDs, Namespaces and ClusterRoles, which later objects
 * depend on and which are waited for; (2) kinds named `*Class`; (3) the caller's custom kinds;
 * (4) everything else. Empty stages are dropped.
 */
export function stages(objects: KubeObject[], customKinds: GroupKind[] = []): KubeObject[][] {
  const buckets: KubeObject[][] = [[], [], [], []];
  for (const object of objects) buckets[stageOf(object, customKinds)]!.push(object);
  return buckets.filter((b) => b.length > 0);
}

function stageOf(object: KubeObject, customKinds: GroupKind[]): number {
  const group = groupOf(object.apiVersion);
  if (isClusterDefinition(object)) return 0;
  if (object.kind.endsWith("Class")) return 1;
  if (customKinds.some((k) => k.kind === object.kind && k.group === group)) return 2;
  return 3;
}

/** CRDs, Namespaces and ClusterRoles: cluster-wide definitions other objects rely on. */
export function isClusterDefinition(object: KubeObject): boolean {
  return (
    (object.kind === "CustomResourceDefinition" && object.apiVersion.startsWith("apiextensions.k8s.io/")) ||
    (object.kind === "Namespace" && object.apiVersion === "v1") ||
    (object.kind === "ClusterRole" && object.apiVersion.startsWith("rbac.authorization.k8s.io/"))
  );
}
