import { KubeClient, type KubeClientOptions } from "./kube-client.js";
import { KubeconfigError, readKubeconfig, type KubeconfigTarget } from "./kubeconfig.js";

/**
 * A target cluster: a kubeconfig, or a server with its CA and a bearer token (or a file holding one, re-read as it
 * rotates,
 * or a source asked before each request, for tokens that expire).
 * `fromSecret`: the kubeconfig came from a Secret, not the operator's own file: it may name no local file.
 * `refuseInsecureTLS` is for kubeconfigs Sluice did not get from its operator (a `kubeConfig.secretRef`).
 */
export type ClusterTarget =
  | { kubeconfig: string; context?: string; refuseInsecureTLS?: boolean; fromSecret?: boolean }
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
  let config: KubeconfigTarget;
  try {
    config = readKubeconfig(target.kubeconfig, target.context, { localFiles: !target.fromSecret });
  } catch (error) {
    const message = (error as Error).message;
    throw new ClusterConfigError(error instanceof KubeconfigError ? message : `kubeconfig is not valid: ${message}`);
  }
  if (config.runsCommand) {
    throw new ClusterConfigError(
      `kubeconfig user "${config.userName}" uses an exec plugin or auth provider, which Sluice does not run; use a token or client certificate`,
    );
  }
  if (target.refuseInsecureTLS && config.skipTLSVerify) {
    throw new ClusterConfigError(
      `kubeconfig cluster "${config.clusterName}" sets insecure-skip-tls-verify, which is refused unless the control plane allows it (--insecure-kubeconfig-tls)`,
    );
  }
  return new KubeClient(config.server, config.transport, options);
}
