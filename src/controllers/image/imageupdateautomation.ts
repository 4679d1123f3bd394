import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parseDuration } from "../../api/duration.js";
import { gitRepositoryDefaults, type GitRepository, type GitRepositoryRef } from "../../api/gitrepository.js";
import type { ImagePolicy, ImageRef } from "../../api/imagepolicy.js";
import type { ImageUpdateAutomation } from "../../api/imageupdateautomation.js";
import { formatKey } from "../../api/object-key.js";
import { REASON } from "../../api/reasons.js";
import { commitMessage } from "../../image/commit-message.js";
import { commitSigner, SigningKeyError } from "../../image/commit-signing.js";
import { TemplateError } from "../../image/go-template.js";
import type { PolicyImage } from "../../image/setters.js";
import { updateWithSetters, UpdatePathError, type FileChanges } from "../../image/update-files.js";
import type { Outcome } from "../../pipeline/outcome.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { markFailed, markReady, type Stamp } from "../../pipeline/status.js";
import {
  checkout,
  commitFiles,
  GitError,
  pushCommit,
  resolveRemoteRef,
  type GitAuth,
  type GitRemote,
} from "../../sources/git.js";
import { pushOptionLines, PushOptionError } from "../../sources/git-push-options.js";
import { signCommit, type CommitSigner } from "../../sources/git-signature.js";
import { refuseCrossNamespaceRefs } from "../cross-namespace.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { gitAuth } from "../source/gitrepository.js";
import { labelSelectorMatcher, PolicySelectorError } from "./policy-selector.js";
import { openOrUpdatePullRequest } from "./pull-request.js";

type Status = NonNullable<ImageUpdateAutomation["status"]>;

/** image-automation-controller's reasons (api/v1 condition_types.go). */
export const AUTOMATION_REASON = {
  invalidSourceConfig: "InvalidSourceConfiguration",
  sourceManagerFailed: "SourceManagerFailed",
  gitOperationFailed: "GitOperationFailed",
  updateFailed: "UpdateFailed",
  invalidPolicySelector: "InvalidPolicySelector",
  removedTemplateField: "RemovedTemplateField",
} as const;

/** Flux's Ready message once a run completes. */
const READY_MESSAGE = "repository up-to-date";
/** Pushes rejected because the branch moved are retried on its new head this many times, then the run fails. */
const PUSH_ATTEMPTS = 4;

/**
 * image-automation-controller's reconcile: read the ImagePolicies of the namespace (as policySelector
 * selects them), check out the GitRepository's branch (or the push branch, when it exists), apply the
 * setters under `update.path`, commit with the author and message template, and push — never forced: when
 * the branch moved meanwhile, the update is made again on its new head. Nothing is cloned when neither the
 * policies nor the checked-out branch changed since the last run.
 */
export async function reconcileImageUpdateAutomation(
  ports: ReconcilerPorts,
  auto: ImageUpdateAutomation,
): Promise<Outcome<Status>> {
  const { spec, metadata } = auto;
  const namespace = metadata.namespace ?? "default";
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const interval = parseDuration(spec.interval);
  let status: Status = { ...auto.status, lastAutomationRunTime: at.now.toISOString() };
  try {
    const source = await sourceOf(ports, auto);
    const { policies, all } = await policiesOf(ports, auto);
    // Woken when any policy of the namespace picks another image, one without a pick yet included (Flux watches
    // every ImagePolicy of the namespace; a policy created later is seen at the next run).
    await ports.dependents.record(
      { kind: "ImageUpdateAutomation", namespace, name: metadata.name },
      all.map((name) => formatKey({ kind: "ImagePolicy", namespace, name })),
    );
    const observedPolicies = Object.fromEntries(policies.map((p) => [p.name, p.latestRef]));
    const fullSync =
      !isDeepStrictEqual(status.observedPolicies ?? {}, observedPolicies) ||
      source.switchBranch ||
      Boolean(spec.git?.push?.refspec) ||
      !status.observedSourceRevision;
    const checkedOut = fullSync ? undefined : await resolveRemoteRef(source.remote, source.checkoutRef);
    if (checkedOut && checkedOut.revision === status.observedSourceRevision)
      return { status: markReady(status, at, REASON.succeeded, READY_MESSAGE), requeueAfterMs: interval };

    const pushed = await updateAndPush(ports, auto, source, policies);
    status = { ...status, observedPolicies };
    const pullRequest = spec.git?.push?.pullRequest;
    if (!pushed) {
      status.observedSourceRevision = source.checkoutRevision;
      // A pull request that failed to open after its push is opened now: the push branch holds the change already.
      if (pullRequest && !status.pullRequest && source.base?.isPushBranch) {
        const pr = await openOrUpdatePullRequest(ports, namespace, pullRequest, {
          repositoryUrl: source.remote.url,
          head: source.pushBranch,
          base: pullRequest.base ?? source.checkoutBranch,
          message: source.base.message,
          changes: [],
          network: source.remote.network,
        });
        status.pullRequest = { number: pr.number, url: pr.url };
      }
      return { status: markReady(status, at, REASON.succeeded, READY_MESSAGE), requeueAfterMs: interval };
    }
    status.observedSourceRevision = source.switchBranch
      ? source.checkoutRevision
      : `${source.pushBranch}@sha1:${pushed.commit}`;
    status.lastPushCommit = pushed.commit;
    status.lastPushTime = at.now.toISOString();
    // Beyond Flux (which waits for the GitRepository's interval or a webhook): the GitRepository that follows the
    // branch just pushed to fetches the commit now, so the new image is applied without waiting.
    if (source.sourceBranch === source.pushBranch)
      await ports.queue.enqueue({ key: formatKey(source.sourceKey), reason: "source", revision: pushed.commit });
    let summary = `pushed commit '${pushed.commit.slice(0, 7)}' to branch '${source.pushBranch}'`;
    if (spec.git?.push?.refspec) summary += ` and refspecs '${spec.git.push.refspec}'`;
    if (pullRequest) {
      // Until it is open (again), the next run retries it.
      delete status.pullRequest;
      const pr = await openOrUpdatePullRequest(ports, namespace, pullRequest, {
        repositoryUrl: source.remote.url,
        head: source.pushBranch,
        base: pullRequest.base ?? source.checkoutBranch,
        message: pushed.message,
        changes: pushed.changes,
        network: source.remote.network,
      });
      status.pullRequest = { number: pr.number, url: pr.url };
      summary += `; pull request ${pr.url} ${pr.created ? "opened" : "updated"}`;
    }
    return {
      status: markReady(status, at, REASON.succeeded, READY_MESSAGE),
      requeueAfterMs: interval,
      revision: `${source.pushBranch}@sha1:${pushed.commit}`,
      event: { severity: "info", reason: REASON.succeeded, message: `${summary}\n${pushed.message}` },
    };
  } catch (error) {
    if (!(error instanceof ReconcileError)) throw error;
    return {
      status: markFailed(status, at, error.reason, error.message, { stalled: error.stalled }),
      requeueAfterMs: error.stalled ? undefined : interval,
      event: { severity: "error", reason: error.reason, message: error.message },
    };
  }
}

/** Where to check out and push, and how to reach the repository: Flux's gitSrcCfg. */
interface Source {
  sourceKey: { kind: string; namespace: string; name: string };
  /** The branch the GitRepository itself follows. */
  sourceBranch: string | undefined;
  remote: GitRemote;
  checkoutRef: GitRepositoryRef | undefined;
  /** The checkout branch (for pull requests' base); Flux's default branch when the ref names none. */
  checkoutBranch: string;
  pushBranch: string;
  switchBranch: boolean;
  /** `commit.signingKey`'s signer. */
  sign?: CommitSigner;
  /** `push.options`, as the lines sent with every push. */
  pushOptions: string[];
  /** Set once checked out. */
  checkoutRevision?: string;
  /** What the update was built on, once checked out: the push branch's head or the checkout ref, and its message. */
  base?: { isPushBranch: boolean; message: string };
}

async function sourceOf(ports: ReconcilerPorts, auto: ImageUpdateAutomation): Promise<Source> {
  const { spec, metadata } = auto;
  const namespace = metadata.namespace ?? "default";
  const ref = { kind: "GitRepository", name: spec.sourceRef.name, namespace: spec.sourceRef.namespace ?? namespace };
  refuseCrossNamespaceRefs(ports.settings, namespace, [ref]);
  const git = spec.git;
  if (!git)
    throw new ReconcileError(
      AUTOMATION_REASON.invalidSourceConfig,
      "source kind 'GitRepository' necessitates field .spec.git: invalid source configuration",
      { stalled: true },
    );
  const sourceManagerFailed = (message: string) =>
    new ReconcileError(AUTOMATION_REASON.sourceManagerFailed, `failed configuring source manager: ${message}`);
  const stored = await ports.store.get(ref);
  if (!stored)
    throw sourceManagerFailed(
      `referenced git repository does not exist: GitRepository '${ref.namespace}/${ref.name}' not found`,
    );
  const repo = stored.object as GitRepository;
  let auth: GitAuth;
  try {
    auth = await gitAuth(ports, ref.namespace, repo.spec);
  } catch (error) {
    throw sourceManagerFailed((error as Error).message);
  }
  const checkoutRef = git.checkout?.ref ?? repo.spec.ref;
  const checkoutBranch = checkoutRef?.branch ?? "master";
  const pushBranch = git.push?.branch || checkoutRef?.branch;
  if (!pushBranch)
    throw sourceManagerFailed(
      "push spec not provided, and cannot be inferred from .spec.git.checkout.ref or GitRepository .spec.ref",
    );
  const pullRequest = git.push?.pullRequest;
  if (pullRequest && pushBranch === (pullRequest.base ?? checkoutBranch))
    throw new ReconcileError(
      AUTOMATION_REASON.invalidSourceConfig,
      `spec.git.push.pullRequest needs spec.git.push.branch, other than the branch it merges into ('${pushBranch}'): invalid source configuration`,
      { stalled: true },
    );
  let sign: CommitSigner | undefined;
  if (git.commit.signingKey) {
    const { secretRef, type } = git.commit.signingKey;
    const secret = await ports.secrets.secret({ namespace, name: secretRef.name });
    if (!secret) throw sourceManagerFailed(`could not find signing key secret '${secretRef.name}'`);
    sign = await commitSigner(secretRef.name, type, secret).catch((error: unknown) => {
      throw error instanceof SigningKeyError ? sourceManagerFailed(error.message) : error;
    });
  }
  let pushOptions: string[];
  try {
    pushOptions = pushOptionLines(git.push?.options ?? {});
  } catch (error) {
    if (!(error instanceof PushOptionError)) throw error;
    throw new ReconcileError(
      AUTOMATION_REASON.invalidSourceConfig,
      `spec.git.push.options: ${error.message}: invalid source configuration`,
      { stalled: true },
    );
  }
  return {
    sourceKey: ref,
    sign,
    pushOptions,
    sourceBranch: gitRepositoryDefaults(repo.spec).ref.branch,
    remote: {
      url: repo.spec.url,
      auth,
      network: { allowPrivateNetworks: ports.settings.allowPrivateNetworks },
      timeoutMs: parseDuration(gitRepositoryDefaults(repo.spec).timeout),
    },
    checkoutRef,
    checkoutBranch,
    pushBranch,
    // Flux compares with the checkout ref's branch, empty for a tag or commit, or with its default branch.
    switchBranch: Boolean(git.push?.branch) && git.push!.branch !== (checkoutRef ? checkoutRef.branch : "master"),
  };
}

/** The namespace's ImagePolicies that policySelector selects and that have picked an image, and every one's name. */
async function policiesOf(
  ports: ReconcilerPorts,
  auto: ImageUpdateAutomation,
): Promise<{ policies: PolicyImage[]; all: string[] }> {
  const namespace = auto.metadata.namespace ?? "default";
  let selects;
  try {
    selects = labelSelectorMatcher(auto.spec.policySelector);
  } catch (error) {
    if (!(error instanceof PolicySelectorError)) throw error;
    throw new ReconcileError(
      AUTOMATION_REASON.invalidPolicySelector,
      `failed to parse policy selector: ${error.message}`,
      { stalled: true },
    );
  }
  const policies: PolicyImage[] = [];
  const stored = await ports.store.list({ kind: "ImagePolicy", namespace });
  for (const { object } of stored) {
    const policy = object as ImagePolicy;
    const latestRef: ImageRef | undefined = policy.status?.latestRef;
    if (latestRef && selects(policy.metadata.labels ?? {}))
      policies.push({ namespace, name: policy.metadata.name, latestRef });
  }
  return { policies, all: stored.map(({ object }) => object.metadata.name) };
}

interface Pushed {
  commit: string;
  message: string;
  changes: FileChanges[];
}

/**
 * Checks out, updates, commits and pushes; undefined when the files are already up to date. A push the
 * remote rejects because the branch moved is made again from the new head (the setters re-run on it).
 */
async function updateAndPush(
  ports: ReconcilerPorts,
  auto: ImageUpdateAutomation,
  source: Source,
  policies: PolicyImage[],
): Promise<Pushed | undefined> {
  const git = auto.spec.git!;
  const pushRef = `refs/heads/${source.pushBranch}`;
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(ports.workDir, "image-update-"));
    try {
      const base = await checkoutBase(source, dir).catch((error: unknown) => {
        throw error instanceof GitError ? gitFailure(error.message, "checkout") : error;
      });
      const changes = await applyPolicies(dir, auto, policies);
      if (changes.length === 0) return undefined;
      const message = renderMessage(auto, changes);
      const files = new Map<string, string>();
      for (const { file } of changes) files.set(file, await readFile(join(dir, file), "utf8"));
      const unsigned = await commitFiles({
        dir,
        parent: base,
        files,
        author: { name: git.commit.author.name ?? "", email: git.commit.author.email },
        message,
        when: new Date(ports.clock.now()),
      });
      const commit = source.sign ? await signed(dir, unsigned, source.sign) : unsigned;
      try {
        await pushCommit(source.remote, dir, commit, pushRef, source.pushOptions);
      } catch (error) {
        if (!(error instanceof GitError)) throw error;
        const now = await resolveRemoteRef(source.remote, { branch: source.pushBranch }).catch(() => undefined);
        const moved = now !== undefined && now.commit !== base;
        if (moved && attempt < PUSH_ATTEMPTS) {
          ports.log.info(
            { branch: source.pushBranch, attempt },
            "push rejected: the branch moved; updating its new head",
          );
          continue;
        }
        throw gitFailure(
          moved
            ? `${error.message} (the branch moved ${attempt} times while updating; retried next run)`
            : error.message,
        );
      }
      if (git.push?.refspec) await pushRefspec(source, dir, commit, git.push.refspec);
      return { commit, message, changes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Checks out what the update builds on: the push branch when it differs from the checkout ref and exists
 * (Flux's SwitchBranch), else the checkout ref. Records the checkout ref's revision on `source`.
 */
async function checkoutBase(source: Source, dir: string): Promise<string> {
  if (source.switchBranch) {
    const checkoutRev = await resolveRemoteRef(source.remote, source.checkoutRef);
    const push = await resolveRemoteRef(source.remote, { branch: source.pushBranch });
    if (push) {
      source.checkoutRevision = checkoutRev?.revision;
      const head = await checkout(source.remote, { branch: source.pushBranch }, dir);
      source.base = { isPushBranch: true, message: head.message ?? "" };
      return head.commit;
    }
  }
  const checkedOut = await checkout(source.remote, source.checkoutRef, dir);
  source.checkoutRevision = checkedOut.revision;
  source.base = { isPushBranch: false, message: checkedOut.message ?? "" };
  return checkedOut.commit;
}

async function applyPolicies(
  dir: string,
  auto: ImageUpdateAutomation,
  policies: PolicyImage[],
): Promise<FileChanges[]> {
  try {
    return await updateWithSetters(dir, auto.spec.update?.path, policies);
  } catch (error) {
    if (error instanceof UpdatePathError)
      throw new ReconcileError(AUTOMATION_REASON.updateFailed, `failed to apply policies: ${error.message}`);
    throw error;
  }
}

/** The commit message; a template using `.Changed.ImageResult` (removed, as in Flux) stalls. */
function renderMessage(auto: ImageUpdateAutomation, changes: FileChanges[]): string {
  const { commit } = auto.spec.git!;
  try {
    return commitMessage(
      commit.messageTemplate,
      { namespace: auto.metadata.namespace ?? "default", name: auto.metadata.name },
      changes,
      commit.messageTemplateValues,
    );
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    if (error.message.includes("field ImageResult"))
      throw new ReconcileError(
        AUTOMATION_REASON.removedTemplateField,
        "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template",
        { stalled: true },
      );
    throw gitFailure(`failed to run template from spec: ${error.message}`);
  }
}

/**
 * `push.refspec`: `<src>[:<dst>]`. The source is the commit just made when it names the push branch or HEAD
 * (the only local branch a run has); the destination defaults to the source.
 */
async function pushRefspec(source: Source, dir: string, commit: string, refspec: string): Promise<void> {
  const [src, dst = src] = refspec.split(":") as [string, string?];
  const ours = ["HEAD", source.pushBranch, `refs/heads/${source.pushBranch}`];
  if (!ours.includes(src))
    throw gitFailure(`push.refspec '${refspec}': the source must be HEAD or the push branch '${source.pushBranch}'`);
  const target = dst.startsWith("refs/") ? dst : `refs/heads/${dst}`;
  // With the same options, as Flux pushes its refspec with the branch's push configuration.
  await pushCommit(source.remote, dir, commit, target, source.pushOptions).catch((error: unknown) => {
    throw error instanceof GitError ? gitFailure(error.message) : error;
  });
}

async function signed(dir: string, commit: string, sign: CommitSigner): Promise<string> {
  try {
    return await signCommit(dir, commit, sign);
  } catch (error) {
    // The key was checked when read: what fails here is the signing itself; its message names no key material.
    throw gitFailure(`failed to sign the commit: ${(error as Error).message}`);
  }
}

function gitFailure(message: string, phase: "checkout" | "update" = "update"): ReconcileError {
  const prefix = phase === "checkout" ? "failed to checkout source" : "failed to update source";
  return new ReconcileError(AUTOMATION_REASON.gitOperationFailed, `${prefix}: ${message}`);
}
