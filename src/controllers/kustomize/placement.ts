import { CLUSTER_ANNOTATION, clusterKey, clusterRegistration } from "../../api/cluster.js";
import { InvalidObjectError, parseObject } from "../../api/parse.js";
import { REASON } from "../../api/reasons.js";
import { serviceAccountUser } from "../../cluster/access-review.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { refuseCrossNamespaceRefs } from "../cross-namespace.js";
import { clusterRefusal } from "./fleet-access.js";
import type { Attempt } from "./attempt.js";

/**
 * Where a Kustomization's objects go: the worker applies (direct, to a registered cluster or its own), or a
 * cluster's pull agent does.
 */
export type Placement = { mode: "direct"; target?: Attempt["target"] } | { mode: "agent"; cluster: string };

/**
 * The placement phase: the registered cluster a Kustomization names (annotation `sluice.dev/cluster`),
 * else the runtime's own. A Kustomization acting as a service account may name only a cluster that
 * allows its namespace.
 */
export async function placementPhase(attempt: Attempt): Promise<Placement> {
  const name = attempt.ks.metadata.annotations?.[CLUSTER_ANNOTATION];
  if (!name) return { mode: "direct" };
  const failed = (message: string) => new ReconcileError(REASON.reconciliationFailed, message);
  const stored = await attempt.ports.store.get(clusterKey(name));
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
  const { identity } = attempt;
  const refusal = identity && (await clusterRefusal(attempt.ports.store, name, attempt.namespace));
  if (identity && refusal)
    throw new ReconcileError(
      REASON.accessDenied,
      `metadata.annotations[${CLUSTER_ANNOTATION}] refused for ${serviceAccountUser(identity)}: ${refusal}`,
    );
  if (spec.mode === "agent") return { mode: "agent", cluster: name };
  if (!spec.kubeConfig && !spec.eks) return { mode: "direct" };
  if (attempt.ks.spec.kubeConfig)
    throw failed(
      `spec.kubeConfig: not used for cluster '${name}' (its registration says how to reach it); remove it or the ${CLUSTER_ANNOTATION} annotation`,
    );
  return { mode: "direct", target: { name, kubeConfig: spec.kubeConfig, eks: spec.eks } };
}

/** Flux's `--no-cross-namespace-refs` for a Kustomization's sourceRef and dependsOn. */
export function refuseKustomizationCrossNamespaceRefs(attempt: Attempt): void {
  const { sourceRef, dependsOn } = attempt.ks.spec;
  refuseCrossNamespaceRefs(attempt.ports.settings, attempt.namespace, [
    { kind: sourceRef.kind, namespace: sourceRef.namespace, name: sourceRef.name },
    ...(dependsOn ?? []).map((d) => ({ kind: "Kustomization", ...d })),
  ]);
}
