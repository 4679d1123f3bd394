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
  spec: z.strictObject({ mode: clusterMode }),
  status: z.unknown().optional(),
});
export type ClusterRegistration = z.infer<typeof clusterRegistration>;

export function newClusterRegistration(name: string, mode: ClusterMode): ClusterRegistration {
  return { apiVersion: CLUSTER_API_VERSION, kind: "Cluster", metadata: { name, namespace: CLUSTER_NAMESPACE }, spec: { mode } };
}

export function clusterKey(name: string): { kind: string; namespace: string; name: string } {
  return { kind: "Cluster", namespace: CLUSTER_NAMESPACE, name };
}
