import { gunzipSync } from "node:zlib";
import { z } from "zod";
import type { KubeClient } from "../cluster/kube-client.js";

/**
 * Helm's release storage as helm v4's Secret driver keeps it (pkg/storage/driver/secrets.go): one Secret
 * `sh.helm.release.v1.<name>.v<version>` of type `helm.sh/release.v1` per revision, labelled owner=helm, name,
 * status and version, whose `release` key holds base64(gzip(JSON of the release)). Reading it here means `helm list`,
 * Flux's helm-controller and Sluice see the same releases.
 *
 * Anyone who may write Secrets in the storage namespace can plant one, so every Secret is checked before it is
 * believed, and a bad one is an error naming it (never its content: values hold secrets).
 */

export const RELEASE_SECRET_TYPE = "helm.sh/release.v1";

/** The largest release JSON decoded (gzip lets a 1 MiB Secret expand a thousandfold). */
export const DEFAULT_MAX_RELEASE_BYTES = 64 * 1024 * 1024;

/** pkg/chart/v2/util/validate_name.go: release names are DNS-1123 subdomains of at most 53 characters. */
const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_RELEASE_NAME = 53;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
/** Labels the driver sets itself (util.go systemLabels); the rest are the release's own labels. */
const SYSTEM_LABELS = new Set(["name", "owner", "status", "version", "createdAt", "modifiedAt"]);

/** pkg/release/common/status.go */
export const RELEASE_STATUSES = [
  "unknown",
  "deployed",
  "uninstalled",
  "superseded",
  "failed",
  "uninstalling",
  "pending-install",
  "pending-upgrade",
  "pending-rollback",
] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

/** Thrown for a release Secret that cannot be believed or decoded; names the Secret, never its content. */
export class ReleaseStorageError extends Error {
  override name = "ReleaseStorageError";
}

/** A plain JSON object, kept as JSON.parse made it (no copy: keys such as `__proto__` stay plain data). */
const jsonObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === "object" && value !== null && !Array.isArray(value),
  "expected an object",
);
/** Go's time.Time in JSON; helm writes "" for a zero time in old releases. */
const time = z
  .string()
  .optional()
  .transform((value) => value || undefined);
const strings = z
  .array(z.string())
  .nullish()
  .transform((value) => value ?? []);

const hookSchema = z.object({
  name: z.string().default(""),
  kind: z.string().default(""),
  path: z.string().default(""),
  manifest: z.string().default(""),
  events: strings,
  weight: z.number().int().default(0),
  delete_policies: strings,
  output_log_policies: strings,
  last_run: z.object({ started_at: time, completed_at: time, phase: z.string().default("") }).prefault({}),
});

/** The fields of pkg/release/v1 Release Sluice reads; others (the chart's templates and files) are not kept. */
const releaseSchema = z.object({
  name: z.string(),
  namespace: z.string().default(""),
  version: z.number().int().positive(),
  info: z.object({
    first_deployed: time,
    last_deployed: time,
    deleted: time,
    description: z.string().default(""),
    status: z.enum(RELEASE_STATUSES),
    notes: z.string().default(""),
  }),
  chart: z.object({
    metadata: z.object({ name: z.string(), version: z.string(), appVersion: z.string().optional() }),
  }),
  config: jsonObject.nullish(),
  manifest: z.string().default(""),
  hooks: z.array(hookSchema).nullish(),
  apply_method: z.enum(["ssa", "csa"]).optional(),
});

export interface ReleaseHook {
  name: string;
  kind: string;
  path: string;
  manifest: string;
  events: string[];
  weight: number;
  deletePolicies: string[];
  outputLogPolicies: string[];
  lastRun: { startedAt?: string; completedAt?: string; phase: string };
}

/** One revision of a Helm release, as stored. Timestamps are Go's RFC 3339 text (nanoseconds kept). */
export interface StoredRelease {
  name: string;
  /** The namespace the release deploys to. */
  namespace: string;
  version: number;
  info: {
    status: ReleaseStatus;
    description: string;
    firstDeployed?: string;
    lastDeployed?: string;
    deleted?: string;
    notes: string;
  };
  chart: { name: string; version: string; appVersion?: string };
  /** The user-supplied values of this revision: may hold secrets, never log them. */
  config: Record<string, unknown>;
  manifest: string;
  hooks: ReleaseHook[];
  /** How the revision was applied (helm v4); absent for releases written by helm v3. */
  applyMethod?: "ssa" | "csa";
  /** The release's own labels (helm v4 `--labels`), without the storage driver's. */
  labels: Record<string, string>;
  /** Where the revision is stored. */
  storage: { namespace: string; secretName: string };
}

export interface ReadOptions {
  /** @default DEFAULT_MAX_RELEASE_BYTES */
  maxReleaseBytes?: number;
}

interface SecretItem {
  metadata: { name: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

/** The Secret name helm gives a revision (pkg/storage/storage.go makeKey). */
export function releaseSecretName(name: string, version: number): string {
  return `sh.helm.release.v1.${name}.v${version}`;
}

/** Throws unless `name` is a release name helm accepts (it becomes a label selector and a Secret name). */
export function assertReleaseName(name: string): void {
  if (name.length > MAX_RELEASE_NAME || !RELEASE_NAME.test(name))
    throw new ReleaseStorageError(
      `release name "${name.slice(0, 80)}" is not valid: a DNS-1123 subdomain of at most ${MAX_RELEASE_NAME} characters`,
    );
}

/** Throws unless `namespace` is a namespace name (it becomes part of a request path). */
export function assertNamespace(namespace: string): void {
  if (namespace.length > 63 || !NAMESPACE.test(namespace))
    throw new ReleaseStorageError(`namespace "${namespace.slice(0, 80)}" is not a namespace name`);
}

/** The latest revision of release `name` in storage namespace `namespace` (one LIST), or undefined when none. */
export async function latestRelease(
  client: KubeClient,
  namespace: string,
  name: string,
  options: ReadOptions = {},
): Promise<StoredRelease | undefined> {
  const secrets = await listReleaseSecrets(client, namespace, name);
  const newest = secrets.reduce<{ secret: SecretItem; version: number } | undefined>((best, secret) => {
    const version = checkedVersion(secret, namespace, name);
    return !best || version > best.version ? { secret, version } : best;
  }, undefined);
  return newest && decodeReleaseSecret(newest.secret, namespace, name, options);
}

/** Every stored revision of release `name`, oldest first (one LIST). */
export async function releaseHistory(
  client: KubeClient,
  namespace: string,
  name: string,
  options: ReadOptions = {},
): Promise<StoredRelease[]> {
  const secrets = await listReleaseSecrets(client, namespace, name);
  return secrets
    .map((secret) => decodeReleaseSecret(secret, namespace, name, options))
    .sort((a, b) => a.version - b.version);
}

async function listReleaseSecrets(client: KubeClient, namespace: string, name: string): Promise<SecretItem[]> {
  assertReleaseName(name);
  assertNamespace(namespace);
  const list = await client.send<{ items?: SecretItem[] }>({
    method: "GET",
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
    query: { labelSelector: `owner=helm,name=${name}` },
  });
  return list.items ?? [];
}

/** The revision a Secret claims by its labels, once its name and type agree with them. */
function checkedVersion(secret: SecretItem, namespace: string, name: string): number {
  const where = `Secret ${namespace}/${secret.metadata.name}`;
  const label = secret.metadata.labels?.version ?? "";
  if (!/^[1-9][0-9]{0,8}$/.test(label))
    throw new ReleaseStorageError(`${where}: label version "${label.slice(0, 20)}" is not a revision number`);
  const version = Number(label);
  if (secret.metadata.name !== releaseSecretName(name, version))
    throw new ReleaseStorageError(
      `${where} is labelled as revision ${version} of release ${name}, whose Secret is ${releaseSecretName(name, version)}`,
    );
  if (secret.type !== RELEASE_SECRET_TYPE)
    throw new ReleaseStorageError(`${where}: type is "${secret.type ?? ""}", expected ${RELEASE_SECRET_TYPE}`);
  return version;
}

function decodeReleaseSecret(secret: SecretItem, namespace: string, name: string, options: ReadOptions): StoredRelease {
  const version = checkedVersion(secret, namespace, name);
  const where = `Secret ${namespace}/${secret.metadata.name}`;
  const encoded = secret.data?.release;
  if (encoded === undefined) throw new ReleaseStorageError(`${where} has no "release" key`);
  let record: Omit<StoredRelease, "labels" | "storage">;
  try {
    record = decodeRelease(Buffer.from(encoded, "base64").toString("latin1"), options);
  } catch (error) {
    throw new ReleaseStorageError(`${where}: ${(error as Error).message}`);
  }
  if (record.name !== name || record.version !== version)
    throw new ReleaseStorageError(
      `${where} holds revision ${record.version} of release "${record.name.slice(0, 80)}", not revision ${version} of ${name}`,
    );
  const labels = Object.fromEntries(
    Object.entries(secret.metadata.labels ?? {}).filter(([key]) => !SYSTEM_LABELS.has(key)),
  );
  return { ...record, labels, storage: { namespace, secretName: secret.metadata.name } };
}

/**
 * Decodes the `release` value helm writes (util.go decodeRelease): base64 of gzip of JSON, or of plain JSON for
 * releases stored before helm compressed them. Errors say what is wrong, never what the data holds.
 */
export function decodeRelease(data: string, options: ReadOptions = {}): Omit<StoredRelease, "labels" | "storage"> {
  if (data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data))
    throw new ReleaseStorageError("release data is not base64");
  let bytes = Buffer.from(data, "base64");
  if (bytes.length > 3 && bytes.subarray(0, 3).equals(GZIP_MAGIC)) {
    const limit = options.maxReleaseBytes ?? DEFAULT_MAX_RELEASE_BYTES;
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: limit });
    } catch (error) {
      throw new ReleaseStorageError(
        (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
          ? `release data expands beyond ${limit} bytes`
          : `release data is not valid gzip (${(error as NodeJS.ErrnoException).code ?? "corrupt"})`,
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ReleaseStorageError("release data is not JSON");
  }
  const parsed = releaseSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReleaseStorageError(
      `release JSON is not a Helm release: ${issue?.path.join(".") || "(root)"}: ${issue?.code}`,
    );
  }
  const release = parsed.data;
  return {
    name: release.name,
    namespace: release.namespace,
    version: release.version,
    info: {
      status: release.info.status,
      description: release.info.description,
      firstDeployed: release.info.first_deployed,
      lastDeployed: release.info.last_deployed,
      deleted: release.info.deleted,
      notes: release.info.notes,
    },
    chart: {
      name: release.chart.metadata.name,
      version: release.chart.metadata.version,
      appVersion: release.chart.metadata.appVersion,
    },
    config: release.config ?? {},
    manifest: release.manifest,
    hooks: (release.hooks ?? []).map((hook) => ({
      name: hook.name,
      kind: hook.kind,
      path: hook.path,
      manifest: hook.manifest,
      events: hook.events,
      weight: hook.weight,
      deletePolicies: hook.delete_policies,
      outputLogPolicies: hook.output_log_policies,
      lastRun: {
        startedAt: hook.last_run.started_at,
        completedAt: hook.last_run.completed_at,
        phase: hook.last_run.phase,
      },
    })),
    applyMethod: release.apply_method,
  };
}
