import type { HelmRelease, ReleaseSnapshot } from "../../api/helmrelease.js";
import type { ReleaseRecord } from "../../helm/release-record.js";
import { releaseDigest } from "../../helm/observation.js";

// helm-controller's DetermineReleaseState (internal/reconcile/state.go), over what Sluice reads:
// the newest stored version of the release, the HelmRelease's status.history and the desired chart
// and values. Pure: the reconciler decides what to run from it.

export type ReleaseState =
  /** No release, or an uninstalled one: install. */
  | { status: "Absent"; reason: string }
  /** A pending-* version left by an interrupted action: unlock (mark it failed). */
  | { status: "Locked"; reason: string }
  /** A release Sluice has no (matching) history of: adopt it with an upgrade. */
  | { status: "Unmanaged"; reason: string }
  /** Deployed, but not with this chart or these values: upgrade. */
  | { status: "OutOfSync"; reason: string }
  /** The newest version failed: remediate per spec. */
  | { status: "Failed"; reason: string }
  /** Deployed as desired, with tests enabled and not run on this version yet: run them. */
  | { status: "Untested" }
  /** Deployed as desired: nothing to run. */
  | { status: "InSync" };

/** What the release should be: the chart version and the values' digest. */
export interface DesiredRelease {
  chartName: string;
  chartVersion: string;
  configDigest: string;
}

export function releaseState(
  hr: Pick<HelmRelease, "status" | "metadata">,
  latest: ReleaseRecord | undefined,
  desired: DesiredRelease,
  configDigestOf: (values: Record<string, unknown>) => string,
  tests: { enable: boolean; failuresCount: boolean } = { enable: false, failuresCount: false },
): ReleaseState {
  if (!latest) return { status: "Absent", reason: "no release in storage for object" };
  if (latest.info.status.startsWith("pending-"))
    return { status: "Locked", reason: `release with status '${latest.info.status}'` };
  const current = hr.status?.history?.[0];
  if (!current) {
    if (latest.info.status === "uninstalled")
      return { status: "Absent", reason: "found uninstalled release in storage" };
    return { status: "Unmanaged", reason: "found existing release in storage" };
  }
  const mismatch = verifyRecord(current, latest);
  if (mismatch) return { status: "Unmanaged", reason: mismatch };
  switch (latest.info.status) {
    case "failed":
      return { status: "Failed", reason: "release is in a failed state" };
    case "uninstalled":
      return { status: "Absent", reason: "found uninstalled release in storage" };
    case "deployed": {
      const chart = latest.chart.metadata;
      if (chart.name !== desired.chartName || chart.version !== desired.chartVersion)
        return { status: "OutOfSync", reason: "release chart has changed" };
      if (configDigestOf(latest.config ?? {}) !== desired.configDigest)
        return { status: "OutOfSync", reason: "release config digest has changed" };
      if (tests.enable && !current.testHooks) return { status: "Untested" };
      const testFailed = Object.values(current.testHooks ?? {}).some((h) => h.phase === "Failed");
      if (tests.enable && tests.failuresCount && testFailed)
        return { status: "Failed", reason: "release has test in failed phase" };
      return { status: "InSync" };
    }
    default:
      return { status: "Unmanaged", reason: `release with status '${latest.info.status}'` };
  }
}

/** action.VerifyReleaseObject: the stored version is the one the newest snapshot recorded, unchanged. */
function verifyRecord(snapshot: ReleaseSnapshot, record: ReleaseRecord): string | undefined {
  if (snapshot.name !== record.name || snapshot.namespace !== record.namespace || snapshot.version !== record.version)
    return "release not observed to be made for object";
  if (snapshot.digest !== releaseDigest(record)) return "release digest verification error";
  return undefined;
}
