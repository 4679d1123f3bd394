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

/**
 * A kubeconfig in a Secret of CLUSTER_NAMESPACE (keys `value` or `value.yaml` unless `key`), as Flux's
 * `kubeConfig.secretRef`.
 */
const kubeConfigRef = z.strictObject({
  secretRef: z.strictObject({ name: z.string().min(1).max(253), key: z.string().min(1).optional() }),
});

/** An EKS cluster, reached with the worker's IAM identity, or with a role it assumes (another account, say). */
const eksCluster = z.strictObject({
  name: z.string().regex(/^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/, "an EKS cluster name"),
  /** @default the control plane's region */
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region such as eu-west-1")
    .optional(),
  roleArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
      "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
    )
    .optional(),
});
export type EksCluster = z.infer<typeof eksCluster>;

export const clusterRegistration = z.strictObject({
  apiVersion: z.literal(CLUSTER_API_VERSION),
  kind: z.literal("Cluster"),
  metadata: objectMeta,
  spec: z
    .strictObject({
      mode: clusterMode,
      /**
       * Namespaces whose Kustomizations may target this cluster when they act as a service account
       * (`serviceAccountName`, or the control plane's defaultServiceAccount); `*` is any namespace.
       * Absent: only Kustomizations without an identity (the platform's own) may target it.
       */
      allowedNamespaces: z.array(z.string().min(1).max(63)).optional(),
      /**
       * How the worker reaches a direct cluster: a kubeconfig Secret or an EKS cluster. Neither: the
       * Kustomization's own `kubeConfig.secretRef`, else the control plane's cluster.
       */
      kubeConfig: kubeConfigRef.optional(),
      eks: eksCluster.optional(),
    })
    .check((ctx) => {
      const { mode, kubeConfig, eks } = ctx.value;
      const issue = (field: string, message: string) =>
        ctx.issues.push({ code: "custom", input: ctx.value, path: [field], message });
      if (mode === "agent" && (kubeConfig || eks))
        issue(
          kubeConfig ? "kubeConfig" : "eks",
          "not used in agent mode (the agent applies to the cluster it runs in)",
        );
      if (kubeConfig && eks) issue("eks", "set either kubeConfig or eks, not both");
    }),
  status: z.unknown().optional(),
});
export type ClusterRegistration = z.infer<typeof clusterRegistration>;

/** How the worker reaches a registered direct cluster (undefined: as if not registered). */
export type ClusterConnection = Pick<ClusterRegistration["spec"], "kubeConfig" | "eks">;

export function newClusterRegistration(
  name: string,
  mode: ClusterMode,
  allowedNamespaces?: string[],
  connection: ClusterConnection = {},
): ClusterRegistration {
  const spec = { mode, ...(allowedNamespaces?.length && { allowedNamespaces }), ...connection };
  return { apiVersion: CLUSTER_API_VERSION, kind: "Cluster", metadata: { name, namespace: CLUSTER_NAMESPACE }, spec };
}

/**
 * Whether a Kustomization of `namespace` acting as a service account may target the cluster (see
 * `allowedNamespaces`).
 */
export function clusterAllowsTenant(registration: ClusterRegistration, namespace: string): boolean {
  const allowed = registration.spec.allowedNamespaces ?? [];
  return allowed.includes("*") || allowed.includes(namespace);
}

export function clusterKey(name: string): { kind: string; namespace: string; name: string } {
  return { kind: "Cluster", namespace: CLUSTER_NAMESPACE, name };
}
