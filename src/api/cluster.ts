import { z } from "zod";
import { objectMeta } from "./meta.js";

// A Cluster registration tells the control plane how a target cluster is reached: `direct` (the
// worker applies, through EKS IAM or a kubeconfig) or `agent` (the worker publishes signed bundles
// and the cluster's pull agent applies them). Sluice's own kind, kept in the Store next to Flux's.

export const CLUSTER_API_VERSION = "sluice.dev/v1alpha1";
/** Store namespace of Cluster registrations (the kind is cluster-scoped; the Store needs one). */
export const CLUSTER_NAMESPACE = "sluice-system";
/** Names the registered cluster a Kustomization targets; inherited by the Flux objects it registers. */
export const CLUSTER_ANNOTATION = "sluice.dev/cluster";

export const clusterMode = z.enum(["direct", "agent"]);
export type ClusterMode = z.infer<typeof clusterMode>;

export const clusterRegistration = z.strictObject({
  apiVersion: z.literal(CLUSTER_API_VERSION),
  kind: z.literal("Cluster"),
  metadata: objectMeta,
  spec: z.strictObject({
    mode: clusterMode,
    /**
     * Namespaces whose Kustomizations may target this cluster when they act as a service account
     * (`serviceAccountName`, or the control plane's defaultServiceAccount); `*` is any namespace.
     * Absent: only Kustomizations without an identity (the platform's own) may target it.
     */
    allowedNamespaces: z.array(z.string().min(1).max(63)).optional(),
  }),
  status: z.unknown().optional(),
});
export type ClusterRegistration = z.infer<typeof clusterRegistration>;

export function newClusterRegistration(name: string, mode: ClusterMode, allowedNamespaces?: string[]): ClusterRegistration {
  const spec = { mode, ...(allowedNamespaces?.length && { allowedNamespaces }) };
  return { apiVersion: CLUSTER_API_VERSION, kind: "Cluster", metadata: { name, namespace: CLUSTER_NAMESPACE }, spec };
}

/** Whether a Kustomization of `namespace` acting as a service account may target the cluster (see `allowedNamespaces`). */
export function clusterAllowsTenant(registration: ClusterRegistration, namespace: string): boolean {
  const allowed = registration.spec.allowedNamespaces ?? [];
  return allowed.includes("*") || allowed.includes(namespace);
}

export function clusterKey(name: string): { kind: string; namespace: string; name: string } {
  return { kind: "Cluster", namespace: CLUSTER_NAMESPACE, name };
}
