import { parseDuration } from "../../api/duration.js";
import { REQUESTED_AT } from "../../api/meta.js";
import { DEFAULT_EXCLUSION_LIST, type ImageRepository } from "../../api/imagerepository.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { findCondition } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";
import { GoRegexp, GoRegexpError } from "../../sources/image/go-regexp.js";
import { ImageNameError, parseImageName } from "../../sources/image/image-name.js";
import { tagListOf } from "../../sources/image/tag-list.js";
import { OciError } from "../../sources/oci/client.js";
import { OciCredentialsError } from "../../sources/oci/credentials.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { ProviderLoginError } from "../source/oci-connection.js";
import { registryClient, scanTimeoutMs } from "./image-registry.js";
import { hasTags, storeTags } from "./tag-storage.js";

type Status = NonNullable<ImageRepository["status"]>;

/** image-reflector-controller's reasons (api/v1 condition_types.go). */
export const IMAGE_REASON = {
  imageUrlInvalid: "ImageURLInvalid",
  authenticationFailed: "AuthenticationFailed",
  readOperationFailed: "ReadOperationFailed",
} as const;

/** Tags asked per page (go-containerregistry's remote.List asks for 1,000). */
const PAGE_SIZE = 1_000;
/** A repository listing more tags is refused rather than held in memory and storage (Flux sets no bound). */
export const MAX_TAGS = 100_000;
/** What a registry may call a tag (the distribution spec's grammar); anything else could not be pulled. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

class ScanFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly stalled = false,
  ) {
    super(message);
  }
}

/**
 * image-reflector-controller's ImageRepository reconcile: scan when never scanned, asked to (`flux
 * reconcile`), the image or the exclusion list changed, the stored tags are gone, or the interval has
 * passed since the last scan; otherwise wait for the rest of the interval. A scan lists every tag
 * (paged), drops those the exclusion list matches, stores them in the artifact store (Flux keeps them in
 * its database) and records their count, ten latest and revision. A changed revision wakes the
 * ImagePolicies using the repository.
 */
export async function reconcileImageRepository(
  ports: ReconcilerPorts,
  repo: ImageRepository,
): Promise<Outcome<Status>> {
  const { spec, metadata } = repo;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const intervalMs = parseDuration(spec.interval);
  const exclusionList = spec.exclusionList ?? DEFAULT_EXCLUSION_LIST;
  const previous: Status = repo.status ?? {};
  try {
    const { ref, canonical } = parseImage(spec);
    const due = await scanDue(ports, repo, canonical, exclusionList, at.now.getTime(), intervalMs);
    if (due.waitMs !== undefined && isReadyFor(previous, at)) return { status: previous, requeueAfterMs: due.waitMs };
    const excluded = compileExclusions(exclusionList);
    const signal = AbortSignal.timeout(scanTimeoutMs(spec, parseDuration));
    const client = await registryClient(ports, repo, ref, signal).catch((error: unknown) => {
      if (!(error instanceof OciCredentialsError)) throw error;
      // A runtime login failure says which provider; a Secret problem names the Secret.
      const message =
        error instanceof ProviderLoginError
          ? error.message
          : `failed to configure authentication options: ${error.message}`;
      throw new ScanFailure(IMAGE_REASON.authenticationFailed, message);
    });
    const listed = await client.tags({ pageSize: PAGE_SIZE, maxTags: MAX_TAGS }).catch((error: unknown) => {
      if (!(error instanceof OciError)) throw error;
      throw new ScanFailure(IMAGE_REASON.readOperationFailed, `scan failed: ${error.message}`);
    });
    const list = tagListOf(listed.filter((tag) => TAG.test(tag) && !excluded.some((re) => re.test(tag))));
    await storeTags(ports.artifacts, repo, list, previous.lastScanResult?.revision).catch((error: Error) => {
      throw new ScanFailure(
        IMAGE_REASON.readOperationFailed,
        `scan failed: failed to set tags for "${canonical}": ${error.message}`,
      );
    });
    const status: Status = {
      ...previous,
      lastScanResult: {
        revision: list.revision,
        tagCount: list.tags.length,
        scanTime: at.now.toISOString(),
        ...(list.latestTags.length > 0 && { latestTags: list.latestTags }),
      },
      canonicalImageName: canonical,
      observedExclusionList: exclusionList,
    };
    const message = `successful scan: found ${list.tags.length} tags with checksum ${list.revision}`;
    const wasReady = findCondition(previous.conditions, CONDITION.ready);
    const changed = previous.lastScanResult?.revision !== list.revision;
    const announce = wasReady?.status !== "True" || wasReady.message !== message;
    return {
      status: markReady(status, at, REASON.succeeded, message),
      requeueAfterMs: intervalMs,
      changed,
      revision: list.revision,
      event: announce ? { severity: "info", reason: REASON.succeeded, message } : undefined,
    };
  } catch (error) {
    if (!(error instanceof ScanFailure)) throw error;
    return {
      status: markFailed(previous, at, error.reason, error.message, { stalled: error.stalled }),
      requeueAfterMs: error.stalled ? undefined : intervalMs,
      event: { severity: "error", reason: error.reason, message: error.message },
    };
  }
}

function parseImage(spec: ImageRepository["spec"]) {
  try {
    return parseImageName(spec.image, spec.insecure);
  } catch (error) {
    if (!(error instanceof ImageNameError)) throw error;
    throw new ScanFailure(IMAGE_REASON.imageUrlInvalid, error.message, true);
  }
}

function compileExclusions(patterns: string[]): GoRegexp[] {
  return patterns.map((pattern) => {
    try {
      return GoRegexp.compile(pattern);
    } catch (error) {
      if (!(error instanceof GoRegexpError)) throw error;
      const message = `scan failed: failed to compile regex ${pattern}: ${error.message}`;
      throw new ScanFailure(IMAGE_REASON.readOperationFailed, message);
    }
  });
}

/**
 * Flux's shouldScan: undefined `waitMs` when a scan is due now, else how long until it is. A store that lost
 * the tags (a new bucket, a cleared state folder) is refilled.
 */
async function scanDue(
  ports: ReconcilerPorts,
  repo: ImageRepository,
  canonical: string,
  exclusionList: string[],
  now: number,
  intervalMs: number,
): Promise<{ waitMs?: number }> {
  const { status, metadata } = repo;
  const last = status?.lastScanResult;
  if (!last?.scanTime || !last.revision) return {};
  const requested = metadata.annotations?.[REQUESTED_AT];
  if (requested !== undefined && requested !== status?.lastHandledReconcileAt) return {};
  if (canonical !== status?.canonicalImageName) return {};
  if (!sameContent(exclusionList, status?.observedExclusionList ?? [])) return {};
  if (!(await hasTags(ports.artifacts, repo, last.revision))) return {};
  const waitMs = intervalMs - (now - Date.parse(last.scanTime));
  return waitMs < 1_000 ? {} : { waitMs };
}

/** Flux's isEqualSliceContent: the same length, and each of `a` in `b`. */
function sameContent(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * A status already Ready for this generation: waiting changes nothing in it. Any other (a failed scan, a new
 * generation, say with another secretRef) scans again now rather than waiting out the interval as Flux would.
 */
function isReadyFor(status: Status, at: Stamp): boolean {
  const ready = findCondition(status.conditions, CONDITION.ready);
  return ready?.status === "True" && status.observedGeneration === at.generation;
}
