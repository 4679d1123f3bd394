import type { Command } from "commander";
import { composeValues } from "../api/helm-values.js";
import type { HelmRelease } from "../api/helmrelease.js";
import { marshalYaml } from "../api/values-digest.js";
import { openCluster } from "../cluster/cluster.js";
import { systemClock } from "../ports/clock.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import { globals, openStore, readKubeconfig } from "./context.js";

/** The flags of `sluice debug helmrelease` (defined in commands/debug.ts). */
export interface DebugHelmReleaseFlags {
  showStatus: boolean;
  showValues: boolean;
  showHistory: boolean;
}

/**
 * `sluice debug helmrelease NAME --show-status|--show-values|--show-history`, as flux prints them: the
 * status or history from the Store, or the values the release installs with, composed from spec.values
 * and the ConfigMaps and Secrets of the kubeconfig's cluster (Secrets' values included, as flux warns).
 */
export async function debugHelmRelease(name: string, flags: DebugHelmReleaseFlags, command: Command): Promise<void> {
  if ([flags.showStatus, flags.showValues, flags.showHistory].filter(Boolean).length !== 1)
    throw new Error("exactly one of --show-status, --show-values, or --show-history must be set");
  const options = globals(command);
  const key = { kind: "HelmRelease", namespace: options.namespace, name };
  const stored = await (await openStore(options)).get(key);
  if (!stored) throw new Error(`HelmRelease '${name}' not found in ${options.namespace} namespace`);
  const hr = stored.object as unknown as HelmRelease;
  if (flags.showStatus) {
    process.stdout.write(
      "# Status documentation: https://fluxcd.io/flux/components/helm/helmreleases/#helmrelease-status\n",
    );
    process.stdout.write(marshalYaml(hr.status ?? {}));
  } else if (flags.showHistory) {
    process.stdout.write("# History documentation: https://fluxcd.io/flux/components/helm/helmreleases/#history\n");
    process.stdout.write(marshalYaml(hr.status?.history ?? []));
  } else {
    const cluster = await openCluster(
      { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
      systemClock,
    );
    const secrets = new KubeSecrets(cluster.client);
    const values = await composeValues(hr, (kind, refName) => {
      const ref = { namespace: key.namespace, name: refName };
      return kind === "Secret" ? secrets.secret(ref) : secrets.configMap(ref);
    });
    process.stdout.write(marshalYaml(values));
  }
}
