import type { Clock } from "../ports/clock.js";
import { connect, type ClusterTarget } from "./connect.js";
import { Discovery } from "./discovery.js";
import type { Impersonation, KubeClient, KubeClientOptions } from "./kube-client.js";

/** Everything the apply engine needs to talk to one cluster as one identity. */
export interface Cluster {
  client: KubeClient;
  discovery: Discovery;
  clock: Clock;
}

/** Connects to a target cluster, optionally impersonating a service account (Flux's `serviceAccountName`). */
export async function openCluster(
  target: ClusterTarget,
  clock: Clock,
  options: KubeClientOptions = {},
): Promise<Cluster> {
  const client = await connect(target, options);
  return { client, discovery: new Discovery(client), clock };
}

/** The same cluster, acting as a service account (Flux's `serviceAccountName`). */
export function asServiceAccount(cluster: Cluster, namespace: string, name: string): Cluster {
  const client = cluster.client.impersonating(serviceAccount(namespace, name));
  return { client, discovery: new Discovery(client), clock: cluster.clock };
}

/** The impersonation Kubernetes uses for a service account. */
export function serviceAccount(namespace: string, name: string): Impersonation {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
  };
}
