import { isDeepStrictEqual } from "node:util";
import { parseDuration } from "../../api/duration.js";
import { formatImageRef, type ImagePolicy, type ImageRef } from "../../api/imagepolicy.js";
import type { ImageRepository } from "../../api/imagerepository.js";
import { admitFluxObject, InvalidObjectError } from "../../api/parse.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { findCondition } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";
import { ImageNameError, parseImageName } from "../../sources/image/image-name.js";
import { InvalidPolicyError, NoLatestTagError, tagPolicy, type Policer } from "../../sources/image/tag-policy.js";
import { OciError } from "../../sources/oci/client.js";
import { OciCredentialsError } from "../../sources/oci/credentials.js";
import { refuseCrossNamespaceRefs } from "../cross-namespace.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { AccessDeniedError, checkAccessFrom } from "./image-acl.js";
import { registryClient, scanTimeoutMs } from "./image-registry.js";
import { IMAGE_REASON } from "./imagerepository.js";
import { readTags } from "./tag-storage.js";

type Status = NonNullable<ImagePolicy["status"]>;

/** metav1.StatusFailure, the reason Flux gives a policy that picked nothing. */
const FAILURE = "Failure";
const INVALID_POLICY = "InvalidPolicy";
/** Flux's GetInterval for digestReflectionPolicy Always without an interval (the CRD requires one). */
const DEFAULT_DIGEST_INTERVAL_MS = 10 * 60_000;

class PolicyFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly options: { stalled?: boolean; retryAfterMs?: number } = {},
  ) {
    super(message);
  }
}

/**
 * image-reflector-controller's ImagePolicy reconcile: find the ImageRepository (in another namespace
 * only as its accessFrom allows, never with --no-cross-namespace-refs), read the tags of its last scan,
 * pick the latest as the policy says, and with digestReflectionPolicy ask the registry for its digest.
 * `status.latestRef` is the pick; the one it replaces moves to `observedPreviousRef`. A new pick wakes
 * whoever uses the policy. It runs again when the repository's scan changes, and every `interval` for
 * digestReflectionPolicy Always.
 */
export async function reconcileImagePolicy(ports: ReconcilerPorts, policy: ImagePolicy): Promise<Outcome<Status>> {
  const { spec, metadata } = policy;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const previous: Status = policy.status ?? {};
  const reflection = spec.digestReflectionPolicy ?? "Never";
  const intervalMs =
    reflection === "Always" ? (spec.interval ? parseDuration(spec.interval) : DEFAULT_DIGEST_INTERVAL_MS) : undefined;
  try {
    const repo = await imageRepositoryOf(ports, policy);
    try {
      parseImageName(repo.spec.image, repo.spec.insecure);
    } catch (error) {
      if (!(error instanceof ImageNameError)) throw error;
      throw new PolicyFailure(IMAGE_REASON.imageUrlInvalid, error.message, { stalled: true });
    }
    const image = repo.spec.image;
    const tag = await pickTag(ports, policy, repo);
    const latest: ImageRef = { name: image, tag };
    const current = previous.latestRef;
    const fetch =
      reflection === "Always" ||
      (reflection === "IfNotPresent" && (current?.name !== image || current.tag !== tag || !current.digest));
    if (fetch) latest.digest = await digestOf(ports, repo, latest);
    else if (reflection === "IfNotPresent") latest.digest = current!.digest;
    const changed = !isDeepStrictEqual(current, latest);
    const status: Status = changed ? { ...previous, latestRef: latest, observedPreviousRef: current } : previous;
    if (!status.observedPreviousRef) delete status.observedPreviousRef;
    const message = readyMessage(status.latestRef!, status.observedPreviousRef);
    const wasReady = findCondition(previous.conditions, CONDITION.ready);
    const announce = wasReady?.status !== "True" || wasReady.message !== message;
    return {
      status: markReady(status, at, REASON.succeeded, message),
      requeueAfterMs: intervalMs,
      changed,
      revision: formatImageRef(latest),
      event: announce ? { severity: "info", reason: REASON.succeeded, message } : undefined,
    };
  } catch (error) {
    if (!(error instanceof PolicyFailure)) throw error;
    const { stalled, retryAfterMs } = error.options;
    return {
      status: markFailed(previous, at, error.reason, error.message, { stalled }),
      requeueAfterMs: stalled ? undefined : (retryAfterMs ?? intervalMs ?? ports.settings.dependencyRequeueMs),
      event: { severity: "error", reason: error.reason, message: error.message },
    };
  }
}

/** The ImageRepository the policy names, as admitted, once the reference is allowed. */
async function imageRepositoryOf(ports: ReconcilerPorts, policy: ImagePolicy): Promise<ImageRepository> {
  const own = policy.metadata.namespace ?? "default";
  const { name, namespace = own } = policy.spec.imageRepositoryRef;
  const fail = (reason: string, message: string, retryAfterMs?: number) =>
    new PolicyFailure(reason, `failed to get the referred ImageRepository: ${message}`, { retryAfterMs });
  try {
    refuseCrossNamespaceRefs(ports.settings, own, [{ kind: "ImageRepository", namespace, name }]);
  } catch (error) {
    if (!(error instanceof ReconcileError)) throw error;
    const message = `cannot access 'ImageRepository/${namespace}/${name}', cross-namespace references have been blocked`;
    throw fail(REASON.accessDenied, message);
  }
  const stored = await ports.store.get({ kind: "ImageRepository", namespace, name });
  if (!stored) {
    const message = `referenced ImageRepository does not exist: imagerepositories.image.toolkit.fluxcd.io "${name}" not found`;
    throw fail(REASON.dependencyNotReady, message, ports.settings.dependencyRequeueMs);
  }
  let repo: ImageRepository;
  try {
    repo = admitFluxObject(stored.object).object as ImageRepository;
  } catch (error) {
    if (!(error instanceof InvalidObjectError)) throw error;
    throw fail(REASON.dependencyNotReady, error.message, ports.settings.dependencyRequeueMs);
  }
  try {
    await checkAccessFrom(ports, own, { namespace, name }, repo.spec.accessFrom);
  } catch (error) {
    if (!(error instanceof AccessDeniedError)) throw error;
    throw fail(REASON.accessDenied, `access denied: ${error.message}`);
  }
  return repo;
}

/** The policy's pick among the repository's last scanned tags. */
async function pickTag(ports: ReconcilerPorts, policy: ImagePolicy, repo: ImageRepository): Promise<string> {
  let pick: Policer;
  try {
    // Read before the tags are: a policy that cannot work stalls whatever was scanned.
    pick = tagPolicy(policy.spec);
  } catch (error) {
    if (!(error instanceof InvalidPolicyError)) throw error;
    throw new PolicyFailure(INVALID_POLICY, error.message, { stalled: true });
  }
  const revision = repo.status?.lastScanResult?.revision;
  const tags = revision ? await readTags(ports.artifacts, repo, revision).catch(() => undefined) : undefined;
  if (!tags || tags.length === 0) {
    const seconds = Math.round(ports.settings.dependencyRequeueMs / 1000);
    throw new PolicyFailure(REASON.dependencyNotReady, `retrying in ${seconds}s error: no tags in database`, {
      retryAfterMs: ports.settings.dependencyRequeueMs,
    });
  }
  try {
    return pick(tags);
  } catch (error) {
    if (error instanceof NoLatestTagError) throw new PolicyFailure(FAILURE, error.message);
    throw error;
  }
}

/** The digest the tag points to now, by a HEAD to the registry with the ImageRepository's credentials. */
async function digestOf(ports: ReconcilerPorts, repo: ImageRepository, latest: ImageRef): Promise<string> {
  const what = `failed fetching digest of ${formatImageRef(latest)}`;
  try {
    const { ref } = parseImageName(repo.spec.image, repo.spec.insecure);
    const signal = AbortSignal.timeout(scanTimeoutMs(repo.spec, parseDuration));
    const client = await registryClient(ports, repo, ref, signal);
    return await client.resolve(latest.tag);
  } catch (error) {
    if (error instanceof OciCredentialsError)
      throw new PolicyFailure(FAILURE, `${what}: failed to configure authentication options: ${error.message}`);
    if (error instanceof OciError)
      throw new PolicyFailure(
        FAILURE,
        `${what}: failed fetching descriptor for "${latest.name}:${latest.tag}": ${error.message}`,
      );
    throw error;
  }
}

/** Flux's composeImagePolicyReadyMessage. */
function readyMessage(latest: ImageRef, previous: ImageRef | undefined): string {
  let message = `Latest image tag for ${latest.name} resolved to ${latest.tag}`;
  if (latest.digest) message += ` with digest ${latest.digest}`;
  if (previous && !isDeepStrictEqual(previous, latest))
    message += ` (previously ${previous.name}:${previous.tag}${previous.digest ? `@${previous.digest}` : ""})`;
  return message;
}
