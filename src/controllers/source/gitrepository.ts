import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { gitRepositoryDefaults, type GitRepository } from "../../api/gitrepository.js";
import { parseDuration } from "../../api/duration.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { archiveTree } from "../../artifacts/archive.js";
import { defaultExtractLimits } from "../../artifacts/extract.js";
import { forgetKeptInMemory } from "../../artifacts/kept-memory.js";
import { loadKeptSegments, saveKeptSegments } from "../../artifacts/kept-segments.js";
import {
  checkoutInMemory,
  GitError,
  maskUrl,
  resolveRemoteRef,
  type GitAuth,
  type GitRemote,
} from "../../sources/git.js";
import { keptBudget, trimKeptFolders } from "../../sources/git-kept-budget.js";
import { identityIsEncrypted, isSshUrl, sshAuthProblem } from "../../sources/ssh-remote.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import type { Outcome } from "../../pipeline/outcome.js";
import { markFailed, markReady, withCondition, withoutConditions, type Stamp } from "../../pipeline/status.js";
import { artifactFolder, removeSuperseded } from "./artifact-retention.js";

type GitRepositoryStatus = NonNullable<GitRepository["status"]>;

/**
 * source-controller's GitRepository reconcile: resolve the ref from the advertisement alone, fetch
 * (depth 1) only when it moved or the artifact inputs changed, store a deterministic tarball, and
 * set status.artifact and conditions as Flux does.
 */
export async function reconcileGitRepository(
  ports: ReconcilerPorts,
  repo: GitRepository,
): Promise<Outcome<GitRepositoryStatus>> {
  const { spec, metadata } = repo;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const namespace = metadata.namespace ?? "default";
  let status: GitRepositoryStatus = { ...repo.status };
  const fail = (reason: string, message: string): Outcome<GitRepositoryStatus> => {
    const fetchFailed = withCondition(status, { type: CONDITION.fetchFailed, status: "True", reason, message }, at);
    return {
      status: markFailed(fetchFailed, at, reason, message),
      requeueAfterMs: parseDuration(spec.interval),
      event: { severity: "error", reason, message },
    };
  };

  let auth: GitAuth;
  try {
    auth = await gitAuth(ports, namespace, spec);
  } catch (error) {
    return fail(REASON.authenticationFailed, (error as Error).message);
  }
  const { ref, timeout } = gitRepositoryDefaults(spec);
  const source: GitRemote = {
    url: spec.url,
    auth,
    network: { allowPrivateNetworks: ports.settings.allowPrivateNetworks },
    timeoutMs: parseDuration(timeout),
  };
  try {
    const remote = await resolveRemoteRef(source, ref);
    const current = status.artifact;
    const unchanged =
      remote !== undefined &&
      current !== undefined &&
      current.revision === remote.revision &&
      status.observedIgnore === spec.ignore &&
      status.observedGeneration === at.generation &&
      (await ports.artifacts.get(current.path, current.digest)) !== undefined;
    if (unchanged) {
      status = succeeded(status, at, `stored artifact for revision '${current.revision}'`);
      return { status, requeueAfterMs: parseDuration(spec.interval), changed: false };
    }
    const dir = await mkdtemp(join(ports.workDir, "git-"));
    try {
      const keep = keptObjectsFolder(ports.workDir, namespace, metadata.name);
      const checkedOut = await checkoutInMemory(source, ref, dir, undefined, keep);
      let stored;
      try {
        const segments = await loadKeptSegments(keep, defaultExtractLimits.maxBytes);
        const archive = await archiveTree(checkedOut.tree, { ignore: spec.ignore, segments });
        const key = `gitrepository/${namespace}/${metadata.name}/${archive.digest.replace("sha256:", "")}.tar.gz`;
        stored = await ports.artifacts.put(key, archive.data);
        await removeSuperseded(ports.artifacts, ports.log, artifactFolder("GitRepository", namespace, metadata.name), [
          stored.path,
          current?.path,
        ]);
        // Only a shortcut for the next archive: without it, every member is compressed again.
        await saveKeptSegments(keep, archive.segments!).catch((error: Error) =>
          ports.log.warn({ error: error.message }, "could not keep the archive's gzip members"),
        );
        await trimKept(ports);
      } catch (error) {
        return storageFailed(status, at, spec, checkedOut.revision, error as Error);
      }
      status.artifact = {
        path: stored.path,
        url: stored.url,
        revision: checkedOut.revision,
        digest: stored.digest,
        lastUpdateTime: at.now.toISOString(),
        size: stored.size,
      };
      status.observedIgnore = spec.ignore;
      const message = `stored artifact for revision '${checkedOut.revision}'`;
      status = succeeded(status, at, message);
      const moved = current?.revision !== checkedOut.revision;
      return {
        status,
        requeueAfterMs: parseDuration(spec.interval),
        changed: moved || current?.digest !== stored.digest,
        event: moved
          ? {
              severity: "info",
              reason: REASON.newArtifact,
              message: `stored artifact with revision '${checkedOut.revision}' from '${maskUrl(spec.url)}'${checkedOut.message ? `, commit message: '${checkedOut.message.split("\n")[0]}'` : ""}`,
            }
          : undefined,
        revision: checkedOut.revision,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } catch (error) {
    if (error instanceof GitError) return fail(error.reason, error.message);
    throw error;
  }
}

const KEPT_ROOT = "git-kept";

/** Keeps what all GitRepositories keep on disk within its budget (git-kept-budget.ts), least recently written out. */
async function trimKept(ports: ReconcilerPorts): Promise<void> {
  try {
    const removed = await trimKeptFolders(join(ports.workDir, KEPT_ROOT), await keptBudget(ports.workDir));
    if (removed.length > 0) ports.log.info({ folders: removed.length }, "removed kept Git data over its disk budget");
  } catch (error) {
    ports.log.warn({ error: (error as Error).message }, "could not bound the kept Git data");
  }
}

/**
 * Where a GitRepository keeps its last fetched commit's objects between reconciles (git-kept-objects.ts): its own
 * folder, so that no other GitRepository's fetch ever reads them.
 */
export function keptObjectsFolder(workDir: string, namespace: string, name: string): string {
  return join(workDir, KEPT_ROOT, createHash("sha256").update(`${namespace}/${name}`).digest("hex").slice(0, 32));
}

/** Forgets what keptObjectsFolder keeps for a GitRepository (it is being deleted). */
export async function removeKeptObjects(workDir: string, namespace: string, name: string): Promise<void> {
  const folder = keptObjectsFolder(workDir, namespace, name);
  forgetKeptInMemory(folder);
  await rm(folder, { recursive: true, force: true });
}

/**
 * The commit was fetched but its artifact could not be stored (archive limits, storage down): as
 * source-controller, StorageOperationFailed with ArchiveOperationFailed, and ArtifactOutdated while
 * the stored artifact is an older revision's; retried after the interval, the old artifact kept.
 */
function storageFailed(
  status: GitRepositoryStatus,
  at: Stamp,
  spec: GitRepository["spec"],
  revision: string,
  error: Error,
): Outcome<GitRepositoryStatus> {
  const reason = REASON.archiveOperationFailed;
  const message = `unable to archive artifact to storage: ${error.message}`;
  let next = withCondition(status, { type: CONDITION.storageOperationFailed, status: "True", reason, message }, at);
  if (status.artifact && status.artifact.revision !== revision) {
    const outdated = `new upstream revision '${revision}'`;
    next = withCondition(
      next,
      { type: CONDITION.artifactOutdated, status: "True", reason: REASON.newRevision, message: outdated },
      at,
    );
  }
  return {
    status: markFailed(withoutConditions(next, CONDITION.fetchFailed), at, reason, message),
    requeueAfterMs: parseDuration(spec.interval),
    revision,
    event: { severity: "error", reason, message },
  };
}

/**
 * The artifact for this spec is stored: FetchFailed, StorageOperationFailed and ArtifactOutdated go;
 * ArtifactInStorage and Ready are True.
 */
function succeeded(status: GitRepositoryStatus, at: Stamp, message: string): GitRepositoryStatus {
  const failures = [CONDITION.fetchFailed, CONDITION.storageOperationFailed, CONDITION.artifactOutdated];
  const stored = withCondition(
    withoutConditions(status, ...failures),
    { type: CONDITION.artifactInStorage, status: "True", reason: REASON.succeeded, message },
    at,
  );
  return markReady(stored, at, REASON.succeeded, message);
}

/**
 * Reads `spec.secretRef` the way source-controller does: username/password, bearerToken, ca.crt; for an ssh://
 * URL identity, known_hosts and password (the identity's passphrase), both keys required even without a
 * secretRef (fluxcd/pkg/git's NewAuthOptions).
 */
export async function gitAuth(
  ports: ReconcilerPorts,
  namespace: string,
  spec: GitRepository["spec"],
): Promise<GitAuth> {
  const name = spec.secretRef?.name;
  const data = name === undefined ? undefined : await ports.secrets.secret({ namespace, name });
  if (name !== undefined && !data) throw new Error(`failed to get secret '${namespace}/${name}': secret not found`);
  if (isSshUrl(spec.url)) return sshAuth(data ?? {}, `${namespace}/${name ?? ""}`);
  if (!data) return {};
  if ((data.username === undefined) !== (data.password === undefined)) {
    throw new Error(
      `invalid '${namespace}/${name}' secret data: required fields username and password must both be set`,
    );
  }
  return {
    username: data.username,
    password: data.password,
    bearerToken: data.bearerToken,
    caPem: data["ca.crt"] ?? data.caFile,
  };
}

function sshAuth(data: Record<string, string>, secret: string): GitAuth {
  const auth = { identity: data.identity, knownHosts: data.known_hosts, password: data.password };
  const problem = sshAuthProblem(auth);
  if (problem) throw new Error(`failed to configure authentication options: ${problem}`);
  if (identityIsEncrypted(auth.identity ?? "") && !auth.password)
    throw new Error(`SSH identity key is encrypted but no 'password' field was provided in the secret '${secret}'`);
  return auth;
}
