import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import { resolveTools, toolVersions } from "../render/tools.js";
import { cacheDir } from "../runtime/cache-dir.js";
import type { GlobalOptions } from "./context.js";
import { say } from "./output.js";

/** Oldest Kubernetes minor Sluice is tested against (server-side apply, kstatus conditions). */
export const MIN_KUBERNETES = { major: 1, minor: 32 };

/** `sluice check --pre` (defined in commands/check.ts): are the rendering binaries usable and the cluster reachable and new enough? Exit code 1 when not. */
export async function check(options: GlobalOptions): Promise<void> {
  say.action("checking prerequisites");
  // Sequential, so the lines always come in the same order.
  const toolsOk = await checkTools();
  const clusterOk = await checkCluster(options);
  if (toolsOk && clusterOk) say.success("prerequisites checks passed");
  else {
    say.failure("prerequisites checks failed");
    process.exitCode = 1;
  }
}

async function checkTools(): Promise<boolean> {
  try {
    const versions = await toolVersions(await resolveTools({ cacheDir: cacheDir() }));
    say.success(`kubectl ${versions.kubectl} (kustomize ${versions.kustomize})`);
    say.success(`helm ${versions.helm}`);
    return true;
  } catch (error) {
    say.failure(messageOf(error));
    return false;
  }
}

async function checkCluster(options: { kubeconfig?: string; context?: string }): Promise<boolean> {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
    if (options.context) kc.setCurrentContext(options.context);
    const version = await kc.makeApiClient(VersionApi).getCode();
    const minor = Number.parseInt(version.minor, 10);
    const wanted = `>=${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor}.0`;
    if (Number.parseInt(version.major, 10) !== MIN_KUBERNETES.major || minor < MIN_KUBERNETES.minor) {
      say.failure(`Kubernetes ${version.gitVersion} does not match ${wanted}`);
      return false;
    }
    say.success(`Kubernetes ${version.gitVersion} ${wanted}`);
    return true;
  } catch (error) {
    say.failure(
      `Kubernetes API at ${kc.getCurrentCluster()?.server ?? "(no cluster in kubeconfig)"} not reachable: ${messageOf(error)}`,
    );
    return false;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
