import { createHash } from "node:crypto";
import { asServiceAccount, openCluster, type Cluster } from "../cluster/cluster.js";
import type { ClusterRequest } from "../controllers/runtime.js";
import { SecretError, type Secrets } from "../secrets/secrets.js";
import type { Clock } from "./clock.js";

/**
 * Cluster connections for reconcilers, cached: the default cluster, remote clusters from a
 * `kubeConfig.secretRef` (keys `value` or `value.yaml`, as Flux), each optionally impersonating a
 * service account of the Kustomization's namespace.
 */
export function clusterFactory(defaultCluster: Cluster | (() => Promise<Cluster>) | undefined, secrets: Secrets, clock: Clock): (request: ClusterRequest) => Promise<Cluster> {
  const cache = new Map<string, Promise<Cluster>>();
  const remote = async (request: ClusterRequest): Promise<{ cluster: Cluster; id: string }> => {
    if (!request.kubeConfig) {
      if (!defaultCluster) throw new Error("no cluster to apply to: the control plane has no cluster of its own (SLUICE_CLUSTER); set spec.kubeConfig.secretRef or target an agent cluster (annotation sluice.dev/cluster)");
      return { cluster: typeof defaultCluster === "function" ? await defaultCluster() : defaultCluster, id: "default" };
    }
    const { secretName, key } = request.kubeConfig;
    const data = await secrets.secret({ namespace: request.namespace, name: secretName });
    if (!data) throw new SecretError(`kubeConfig.secretRef: secret '${request.namespace}/${secretName}' not found`);
    const kubeconfig = key ? data[key] : (data.value ?? data["value.yaml"]);
    if (!kubeconfig) throw new SecretError(`kubeConfig.secretRef: secret '${request.namespace}/${secretName}' has no key ${key ? `'${key}'` : "'value' or 'value.yaml'"}`);
    const id = createHash("sha256").update(kubeconfig).digest("hex");
    if (!cache.has(id)) cache.set(id, openCluster({ kubeconfig, refuseInsecureTLS: !request.insecureKubeConfigTLS }, clock));
    return { cluster: await cache.get(id)!, id };
  };
  return async (request) => {
    const { cluster, id } = await remote(request);
    if (!request.serviceAccountName) return cluster;
    const cacheKey = `${id}:${request.namespace}:${request.serviceAccountName}`;
    if (!cache.has(cacheKey)) cache.set(cacheKey, Promise.resolve(asServiceAccount(cluster, request.namespace, request.serviceAccountName)));
    return cache.get(cacheKey)!;
  };
}
