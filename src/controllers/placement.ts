import { CLUSTER_ANNOTATION, clusterKey, clusterRegistration } from "../api/cluster.js";
import { InvalidObjectError, parseObject } from "../api/parse.js";
import { REASON } from "../api/reasons.js";
import { serviceAccountUser } from "../cluster/access-review.js";
import { ReconcileError } from "../pipeline/reconcile-error.js";
import { clusterRefusal } from "./kustomize/fleet-access.js";
import type { ServiceAccountRef } from "../cluster/access-review.js";
import type { ClusterRequest, ReconcilerPorts } from "./reconciler-ports.js";

/**
 * Where a Kustomization's objects or a HelmRelease's release go: the control plane applies (direct, to a registered
 * cluster or its own), or a cluster's pull agent does.
 */
export type Placement =
  { mode: "direct"; target?: NonNullable<ClusterRequest["cluster"]> } | { mode: "agent"; cluster: string };

/** What placement reads of a Kustomization or HelmRelease. */
interface Placed {
  metadata: { namespace?: string; annotations?: Record<string, string> };
  spec: { kubeConfig?: unknown };
}

/**
 * The placement phase: the registered cluster an object names (annotation `sluice.dev/cluster`), else the
 * runtime's own. An object acting as a service account may name only a cluster that allows its namespace.
 */
export async function placementPhase(
  ports: ReconcilerPorts,
  object: Placed,
  identity: ServiceAccountRef | undefined,
): Promise<Placement> {
  const name = object.metadata.annotations?.[CLUSTER_ANNOTATION];
  if (!name) return { mode: "direct" };
  const failed = (message: string) => new ReconcileError(REASON.reconciliationFailed, message);
  const stored = await ports.store.get(clusterKey(name));
  if (!stored)
    throw failed(
      `metadata.annotations[${CLUSTER_ANNOTATION}]: cluster '${name}' is not registered (sluice create cluster ${name} --mode agent|direct)`,
    );
  let spec;
  try {
    spec = parseObject(clusterRegistration, stored.object).spec;
  } catch (error) {
    if (error instanceof InvalidObjectError) throw failed(error.message);
    throw error;
  }
  const refusal = identity && (await clusterRefusal(ports.store, name, object.metadata.namespace ?? "default"));
  if (identity && refusal)
    throw new ReconcileError(
      REASON.accessDenied,
      `metadata.annotations[${CLUSTER_ANNOTATION}] refused for ${serviceAccountUser(identity)}: ${refusal}`,
    );
  const why =
    spec.mode === "agent" ? "its agent applies to the cluster it runs in" : "its registration says how to reach it";
  if (object.spec.kubeConfig && (spec.mode === "agent" || spec.kubeConfig || spec.eks))
    throw failed(
      `spec.kubeConfig: not used for ${spec.mode === "agent" ? "agent " : ""}cluster '${name}' (${why}); remove it or the ${CLUSTER_ANNOTATION} annotation`,
    );
  if (spec.mode === "agent") return { mode: "agent", cluster: name };
  if (!spec.kubeConfig && !spec.eks) return { mode: "direct" };
  return { mode: "direct", target: { name, kubeConfig: spec.kubeConfig, eks: spec.eks } };
}
