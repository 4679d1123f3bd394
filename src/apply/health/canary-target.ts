import type { Cluster } from "../../cluster/cluster.js";
import type { KubeObject } from "../object.js";
import { getObject } from "../objects-api.js";
import { canaryTarget, holdForAnalysis } from "./flagger.js";
import type { StatusResult } from "./status.js";

/**
 * A Canary's verdict checked against its live target, so a target changed since Flagger's last
 * verdict is not judged by the previous analysis (see holdForAnalysis). One more GET per Canary,
 * only when the verdict would end the wait.
 */
export async function canaryHealth(cluster: Cluster, canary: KubeObject, verdict: StatusResult): Promise<StatusResult> {
  if (verdict.status !== "Current" && verdict.status !== "Failed") return verdict;
  const ref = canaryTarget(canary);
  if (!ref) return verdict;
  const info = await cluster.discovery.find(ref.apiVersion, ref.kind);
  const target = info && (await getObject(cluster, info, ref.namespace, ref.name));
  return holdForAnalysis(canary, verdict, target, cluster.clock.now());
}
