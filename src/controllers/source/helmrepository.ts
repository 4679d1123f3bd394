import { helmRepositoryDefaults, type HelmRepository } from "../../api/helmrepository.js";
import { parseDuration } from "../../api/duration.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import {
  fetchHelmIndex,
  HelmIndexError,
  indexArtifact,
  indexRevision,
  loadHelmIndex,
  type HelmIndexSource,
} from "../../sources/helm-index.js";
import { maskUrl } from "../../sources/git.js";
import { findCondition } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { artifactFolder, removeSuperseded } from "./artifact-retention.js";
import { markFailed, markReady, withCondition, withoutConditions, type Stamp } from "../../pipeline/status.js";

type HelmRepositoryStatus = NonNullable<HelmRepository["status"]>;
type Spec = HelmRepository["spec"];

/** What `flux get sources helm` shows for an OCI HelmRepository, which has no artifact and nothing to fetch. */
const OCI_READY_MESSAGE = "Helm repository is Ready";
/** The conditions whose clearing is a recovery worth an event (source-controller's helmRepositoryFailConditions). */
const FAILURES = [CONDITION.fetchFailed, CONDITION.storageOperationFailed];

/**
 * source-controller's HelmRepository reconcile: fetch `index.yaml`; when its sha256 (the revision)
 * is the stored artifact's, stop there without parsing it; otherwise load and validate it and
 * store it as JSON. `type: oci` has nothing to fetch: HelmCharts pull from the registry themselves.
 */
export async function reconcileHelmRepository(
  ports: ReconcilerPorts,
  repo: HelmRepository,
): Promise<Outcome<HelmRepositoryStatus>> {
  const { spec, metadata } = repo;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const requeueAfterMs = parseDuration(helmRepositoryDefaults(spec).interval);
  if (spec.type === "oci") {
    const status = markReady({}, at, REASON.succeeded, OCI_READY_MESSAGE);
    return { status, requeueAfterMs };
  }
  let status: HelmRepositoryStatus = { ...repo.status };
  const fail = (reason: string, message: string, stalled = false): Outcome<HelmRepositoryStatus> => {
    const fetchFailed = withCondition(status, { type: CONDITION.fetchFailed, status: "True", reason, message }, at);
    return {
      status: markFailed(fetchFailed, at, reason, message, { stalled }),
      requeueAfterMs: stalled ? undefined : requeueAfterMs,
      event: { severity: "error", reason, message },
    };
  };
  if (spec.url.startsWith("oci://"))
    return fail(
      REASON.urlInvalid,
      "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type",
      true,
    );

  let source: HelmIndexSource;
  try {
    source = await indexSource(ports, metadata.namespace ?? "default", spec);
  } catch (error) {
    return fail(REASON.authenticationFailed, (error as Error).message);
  }
  try {
    const bytes = await fetchHelmIndex(source);
    const revision = indexRevision(bytes);
    const current = status.artifact;
    if (current?.revision === revision && (await ports.artifacts.get(current.path, current.digest))) {
      const recovered = FAILURES.some((type) => findCondition(status.conditions, type)?.status === "True");
      status = succeeded(status, at, revision);
      const message = fetchedMessage(current.size, spec.url);
      return {
        status,
        requeueAfterMs,
        changed: false,
        revision,
        event: recovered ? { severity: "info", reason: REASON.succeeded, message } : undefined,
      };
    }
    const index = loadHelmIndex(bytes);
    const hex = revision.replace("sha256:", "");
    let stored;
    try {
      stored = await ports.artifacts.put(
        `helmrepository/${metadata.namespace ?? "default"}/${metadata.name}/index-${hex}.yaml`,
        indexArtifact(index),
      );
    } catch (error) {
      return storageFailed(status, at, requeueAfterMs, revision, error as Error);
    }
    await removeSuperseded(
      ports.artifacts,
      ports.log,
      artifactFolder("HelmRepository", metadata.namespace ?? "default", metadata.name),
      [stored.path, current?.path],
    );
    status.artifact = {
      path: stored.path,
      url: stored.url,
      revision,
      digest: stored.digest,
      lastUpdateTime: at.now.toISOString(),
      size: stored.size,
    };
    status.url = stored.url;
    status = succeeded(status, at, revision);
    return {
      status,
      requeueAfterMs,
      changed: current?.revision !== revision,
      revision,
      event:
        current?.digest !== stored.digest
          ? { severity: "info", reason: REASON.newArtifact, message: fetchedMessage(stored.size, spec.url) }
          : undefined,
    };
  } catch (error) {
    if (error instanceof HelmIndexError) return fail(error.reason, error.message);
    throw error;
  }
}

/** The index is stored for this revision: failures and ArtifactOutdated go; ArtifactInStorage and Ready are True. */
function succeeded(status: HelmRepositoryStatus, at: Stamp, revision: string): HelmRepositoryStatus {
  const message = `stored artifact: revision '${revision}'`;
  const stored = withCondition(
    withoutConditions(status, ...FAILURES, CONDITION.artifactOutdated),
    { type: CONDITION.artifactInStorage, status: "True", reason: REASON.succeeded, message },
    at,
  );
  return markReady(stored, at, REASON.succeeded, message);
}

/** As source-controller: StorageOperationFailed, and ArtifactOutdated while an older index is the stored one. */
function storageFailed(
  status: HelmRepositoryStatus,
  at: Stamp,
  requeueAfterMs: number,
  revision: string,
  error: Error,
): Outcome<HelmRepositoryStatus> {
  const reason = REASON.archiveOperationFailed;
  const message = `unable to save artifact to storage: ${error.message}`;
  let next = withCondition(status, { type: CONDITION.storageOperationFailed, status: "True", reason, message }, at);
  if (status.artifact) {
    const outdated = `new index revision '${revision}'`;
    const condition = { type: CONDITION.artifactOutdated, status: "True" as const, reason: REASON.newRevision };
    next = withCondition(next, { ...condition, message: outdated }, at);
  }
  return {
    status: markFailed(withoutConditions(next, CONDITION.fetchFailed), at, reason, message),
    requeueAfterMs,
    revision,
    event: { severity: "error", reason, message },
  };
}

/**
 * The connection settings source-controller reads: basic auth from `secretRef` (`username` and
 * `password`, both or neither), TLS from `certSecretRef` (`ca.crt`; `tls.crt` and `tls.key`, both
 * or neither), or, deprecated, from `secretRef` when there is no certSecretRef — the same keys, or the legacy
 * `caFile`/`certFile`/`keyFile` (fluxcd/pkg's secrets reader takes both, the standard names first).
 */
export async function indexSource(ports: ReconcilerPorts, namespace: string, spec: Spec): Promise<HelmIndexSource> {
  const read = async (name: string, what: string) => {
    const data = await ports.secrets.secret({ namespace, name });
    if (!data) throw new Error(`failed to get ${what} '${namespace}/${name}': secret not found`);
    return data;
  };
  const auth = spec.secretRef ? await read(spec.secretRef.name, "authentication secret") : {};
  if ((auth.username === undefined) !== (auth.password === undefined))
    throw new Error(
      `invalid '${namespace}/${spec.secretRef?.name}' secret data: required fields 'username' and 'password'`,
    );
  const tls = spec.certSecretRef
    ? await read(spec.certSecretRef.name, "TLS authentication secret")
    : {
        "ca.crt": auth["ca.crt"] ?? auth.caFile,
        "tls.crt": auth["tls.crt"] ?? auth.certFile,
        "tls.key": auth["tls.key"] ?? auth.keyFile,
      };
  const [certPem, keyPem] = [tls["tls.crt"], tls["tls.key"]];
  if ((certPem === undefined) !== (keyPem === undefined))
    throw new Error(
      `invalid '${namespace}/${spec.certSecretRef?.name ?? spec.secretRef?.name}' secret data: both 'tls.crt' and 'tls.key' are required`,
    );
  return {
    url: spec.url,
    username: auth.username,
    password: auth.password,
    caPem: tls["ca.crt"],
    clientCert: certPem !== undefined && keyPem !== undefined ? { certPem, keyPem } : undefined,
    network: { allowPrivateNetworks: ports.settings.allowPrivateNetworks },
    timeoutMs: parseDuration(helmRepositoryDefaults(spec).timeout),
  };
}

/** source-controller's event text: `stored fetched index of size 1.234kB from '<url>'` (go-units' HumanSize). */
function fetchedMessage(size: number | undefined, url: string): string {
  return `stored fetched index of ${size === undefined ? "unknown size" : `size ${humanSize(size)}`} from '${maskUrl(url)}'`;
}

function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(4))}${units[unit]}`;
}
