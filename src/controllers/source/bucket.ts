import type { S3Client } from "@aws-sdk/client-s3";
import { bucketDefaults, type Bucket } from "../../api/bucket.js";
import { parseDuration } from "../../api/duration.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { archiveTree } from "../../artifacts/archive.js";
import { findCondition } from "../../pipeline/conditions.js";
import type { Outcome } from "../../pipeline/outcome.js";
import { markFailed, markReady, withCondition, withoutConditions, type Stamp } from "../../pipeline/status.js";
import { downloadObjects } from "../../sources/bucket/download.js";
import { indexDigest } from "../../sources/bucket/index-digest.js";
import { BUCKET_LIMITS, BucketOperationError, listBucket, type IgnoreFileCache } from "../../sources/bucket/listing.js";
import { BucketEndpointError, bucketS3Client, type S3Credentials } from "../../sources/bucket/s3-client.js";
import { RefusedAddressError } from "../../sources/network-guard.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { artifactFolder, removeSuperseded } from "./artifact-retention.js";

type Status = NonNullable<Bucket["status"]>;
type Spec = Bucket["spec"];

/** The conditions whose clearing is a recovery worth an event (source-controller's bucketFailConditions). */
const FAILURES = [CONDITION.fetchFailed, CONDITION.storageOperationFailed];
/** Root `.sourceignore` files by endpoint and bucket, kept by this process between reconciles (a few hundred). */
const IGNORE_FILES: IgnoreFileCache = new Map();
const IGNORE_FILES_KEPT = 512;

/** A failure with source-controller's reason; FetchFailed unless `storage`. */
class BucketFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly storage = false,
  ) {
    super(message);
  }
}

/**
 * source-controller's Bucket reconcile: list the bucket under `prefix` (the root `.sourceignore`
 * and `spec.ignore` exclude keys), and when the digest over keys and ETags is the stored revision,
 * stop there — one listing request per 1,000 keys. Otherwise download every indexed object and store
 * them as a deterministic tarball named after the revision.
 */
export async function reconcileBucket(ports: ReconcilerPorts, bucket: Bucket): Promise<Outcome<Status>> {
  const { spec, metadata } = bucket;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const namespace = metadata.namespace ?? "default";
  const requeueAfterMs = parseDuration(spec.interval);
  const status: Status = { ...bucket.status };
  const secrets: string[] = [];
  let client: S3Client | undefined;
  try {
    const connection = await connect(ports, namespace, spec, secrets);
    client = connection.client;
    const signal = AbortSignal.timeout(parseDuration(bucketDefaults(spec).timeout));
    const options = { bucketName: spec.bucketName, signal, limits: BUCKET_LIMITS };
    // Per reader too: a cached .sourceignore is served only to credentials that listed it themselves.
    const listing = await listBucket(client, `${spec.endpoint}/${spec.bucketName}/${connection.identity}`, {
      ...options,
      prefix: spec.prefix,
      ignore: spec.ignore,
      ignoreCache: IGNORE_FILES,
    }).catch(failedWith(REASON.bucketOperationFailed));
    trimIgnoreCache();
    let revision = indexDigest(listing.index);
    const current = status.artifact;
    const unchanged =
      current?.revision === revision &&
      (await ports.artifacts.get(current.path).then(
        (found) => found !== undefined,
        () => false,
      ));
    let files = listing.index.size;
    if (!unchanged) {
      const download = await downloadObjects(client, spec.bucketName, listing, options).catch(
        failedWith(REASON.bucketOperationFailed),
      );
      revision = indexDigest(download.index);
      files = download.index.size;
      const archive = await archiveTree(download.tree, { unfiltered: true });
      const path = `bucket/${namespace}/${metadata.name}/${revision.slice("sha256:".length)}.tar.gz`;
      const stored = await ports.artifacts.put(path, archive.data).catch((error: Error) => {
        throw new BucketFailure(
          REASON.archiveOperationFailed,
          `unable to archive artifact to storage: ${error.message}`,
          true,
        );
      });
      await removeSuperseded(ports.artifacts, ports.log, artifactFolder("Bucket", namespace, metadata.name), [
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
      };
      status.url = stored.url;
      status.observedIgnore = spec.ignore;
    }
    const recovered = FAILURES.some((type) => findCondition(status.conditions, type)?.status === "True");
    const message = `stored artifact: revision '${revision}'`;
    let next = withoutConditions(status, ...FAILURES, CONDITION.artifactOutdated);
    next = withCondition(
      next,
      { type: CONDITION.artifactInStorage, status: "True", reason: REASON.succeeded, message },
      at,
    );
    const newArtifact = current?.digest !== next.artifact?.digest;
    const stored = `stored artifact with ${files} fetched files from '${spec.bucketName}' bucket`;
    return {
      status: markReady(next, at, REASON.succeeded, message),
      requeueAfterMs,
      changed: newArtifact,
      revision,
      event:
        newArtifact || recovered
          ? { severity: "info", reason: newArtifact ? REASON.newArtifact : REASON.succeeded, message: stored }
          : undefined,
    };
  } catch (error) {
    if (!(error instanceof BucketFailure)) throw error;
    const message = redact(error.message, secrets);
    const type = error.storage ? CONDITION.storageOperationFailed : CONDITION.fetchFailed;
    let next = withoutConditions(status, ...FAILURES);
    next = withCondition(next, { type, status: "True", reason: error.reason, message }, at);
    return {
      status: markFailed(next, at, error.reason, message),
      requeueAfterMs,
      event: { severity: "error", reason: error.reason, message },
    };
  } finally {
    client?.destroy();
  }
}

/**
 * The S3 client for the Bucket: credentials from `secretRef` (`accesskey`, `secretkey`; both empty
 * is anonymous, as minio-go), else the runtime's identity for provider aws, else anonymous; TLS from
 * `certSecretRef`. Every secret value read is added to `secrets`, so no message can carry one.
 */
async function connect(
  ports: ReconcilerPorts,
  namespace: string,
  spec: Spec,
  secrets: string[],
): Promise<{ client: S3Client; identity: string }> {
  const authFailed = (message: string) => new BucketFailure(REASON.authenticationFailed, message);
  const read = async (name: string, what: string) => {
    const data = await ports.secrets.secret({ namespace, name });
    if (!data) throw authFailed(`failed to get ${what}secret '${namespace}/${name}': secret not found`);
    secrets.push(...Object.values(data));
    return data;
  };
  let credentials: S3Credentials | undefined;
  if (spec.secretRef) {
    const data = await read(spec.secretRef.name, "");
    if (data.accesskey === undefined || data.secretkey === undefined)
      throw authFailed(`invalid '${spec.secretRef.name}' secret data: required fields 'accesskey' and 'secretkey'`);
    if (data.accesskey && data.secretkey)
      credentials = { accessKeyId: data.accesskey, secretAccessKey: data.secretkey };
  } else if (bucketDefaults(spec).provider === "aws") {
    credentials = await runtimeCredentials(ports).catch((error: Error) => {
      throw authFailed(`AWS authentication failed: ${error.message}`);
    });
    secrets.push(credentials.secretAccessKey, ...(credentials.sessionToken ? [credentials.sessionToken] : []));
  }
  const tls = spec.certSecretRef && !spec.insecure ? await read(spec.certSecretRef.name, "TLS ") : {};
  const [certPem, keyPem] = [tls["tls.crt"], tls["tls.key"]];
  if ((certPem === undefined) !== (keyPem === undefined))
    throw authFailed(
      `failed to get TLS config: invalid '${spec.certSecretRef?.name}' secret data: both 'tls.crt' and 'tls.key' are required`,
    );
  try {
    const client = bucketS3Client({
      endpoint: spec.endpoint,
      insecure: spec.insecure ?? false,
      region: spec.region,
      credentials,
      caPem: tls["ca.crt"],
      clientCert: certPem !== undefined && keyPem !== undefined ? { certPem, keyPem } : undefined,
      network: { allowPrivateNetworks: ports.settings.allowPrivateNetworks },
    });
    return { client, identity: credentials?.accessKeyId ?? "anonymous" };
  } catch (error) {
    // source-controller reports a client it cannot make as an authentication failure.
    if (error instanceof BucketEndpointError || error instanceof RefusedAddressError) throw authFailed(error.message);
    throw error;
  }
}

async function runtimeCredentials(ports: ReconcilerPorts): Promise<S3Credentials> {
  if (!ports.awsIdentity) throw new Error("this runtime has no AWS identity to read the bucket with");
  return ports.awsIdentity.credentials();
}

/** Turns a listing or download failure into the reconcile's failure with `reason`; anything else is a bug. */
function failedWith(reason: string) {
  return (error: unknown): never => {
    if (error instanceof BucketOperationError) throw new BucketFailure(reason, error.message);
    if (error instanceof RefusedAddressError) throw new BucketFailure(reason, error.message);
    throw error;
  };
}

/** A message with every secret value read for this reconcile masked (an S3 error may quote a key). */
function redact(message: string, secrets: string[]): string {
  return secrets.filter((s) => s.length >= 4).reduce((text, secret) => text.replaceAll(secret, "***"), message);
}

function trimIgnoreCache(): void {
  for (const key of IGNORE_FILES.keys()) {
    if (IGNORE_FILES.size <= IGNORE_FILES_KEPT) return;
    IGNORE_FILES.delete(key);
  }
}
