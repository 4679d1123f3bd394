import { REASON } from "../api/reasons.js";
import { bundleDigest, ownerName, sealBundle, type BundleContent, type BundleOwner } from "../bundle/bundle.js";
import type { AgentReport, BundleOutbox, IndexEntry } from "../bundle/channel.js";
import type { ReconcilerPorts } from "./reconciler-ports.js";

// Publishing to an agent cluster's channel, for Kustomizations and HelmReleases alike.

/**
 * A sequence this far ahead of the clock was not published by a control plane (the index is not signed): it is
 * ignored.
 */
const MAX_CLOCK_SKEW_MS = 60 * 60_000;

/**
 * The current index entry and the agent's report. The report a withdrawal left (a tombstone that
 * keeps its sequence in the agent) is about an object that no longer exists: not this one's.
 */
export async function agentState(
  outbox: BundleOutbox,
  owner: BundleOwner,
): Promise<[IndexEntry | undefined, AgentReport | undefined]> {
  const [current, report] = await Promise.all([outbox.current(owner), outbox.report(owner)]);
  return [current, report?.reason === REASON.withdrawn ? undefined : report];
}

/**
 * Signs and publishes `content` unless the index already holds the same content (no KMS call, no
 * write), or again when the agent refused the bundle the index points at (altered or replayed in
 * S3). Each publish takes a higher sequence: the clock, or one more than the last. Returns the
 * digest of the bundle now current. `complete` adds what is costly to fetch and already named in
 * `content` (a chart archive by its digest), only when there is something to publish.
 */
export async function publishIfNew(
  ports: ReconcilerPorts,
  outbox: BundleOutbox,
  content: BundleContent,
  current: IndexEntry | undefined,
  report: AgentReport | undefined,
  complete: (content: BundleContent) => Promise<BundleContent> = async (c) => c,
): Promise<string> {
  const contentDigest = bundleDigest(content);
  const refused = report?.reason === REASON.bundleRejected && report.digest === current?.digest;
  if (current && current.contentDigest === contentDigest && !refused) return current.digest;
  // The clock keeps the sequence rising across deletion and re-creation with no state; the last
  // sequences (the unsigned index's, the agent's report) only matter within a millisecond or when
  // clocks disagree, and one far in the future is forged, so it is ignored rather than followed.
  const now = ports.clock.now();
  const plausible = (s: number | undefined): s is number =>
    s !== undefined && Number.isSafeInteger(s) && s <= now + MAX_CLOCK_SKEW_MS;
  const previous = [current?.sequence, report?.accepted?.sequence].filter(plausible);
  const sequence = Math.max(now, ...previous.map((s) => s + 1));
  const sealed = await sealBundle({ ...(await complete(content)), sequence }, ports.agents!.signer(content.cluster));
  await outbox.publish(sealed, contentDigest);
  ports.log.info(
    {
      object: ownerName(content.kustomization),
      cluster: content.cluster,
      digest: sealed.digest,
      revision: content.revision,
      withdrawn: content.withdrawn,
      suspended: content.suspended,
    },
    "bundle published",
  );
  return sealed.digest;
}
