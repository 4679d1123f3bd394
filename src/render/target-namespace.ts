import { groupOf, type KubeObject } from "../apply/object.js";

/**
 * Scopes kustomize knows without a cluster: kyaml's table for its built-in OpenAPI data (Kubernetes v1.21.2), keyed
 * `apiVersion kind`. kustomize never asks the API server, so a kind it does not know is namespaced to it.
 */
const NAMESPACED = new Set(
  [
    "apps/v1 ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet",
    "autoscaling/v1 HorizontalPodAutoscaler Scale",
    "autoscaling/v2beta1 HorizontalPodAutoscaler",
    "autoscaling/v2beta2 HorizontalPodAutoscaler",
    "batch/v1 CronJob Job",
    "batch/v1beta1 CronJob",
    "coordination.k8s.io/v1 Lease",
    "coordination.k8s.io/v1beta1 Lease",
    "discovery.k8s.io/v1 EndpointSlice",
    "discovery.k8s.io/v1beta1 EndpointSlice",
    "events.k8s.io/v1 Event",
    "events.k8s.io/v1beta1 Event",
    "extensions/v1beta1 Ingress",
    "networking.k8s.io/v1 Ingress NetworkPolicy",
    "networking.k8s.io/v1beta1 Ingress",
    "policy/v1 PodDisruptionBudget",
    "policy/v1beta1 PodDisruptionBudget",
    "rbac.authorization.k8s.io/v1 Role",
    "rbac.authorization.k8s.io/v1beta1 Role",
    "storage.k8s.io/v1beta1 CSIStorageCapacity",
    "v1 ConfigMap Endpoints Event LimitRange PersistentVolumeClaim Pod PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount",
    // Newer than the table, so unknown to kustomize, hence namespaced (as they are).
    "autoscaling/v2 HorizontalPodAutoscaler",
  ].flatMap(typeKeys),
);

/** Cluster-scoped kinds of the same table that hold no namespace of another object. */
const CLUSTER_SCOPED = new Set(
  [
    "certificates.k8s.io/v1 CertificateSigningRequest",
    "certificates.k8s.io/v1beta1 CertificateSigningRequest",
    "flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema PriorityLevelConfiguration",
    "networking.k8s.io/v1 IngressClass",
    "networking.k8s.io/v1beta1 IngressClass",
    "node.k8s.io/v1 RuntimeClass",
    "node.k8s.io/v1beta1 RuntimeClass",
    "rbac.authorization.k8s.io/v1 ClusterRole",
    "rbac.authorization.k8s.io/v1beta1 ClusterRole",
    "scheduling.k8s.io/v1 PriorityClass",
    "scheduling.k8s.io/v1beta1 PriorityClass",
    "storage.k8s.io/v1 CSIDriver CSINode StorageClass VolumeAttachment",
    "storage.k8s.io/v1beta1 CSIDriver CSINode StorageClass VolumeAttachment",
    "v1 PersistentVolume",
  ].flatMap(typeKeys),
);

/**
 * Kinds, of any group, whose fields kustomize fills with a namespace: RoleBinding and ClusterRoleBinding subjects
 * (the namespace transformer, and name references to ServiceAccounts), a Node's configSource ConfigMap.
 */
const NAMESPACE_REFERRERS = new Set(["RoleBinding", "ClusterRoleBinding", "Node"]);

/** A CustomResourceDefinition's conversion webhook names a Service, namespaced by kustomize: without one it is inert. */
const CRD_VERSIONS = new Set(["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"]);

/** API groups of Kubernetes itself: a kind of theirs outside the tables above is left to kustomize. */
const KUBERNETES_GROUPS = new Set(["", "apps", "autoscaling", "batch", "extensions", "policy"]);

/** Annotations kustomize reads or strips as its own (build, origin, helm-generated): their objects go to kustomize. */
const KUSTOMIZE_ANNOTATION = /(^|\.)config\.(kubernetes|k8s)\.io\//;

function typeKeys(line: string): string[] {
  const [apiVersion, ...kinds] = line.split(" ");
  return kinds.map((kind) => `${apiVersion} ${kind}`);
}

/**
 * The objects of a generated kustomization (Flux's, for a folder without one) with kustomize's `namespace` applied
 * as kustomize applies it: `metadata.namespace` set on every namespaced object (replacing its own), cluster-scoped
 * objects left alone, a `v1` Namespace renamed to it. Undefined when kustomize could do more than that or fail: a kind
 * whose scope is not certain, one whose fields name other objects' namespaces (RoleBinding and ClusterRoleBinding
 * subjects, webhook and APIService services, CRD conversion webhooks, a Node's ConfigMap), an object without a name,
 * kustomize's own annotations, two objects that would share an identity. The caller then runs kustomize; nothing
 * is mutated.
 */
export function withTargetNamespace(objects: KubeObject[], namespace: string): KubeObject[] | undefined {
  const seen = new Set<string>();
  const result: KubeObject[] = [];
  for (const object of objects) {
    const scope = scopeOf(object);
    if (scope === undefined) return undefined;
    const rendered =
      scope === "namespaced"
        ? { ...object, metadata: { ...object.metadata, namespace } }
        : scope === "namespace"
          ? { ...object, metadata: { ...object.metadata, name: namespace } }
          : object;
    // kustomize refuses two objects of one identity; a cluster-scoped one keeps a namespace of its own, so count
    // without namespaces, which refuses more (kustomize then has its say).
    const id = `${groupOf(rendered.apiVersion)} ${rendered.kind} ${rendered.metadata.name}`;
    if (seen.has(id)) return undefined;
    seen.add(id);
    result.push(rendered);
  }
  return result;
}

/** How the namespace applies to `object`, or undefined when only kustomize can say. */
function scopeOf(object: unknown): "namespaced" | "cluster" | "namespace" | undefined {
  if (!isPlainObject(object)) return undefined;
  const { apiVersion, kind, metadata } = object;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !isPlainObject(metadata)) return undefined;
  if (typeof metadata.name !== "string" || metadata.name === "") return undefined;
  if (metadata.namespace !== undefined && typeof metadata.namespace !== "string") return undefined;
  if (!plainAnnotations(metadata.annotations)) return undefined;
  if (NAMESPACE_REFERRERS.has(kind)) return undefined;
  const key = `${apiVersion} ${kind}`;
  if (key === "v1 Namespace") return "namespace";
  if (CRD_VERSIONS.has(apiVersion) && kind === "CustomResourceDefinition")
    return isPlainObject(object.spec) && !("conversion" in object.spec) ? "cluster" : undefined;
  if (NAMESPACED.has(key)) return "namespaced";
  if (CLUSTER_SCOPED.has(key)) return "cluster";
  const group = groupOf(apiVersion);
  // Custom resources: unknown to kustomize's table, so namespaced to it.
  if (apiVersion.includes("/") && !KUBERNETES_GROUPS.has(group) && !group.endsWith("k8s.io")) return "namespaced";
  return undefined;
}

function plainAnnotations(annotations: unknown): boolean {
  if (annotations === undefined) return true;
  if (!isPlainObject(annotations)) return false;
  const keys = Object.keys(annotations);
  return keys.length > 0 && !keys.some((key) => KUSTOMIZE_ANNOTATION.test(key));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
