import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient, type KubeClientOptions, type Transport } from "./kube-client.js";

/**
 * A target cluster: a kubeconfig, or a server with its CA and a bearer token (or a file holding one, re-read as it
 * rotates,
 * or a source asked before each request, for tokens that expire).
 * `refuseInsecureTLS` is for kubeconfigs Sluice did not get from its operator (a `kubeConfig.secretRef`).
 */
export type ClusterTarget =
  | { kubeconfig: string; context?: string; refuseInsecureTLS?: boolean }
  | { server: string; caPem: string; token: string }
  | { server: string; caPem: string; tokenFile: string }
  | { server: string; caPem: string; tokenSource: () => Promise<string> };

/** Thrown when a target cannot be turned into a client (bad kubeconfig, missing context, exec plugin). */
export class ClusterConfigError extends Error {
  override name = "ClusterConfigError";
}

/**
 * A KubeClient for a target. Kubeconfigs that run exec plugins or auth providers are refused: they
 * would run arbitrary commands from configuration Sluice reads from Git or secrets.
 */
export async function connect(target: ClusterTarget, options: KubeClientOptions = {}): Promise<KubeClient> {
  if ("tokenFile" in target)
    return new KubeClient(target.server, { ca: target.caPem }, { ...options, bearerTokenFile: target.tokenFile });
  if ("tokenSource" in target)
    return new KubeClient(target.server, { ca: target.caPem }, { ...options, bearerTokenSource: target.tokenSource });
  if ("server" in target)
    return new KubeClient(
      target.server,
      { ca: target.caPem, headers: { authorization: `Bearer ${target.token}` } },
      options,
    );
  const kc = new KubeConfig();
  try {
    kc.loadFromString(target.kubeconfig);
  } catch (error) {
    throw new ClusterConfigError(`kubeconfig is not valid: ${(error as Error).message}`);
  }
  if (target.context) {
    if (!kc.getContextObject(target.context))
      throw new ClusterConfigError(`kubeconfig has no context "${target.context}"`);
    kc.setCurrentContext(target.context);
  }
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new ClusterConfigError(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
  if (user?.exec || user?.authProvider) {
    throw new ClusterConfigError(
      `kubeconfig user "${user.name}" uses an exec plugin or auth provider, which Sluice does not run; use a token or client certificate`,
    );
  }
  if (target.refuseInsecureTLS && cluster.skipTLSVerify) {
    throw new ClusterConfigError(
      `kubeconfig cluster "${cluster.name}" sets insecure-skip-tls-verify, which is refused unless the control plane allows it (--insecure-kubeconfig-tls)`,
    );
  }
  const transport: Transport = {};
  await kc.applyToHTTPSOptions(transport);
  return new KubeClient(cluster.server, transport, options);
}
