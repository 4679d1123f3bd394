import { createHash } from "node:crypto";
import { CLUSTER_NAMESPACE } from "../api/cluster.js";
import type { EksAccess } from "../aws/eks.js";
import { asServiceAccount, openCluster, type Cluster } from "../cluster/cluster.js";
import type { KubeClientOptions } from "../cluster/kube-client.js";
import type { ClusterRequest } from "../controllers/reconciler-ports.js";
import { SecretError, type Secrets } from "../secrets/secrets.js";
import type { Clock } from "../ports/clock.js";

export interface ClusterFactoryOptions {
  /** Reaches EKS registrations (`spec.eks`); absent: they are refused (local mode has no AWS identity). */
  eks?: EksAccess;
  /**
   * How long a reconcile waits for a cluster's first answer before it is asked to come back (not holding a worker).
   * @default 500
   */
  connectGraceMs?: number;
  /** Timeouts of the connections it opens (connectTimeoutMs, timeoutMs, unreachableMemoryMs). */
  client?: KubeClientOptions;
}

/**
 * Cluster connections for reconcilers, cached: the default cluster; a registered cluster
 * (`sluice.dev/cluster`) through its kubeconfig Secret in sluice-system or its EKS name (and role);
 * or a Kustomization's `kubeConfig.secretRef` (keys `value` or `value.yaml`, as Flux) — each
 * optionally impersonating a service account of the Kustomization's namespace. Every cluster handed
 * out has answered: an unreachable one fails at once (ClusterUnreachableError) while it is remembered.
 */
export function clusterFactory(
  defaultCluster: Cluster | (() => Promise<Cluster>) | undefined,
  secrets: Secrets,
  clock: Clock,
  options: ClusterFactoryOptions = {},
): (request: ClusterRequest) => Promise<Cluster> {
  const cache = new Map<string, Promise<Cluster>>();
  const open = (id: string, connect: () => Promise<Cluster>): Promise<Cluster> => {
    if (!cache.has(id)) cache.set(id, connect());
    return cache.get(id)!;
  };
  const fromKubeconfig = (kubeconfig: string, refuseInsecureTLS: boolean) => {
    const id = createHash("sha256").update(kubeconfig).digest("hex");
    return {
      id,
      cluster: open(id, () => openCluster({ kubeconfig, refuseInsecureTLS, fromSecret: true }, clock, options.client)),
    };
  };
  const kubeconfigFrom = async (
    namespace: string,
    ref: { secretName: string; key?: string },
    field: string,
  ): Promise<string> => {
    const data = await secrets.secret({ namespace, name: ref.secretName });
    if (!data) throw new SecretError(`${field}: secret '${namespace}/${ref.secretName}' not found`);
    const kubeconfig = ref.key ? data[ref.key] : (data.value ?? data["value.yaml"]);
    const keys = ref.key ? `'${ref.key}'` : "'value' or 'value.yaml'";
    if (!kubeconfig) throw new SecretError(`${field}: secret '${namespace}/${ref.secretName}' has no key ${keys}`);
    return kubeconfig;
  };

  const registered = async (
    target: NonNullable<ClusterRequest["cluster"]>,
  ): Promise<{ cluster: Promise<Cluster>; id: string }> => {
    if (target.kubeConfig) {
      const { name, key } = target.kubeConfig.secretRef;
      // The registration is the operator's; its kubeconfig may skip TLS verification, as the operator's own may.
      return fromKubeconfig(
        await kubeconfigFrom(CLUSTER_NAMESPACE, { secretName: name, key }, "spec.kubeConfig.secretRef"),
        false,
      );
    }
    if (!options.eks) {
      throw new Error(
        "spec.eks: EKS clusters are reached by the AWS control plane's worker; with sluice run, register a kubeconfig (spec.kubeConfig)",
      );
    }
    const eks = options.eks;
    const cluster = target.eks!;
    const { server, caPem } = await eks.target(cluster);
    // One connection per cluster and identity; EksAccess caches each token below its 15-minute life.
    const id = `eks:${cluster.roleArn ?? ""}|${cluster.region ?? ""}|${cluster.name}`;
    return {
      id,
      cluster: open(id, () =>
        openCluster(
          { server, caPem, tokenSource: async () => (await eks.target(cluster)).token },
          clock,
          options.client,
        ),
      ),
    };
  };

  const target = async (request: ClusterRequest): Promise<{ cluster: Promise<Cluster>; id: string }> => {
    if (request.cluster && (request.cluster.kubeConfig || request.cluster.eks)) {
      try {
        return await registered(request.cluster);
      } catch (error) {
        throw new Error(`cluster '${request.cluster.name}': ${(error as Error).message}`, { cause: error });
      }
    }
    if (request.kubeConfig) {
      return fromKubeconfig(
        await kubeconfigFrom(request.namespace, request.kubeConfig, "kubeConfig.secretRef"),
        !request.insecureKubeConfigTLS,
      );
    }
    if (!defaultCluster) {
      throw new Error(
        "no cluster to apply to: the control plane has no cluster of its own (SLUICE_CLUSTER); set spec.kubeConfig.secretRef or target a registered cluster (annotation sluice.dev/cluster)",
      );
    }
    return {
      cluster: Promise.resolve(typeof defaultCluster === "function" ? defaultCluster() : defaultCluster),
      id: "default",
    };
  };

  return async (request) => {
    const { cluster: connecting, id } = await target(request);
    const cluster = await connecting;
    await cluster.client.reachable(options.connectGraceMs);
    const { namespace, serviceAccountName } = request;
    if (!serviceAccountName) return cluster;
    return open(`${id}:sa:${namespace}:${serviceAccountName}`, async () =>
      asServiceAccount(cluster, namespace, serviceAccountName),
    );
  };
}
