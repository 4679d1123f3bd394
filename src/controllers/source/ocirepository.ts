import { isDeepStrictEqual } from "node:util";
import { parseDuration } from "../../api/duration.js";
import { DEFAULT_OCI_TAG, ociRepositoryDefaults, type OCIRepository } from "../../api/ocirepository.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { archiveTree } from "../../artifacts/archive.js";
import { readArchive } from "../../artifacts/extract.js";
import { ChartReferenceError, newestMatchingTag } from "../../sources/helm-chart-version.js";
import { OciError, type OciClient, type OciDescriptor } from "../../sources/oci/client.js";
import { OciCredentialsError } from "../../sources/oci/credentials.js";
import { OciUrlError, parseOciUrl, type OciRepositoryRef } from "../../sources/oci/reference.js";
import { findCondition } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { artifactFolder, removeSuperseded } from "./artifact-retention.js";
import { markFailed, markReady, withCondition, withoutConditions, type Stamp } from "../../pipeline/status.js";
import { ociClientFor, ProviderLoginError } from "./oci-connection.js";
import { SignatureVerificationError, verifyOciSignature, withoutStaleVerification } from "./oci-verify.js";

type Status = NonNullable<OCIRepository["status"]>;
type Spec = OCIRepository["spec"];

/** Compressed bytes of the one layer pulled; a descriptor over it is refused before anything is downloaded. */
const MAX_LAYER_BYTES = 256 << 20;
/** The conditions whose clearing is a recovery worth an event (source-controller's ociRepositoryFailConditions). */
const FAILURES = [CONDITION.fetchFailed, CONDITION.storageOperationFailed];
/** The annotations `flux push artifact` sets, quoted in the NewArtifact event. */
const ORIGIN_SOURCE = "org.opencontainers.image.source";
const ORIGIN_REVISION = "org.opencontainers.image.revision";

/** A failure with source-controller's reason; FetchFailed unless `storage`, or SourceVerified=False for `verification`. */
class PullFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly options: { stalled?: boolean; storage?: boolean; verification?: boolean } = {},
  ) {
    super(message);
  }
}

/**
 * source-controller's OCIRepository reconcile: resolve the reference (digest > semver > tag >
 * `latest`) to a manifest digest — a tag costs one HEAD — and when the revision `<tag>@<digest>`
 * is the stored one and the layer selector and ignore rules are unchanged, stop there. Otherwise
 * pull the manifest, the selected layer (verified against its digest and size), extract it and
 * store it as a deterministic tarball (or copy it as it is), with the manifest's annotations as
 * the artifact's metadata.
 */
export async function reconcileOciRepository(ports: ReconcilerPorts, repo: OCIRepository): Promise<Outcome<Status>> {
  const { spec, metadata } = repo;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const namespace = metadata.namespace ?? "default";
  const requeueAfterMs = parseDuration(spec.interval);
  let status: Status = withoutStaleVerification({ ...repo.status }, spec.verify);
  let revision: string | undefined;
  try {
    const ref = parseUrl(spec);
    const signal = AbortSignal.timeout(parseDuration(ociRepositoryDefaults(spec).timeout));
    const client = await connect(ports, namespace, spec, ref, signal);
    const reference = await pickReference(client, spec);
    revision = await resolveRevision(client, reference);
    status = await verified(ports, repo, status, client, ref, revision, at);
    const current = status.artifact;
    const unchanged =
      current?.revision === revision &&
      !contentConfigChanged(spec, status) &&
      (await ports.artifacts.get(current.path).then(
        (found) => found !== undefined,
        () => false,
      ));
    if (!unchanged) {
      const pulled = await pull(client, spec, revision);
      const path = `ocirepository/${namespace}/${metadata.name}/${digestOf(revision)}.tar.gz`;
      const stored = await ports.artifacts.put(path, pulled.data).catch((error: Error) => {
        const message = `unable to archive artifact to storage: ${error.message}`;
        throw new PullFailure(REASON.archiveOperationFailed, message, { storage: true });
      });
      await removeSuperseded(ports.artifacts, ports.log, artifactFolder("OCIRepository", namespace, metadata.name), [
        stored.path,
        current?.path,
      ]);
      status.artifact = {
        path: stored.path,
        url: stored.url,
        revision,
        digest: stored.digest,
        lastUpdateTime: at.now.toISOString(),
        size: stored.size,
        ...(pulled.annotations && { metadata: pulled.annotations }),
      };
      status.url = stored.url;
      status.observedIgnore = spec.ignore;
      status.observedLayerSelector = spec.layerSelector;
    }
    const recovered = FAILURES.some((type) => findCondition(status.conditions, type)?.status === "True");
    const message = `stored artifact for digest '${revision}'`;
    let next = withoutConditions(status, ...FAILURES, CONDITION.artifactOutdated);
    next = withCondition(
      next,
      { type: CONDITION.artifactInStorage, status: "True", reason: REASON.succeeded, message },
      at,
    );
    const newArtifact = current?.digest !== next.artifact?.digest;
    const eventReason = newArtifact ? REASON.newArtifact : REASON.succeeded;
    return {
      status: markReady(next, at, REASON.succeeded, message),
      requeueAfterMs,
      changed: newArtifact,
      revision,
      event:
        newArtifact || recovered ? { severity: "info", reason: eventReason, message: stored(spec, next) } : undefined,
    };
  } catch (error) {
    if (!(error instanceof PullFailure)) throw error;
    const type = error.options.storage ? CONDITION.storageOperationFailed : CONDITION.fetchFailed;
    const condition = error.options.verification
      ? { type: CONDITION.sourceVerified, status: "False" as const }
      : { type, status: "True" as const };
    let next = withoutConditions(status, ...FAILURES);
    next = withCondition(next, { ...condition, reason: error.reason, message: error.message }, at);
    if (revision && next.artifact && next.artifact.revision !== revision) {
      const outdated = `new revision '${revision}' for '${spec.url}'`;
      const condition = { type: CONDITION.artifactOutdated, status: "True" as const, reason: REASON.newRevision };
      next = withCondition(next, { ...condition, message: outdated }, at);
    }
    const stalled = error.options.stalled ?? false;
    return {
      status: markFailed(next, at, error.reason, error.message, { stalled }),
      requeueAfterMs: stalled ? undefined : requeueAfterMs,
      revision,
      event: { severity: "error", reason: error.reason, message: error.message },
    };
  }
}

/**
 * `spec.verify` as source-controller applies it: the signature is checked when the revision is not the
 * stored one, the spec changed since the last verification, or it failed; so an unchanged artifact
 * costs no request for it.
 */
async function verified(
  ports: ReconcilerPorts,
  repo: OCIRepository,
  status: Status,
  client: OciClient,
  ref: OciRepositoryRef,
  revision: string,
  at: Stamp,
): Promise<Status> {
  const { verify } = repo.spec;
  if (!verify) return status;
  const last = findCondition(status.conditions, CONDITION.sourceVerified);
  if (status.artifact?.revision === revision && last?.observedGeneration === at.generation && last.status === "True")
    return status;
  const namespace = repo.metadata.namespace ?? "default";
  const repository = `${ref.registry}/${ref.repository}`;
  try {
    await verifyOciSignature(ports, namespace, verify, client, repository, digestOf(revision));
  } catch (error) {
    if (!(error instanceof SignatureVerificationError)) throw error;
    throw new PullFailure(REASON.verificationError, error.message, { verification: true });
  }
  const message = `verified signature of revision ${revision}`;
  return withCondition(
    status,
    { type: CONDITION.sourceVerified, status: "True", reason: REASON.succeeded, message },
    at,
  );
}

function parseUrl(spec: Spec): OciRepositoryRef {
  try {
    return parseOciUrl(spec.url, spec.insecure);
  } catch (error) {
    if (!(error instanceof OciUrlError)) throw error;
    const message = `URL validation failed for '${spec.url}': ${error.message}`;
    throw new PullFailure(REASON.urlInvalid, message, { stalled: true });
  }
}

async function connect(
  ports: ReconcilerPorts,
  namespace: string,
  spec: Spec,
  ref: OciRepositoryRef,
  signal: AbortSignal,
): Promise<OciClient> {
  try {
    return await ociClientFor(ports, namespace, spec, { allowBasicKeys: false, signal, ref });
  } catch (error) {
    if (!(error instanceof OciCredentialsError)) throw error;
    throw new PullFailure(
      REASON.authenticationFailed,
      error instanceof ProviderLoginError ? error.message : `failed to get credential: ${error.message}`,
    );
  }
}

/** The tag or digest to pull: `ref.digest`, the newest tag `ref.semver` allows among those `semverFilter` keeps, `ref.tag`, `latest`. */
async function pickReference(client: OciClient, spec: Spec): Promise<string> {
  const { digest, semver, semverFilter, tag } = spec.ref ?? {};
  if (digest) return digest;
  if (!semver) return tag || DEFAULT_OCI_TAG;
  const fail = (detail: string) =>
    new PullFailure(REASON.readOperationFailed, `failed to determine the artifact tag for '${spec.url}': ${detail}`);
  let filter: RegExp | undefined;
  try {
    filter = semverFilter ? new RegExp(semverFilter) : undefined;
  } catch (error) {
    throw fail(`semverFilter '${semverFilter}': ${(error as Error).message}`);
  }
  let tags: string[];
  try {
    tags = await client.tags();
  } catch (error) {
    throw fail(describe(error));
  }
  const convert = (text: string, from: string, to: string) =>
    spec.layerSelector?.mediaType === HELM_CHART_LAYER ? text.replaceAll(from, to) : text;
  let picked: string | undefined;
  try {
    const candidates = tags.filter((t) => !filter || filter.test(t)).map((t) => convert(t, "_", "+"));
    picked = newestMatchingTag(candidates, semver);
  } catch (error) {
    if (!(error instanceof ChartReferenceError)) throw error;
    throw fail(`semver '${semver}' parse error: ${error.message}`);
  }
  if (picked === undefined) throw fail(`no match found for semver: ${semver}`);
  return convert(picked, "+", "_");
}

/** Helm's chart layer: its tags map SemVer's `+` to `_` (Flux's convertSemVerToOCITag). */
const HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/** `<tag>@<digest>` (one HEAD, or a GET when the registry's HEAD says nothing), or the digest itself. */
async function resolveRevision(client: OciClient, reference: string): Promise<string> {
  if (reference.includes(":")) {
    if (!/^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/.test(reference))
      throw new PullFailure(REASON.ociPullFailed, `failed to determine artifact digest: invalid digest '${reference}'`);
    return reference;
  }
  try {
    return `${reference}@${await client.resolve(reference)}`;
  } catch (error) {
    const reason = error instanceof OciError && error.unauthorized ? REASON.authenticationFailed : REASON.ociPullFailed;
    throw new PullFailure(reason, `failed to determine artifact digest: ${describe(error)}`);
  }
}

/** The manifest at the revision's digest and its selected layer, extracted and archived (or copied). */
async function pull(
  client: OciClient,
  spec: Spec,
  revision: string,
): Promise<{ data: Buffer; annotations?: Record<string, string> }> {
  let manifest;
  try {
    manifest = (await client.manifest(digestOf(revision))).manifest;
  } catch (error) {
    throw new PullFailure(REASON.ociPullFailed, `failed to pull artifact from '${spec.url}': ${describe(error)}`);
  }
  const layerFailure = (message: string) => new PullFailure(REASON.ociLayerOperationFailed, message);
  const layer = selectLayer(manifest.layers, spec.layerSelector?.mediaType);
  if (typeof layer === "string") throw layerFailure(layer);
  const copy = ociRepositoryDefaults(spec).operation === "copy";
  const what = copy ? "failed to copy layer from artifact" : "failed to extract layer contents from artifact";
  let blob: Buffer;
  try {
    blob = await client.blob(layer, MAX_LAYER_BYTES);
  } catch (error) {
    throw layerFailure(`${what}: ${describe(error)}`);
  }
  const annotations = manifest.annotations;
  if (copy) return { data: blob, annotations };
  // Extracted in memory with the checks of an extraction to disk, and archived again from there, as Flux does on disk.
  const { tree } = await readArchive(blob, { skipSymlinks: true }).catch((error: Error) => {
    throw layerFailure(`${what}: ${error.message}`);
  });
  const archive = await archiveTree(tree, { ignore: spec.ignore }).catch((error: Error) => {
    const message = `unable to archive artifact to storage: ${error.message}`;
    throw new PullFailure(REASON.archiveOperationFailed, message, { storage: true });
  });
  return { data: archive.data, annotations };
}

/** The first layer of `mediaType`, or the first layer; a string says why there is none. */
function selectLayer(layers: OciDescriptor[], mediaType: string | undefined): OciDescriptor | string {
  if (layers.length === 0) return "no layers found in artifact";
  if (!mediaType) return layers[0]!;
  return (
    layers.find((l) => l.mediaType === mediaType) ?? `failed to find layer with media type '${mediaType}' in artifact`
  );
}

/** Whether the stored artifact was built with another ignore or layer selector (Flux's ociContentConfigChanged). */
function contentConfigChanged(spec: Spec, status: Status): boolean {
  return spec.ignore !== status.observedIgnore || !isDeepStrictEqual(spec.layerSelector, status.observedLayerSelector);
}

/** The digest of a revision `<tag>@<digest>` or `<digest>`. */
function digestOf(revision: string): string {
  return revision.slice(revision.lastIndexOf("@") + 1);
}

/** source-controller's event text, with the origin of a `flux push artifact` when the manifest names it. */
function stored(spec: Spec, status: Status): string {
  const message = `stored artifact with revision '${status.artifact!.revision}' from '${spec.url}'`;
  const source = status.artifact?.metadata?.[ORIGIN_SOURCE];
  const origin = status.artifact?.metadata?.[ORIGIN_REVISION];
  return source && origin ? `${message}, origin source '${source}', origin revision '${origin}'` : message;
}

function describe(error: unknown): string {
  if (error instanceof OciError) return error.message;
  throw error;
}
