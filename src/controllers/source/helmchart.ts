import { lstat, mkdtemp, readFile, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import type { GitRepository } from "../../api/gitrepository.js";
import type { HelmChart } from "../../api/helmchart.js";
import { helmRepositoryDefaults, type HelmRepository } from "../../api/helmrepository.js";
import { parseDuration } from "../../api/duration.js";
import { CONDITION, REASON } from "../../api/reasons.js";
import { extractArchive } from "../../artifacts/extract.js";
import {
  BUILD_ERROR,
  ChartBuildError,
  mergeValuesFiles,
  openChartArchive,
  overwriteValues,
  packageChart,
  readChartMetadata,
  setChartVersion,
  withBuildMetadata,
  type BuildErrorKind,
} from "../../sources/helm-chart-build.js";
import { buildDependencies, type ChartDependency } from "../../sources/helm-chart-deps.js";
import { ChartPullError, downloadChart, MAX_CHART_BYTES } from "../../sources/helm-chart-fetch.js";
import { ChartReferenceError, pickChartVersion } from "../../sources/helm-chart-version.js";
import type { HelmIndex } from "../../sources/helm-index.js";
import { OciError, type OciClient } from "../../sources/oci/client.js";
import { OciCredentialsError } from "../../sources/oci/credentials.js";
import { ociChartTag, ociChartVersion, pullOciChart } from "../../sources/oci/helm-chart.js";
import { OciUrlError } from "../../sources/oci/reference.js";
import { findCondition } from "../../pipeline/conditions.js";
import { repositoryDependency } from "./helmchart-dependency.js";
import { indexSource } from "./helmrepository.js";
import { ociClientFor } from "./oci-connection.js";
import { SignatureVerificationError, verifyOciSignature, withoutStaleVerification } from "./oci-verify.js";
import type { Outcome } from "../../pipeline/outcome.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { artifactFolder, removeSuperseded } from "./artifact-retention.js";
import { markFailed, markReady, withCondition, withoutConditions, type Stamp } from "../../pipeline/status.js";

type HelmChartStatus = NonNullable<HelmChart["status"]>;
type Spec = HelmChart["spec"];

/** Failures whose clearing is a recovery worth an event (source-controller's helmChartFailConditions). */
const FAILURES = [CONDITION.fetchFailed, CONDITION.buildFailed, CONDITION.storageOperationFailed];
/** Build errors only a change of the spec can fix (chart.IsPersistentBuildErrorReason): they stall. */
const PERSISTENT: readonly BuildErrorKind[] = [
  BUILD_ERROR.reference,
  BUILD_ERROR.metadataPatch,
  BUILD_ERROR.valuesFiles,
];
/** Build errors about what the source holds, not about reaching it: BuildFailed instead of FetchFailed. */
const BUILD_FAILURES: readonly BuildErrorKind[] = [
  BUILD_ERROR.metadataPatch,
  BUILD_ERROR.valuesFiles,
  BUILD_ERROR.dependencyBuild,
  BUILD_ERROR.packaging,
  BUILD_ERROR.verification,
];

/** A chart built (or found already stored) for the current spec and source. */
interface Build {
  name: string;
  version: string;
  /** The archive to store; undefined when the stored artifact is this build. */
  data?: Buffer;
  /** Changed by the build (values, version, dependencies), as opposed to the exact archive pulled. */
  packaged: boolean;
  valuesFiles: string[];
  /** The signature `spec.verify` asks for was verified. */
  verified?: boolean;
}

/** What every build step needs: the ports, the object, a scratch folder, and whether a candidate is already stored. */
interface BuildContext {
  ports: ReconcilerPorts;
  chart: HelmChart;
  /** An empty folder of this reconcile's, removed after it. */
  work: string;
  /** Whether the stored artifact is this chart and version, built for the current spec: nothing to do then. */
  upToDate(candidate: { name: string; version: string }): Promise<boolean>;
}

/**
 * A failure carrying the condition it sets (FetchFailed by default) and whether it stalls. `unverified`: it also
 * sets SourceVerified=False; `condition: SourceVerified` sets that alone (the verification keys could not be read).
 */
class ChartFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly options: {
      condition?: string;
      stalled?: boolean;
      version?: { name: string; version: string };
      unverified?: boolean;
    } = {},
  ) {
    super(message);
  }
}

/**
 * source-controller's HelmChart reconcile: from a HelmRepository, the newest version `spec.version`
 * allows, downloaded only when it is not the stored one; from a GitRepository, the chart folder at
 * `spec.chart` in its artifact, packaged with its local dependencies. `valuesFiles` are merged into
 * values.yaml; the artifact is `<chart>-<version>.tgz`, its revision the chart version.
 */
export async function reconcileHelmChart(ports: ReconcilerPorts, chart: HelmChart): Promise<Outcome<HelmChartStatus>> {
  const { spec, metadata } = chart;
  const at: Stamp = { generation: metadata.generation ?? 1, now: new Date(ports.clock.now()) };
  const namespace = metadata.namespace ?? "default";
  const requeueAfterMs = parseDuration(spec.interval);
  const status: HelmChartStatus = withoutStaleVerification({ ...chart.status }, spec.verify);
  const work = await mkdtemp(join(ports.workDir, "helmchart-"));
  try {
    const build = await buildChart(ports, chart, status, work);
    const current = status.artifact;
    if (build.data) {
      const path = `helmchart/${namespace}/${metadata.name}/${build.name}-${build.version}.tgz`;
      let stored;
      try {
        stored = await ports.artifacts.put(path, build.data);
      } catch (error) {
        const message = `unable to copy Helm chart to storage: ${(error as Error).message}`;
        throw new ChartFailure(REASON.archiveOperationFailed, message, { condition: CONDITION.storageOperationFailed });
      }
      await removeSuperseded(ports.artifacts, ports.log, artifactFolder("HelmChart", namespace, metadata.name), [
        stored.path,
        current?.path,
      ]);
      const { path: storedPath, url, digest, size } = stored;
      status.artifact = {
        path: storedPath,
        url,
        revision: build.version,
        digest,
        size,
        lastUpdateTime: at.now.toISOString(),
      };
      status.url = url;
      status.observedChartName = build.name;
      status.observedValuesFiles = spec.ignoreMissingValuesFiles ? build.valuesFiles : undefined;
    }
    const reason = build.packaged ? REASON.chartPackageSucceeded : REASON.chartPullSucceeded;
    const message = summary(build.packaged ? "packaged" : "pulled", build);
    const recovered = FAILURES.some((type) => findCondition(status.conditions, type)?.status === "True");
    let next = withoutConditions(status, ...FAILURES, CONDITION.artifactOutdated);
    next = withCondition(next, { type: CONDITION.artifactInStorage, status: "True", reason, message }, at);
    if (build.verified) {
      const verified = `verified signature of version ${build.version}`;
      const condition = { type: CONDITION.sourceVerified, status: "True" as const, reason: REASON.succeeded };
      next = withCondition(next, { ...condition, message: verified }, at);
    }
    const newArtifact = current?.digest !== next.artifact?.digest;
    return {
      status: markReady(next, at, reason, message),
      requeueAfterMs,
      changed: newArtifact,
      revision: build.version,
      event: newArtifact || recovered ? { severity: "info", reason, message } : undefined,
    };
  } catch (error) {
    if (!(error instanceof ChartFailure)) throw error;
    const { condition = CONDITION.fetchFailed, stalled = false, version, unverified } = error.options;
    const { message } = error;
    let next = withoutConditions(status, ...FAILURES);
    if (condition !== CONDITION.sourceVerified)
      next = withCondition(next, { type: condition, status: "True", reason: error.reason, message }, at);
    if (unverified || condition === CONDITION.sourceVerified) {
      const failed = { type: CONDITION.sourceVerified, status: "False" as const, reason: REASON.verificationError };
      next = withCondition(next, { ...failed, message }, at);
    }
    if (
      version &&
      next.artifact &&
      (next.observedChartName !== version.name || next.artifact.revision !== version.version)
    ) {
      const outdated = summary("new", { ...version, valuesFiles: [] });
      next = withCondition(
        next,
        { type: CONDITION.artifactOutdated, status: "True", reason: "NewChart", message: outdated },
        at,
      );
    }
    return {
      status: markFailed(next, at, error.reason, error.message, { stalled }),
      requeueAfterMs: stalled ? undefined : requeueAfterMs,
      event: { severity: "error", reason: error.reason, message: error.message },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Looks up the source and builds from it; `status` records the source revision observed, even when the build fails. */
async function buildChart(
  ports: ReconcilerPorts,
  chart: HelmChart,
  status: HelmChartStatus,
  work: string,
): Promise<Build> {
  const { spec } = chart;
  const namespace = chart.metadata.namespace ?? "default";
  const { kind, name } = spec.sourceRef;
  const stored = await ports.store.get({ kind, namespace, name });
  if (!stored) {
    const message = `failed to get source: ${kind}.source.toolkit.fluxcd.io "${name}" not found`;
    throw new ChartFailure("SourceUnavailable", message);
  }
  const source = stored.object as HelmRepository | GitRepository;
  // An OCI HelmRepository has no artifact: the chart comes from the registry itself.
  const oci = kind === "HelmRepository" && (source as HelmRepository).spec.type === "oci";
  const artifact = source.status?.artifact;
  const data = !oci && artifact ? await ports.artifacts.get(artifact.path, artifact.digest) : undefined;
  if (!oci && (!artifact || !data))
    throw new ChartFailure("NoSourceArtifact", `no artifact available for ${kind} source '${name}'`);
  const previous = { ...status };
  if (artifact) status.observedSourceArtifactRevision = artifact.revision;
  // Rebuilt whenever the spec changed (Flux's Force), else only when the chart or its version did.
  const upToDate = async (candidate: { name: string; version: string }) =>
    previous.observedGeneration === (chart.metadata.generation ?? 1) &&
    previous.observedChartName === candidate.name &&
    previous.artifact?.revision === candidate.version &&
    ports.artifacts.get(previous.artifact.path, previous.artifact.digest).then(
      (found) => found !== undefined,
      () => false,
    );
  const context: BuildContext = { ports, chart, work, upToDate };
  const built = oci
    ? await fromOciRepository(context, source as HelmRepository)
    : kind === "HelmRepository"
      ? await fromRepository(context, source as HelmRepository, JSON.parse(data!.toString("utf8")) as HelmIndex)
      : await fromTarball(context, artifact!.revision, data!);
  if (!built.data) built.valuesFiles = previous.observedValuesFiles ?? effectiveValuesFiles(spec);
  return built;
}

/** The version the range picks, pulled from the repository, and packaged again only when valuesFiles change it. */
async function fromRepository(context: BuildContext, repo: HelmRepository, index: HelmIndex): Promise<Build> {
  const { ports, chart, upToDate } = context;
  const { spec } = chart;
  let picked;
  try {
    picked = pickChartVersion(index, spec.chart, spec.version ?? "*");
  } catch (error) {
    if (!(error instanceof ChartReferenceError)) throw error;
    throw buildFailure(
      BUILD_ERROR.reference,
      `failed to get chart version for remote reference: ${error.message} (spec.chart '${spec.chart}', spec.version '${spec.version ?? "*"}')`,
    );
  }
  const valuesFiles = effectiveValuesFiles(spec);
  const metadata = valuesFiles.length > 0 ? String(chart.metadata.generation ?? 1) : "";
  const name = picked.name!;
  if (spec.verify) throw verificationFailure("not implemented", { name, version: picked.version! });
  const version = patchVersion(picked.version!, metadata, name);
  const packaged = metadata !== "";
  if (await upToDate({ name, version })) return { name, version, packaged, valuesFiles };
  let source;
  try {
    source = await indexSource(ports, chart.metadata.namespace ?? "default", repo.spec);
  } catch (error) {
    throw new ChartFailure(REASON.authenticationFailed, (error as Error).message);
  }
  let archive: Buffer;
  try {
    archive = await downloadChart({ ...source, passCredentials: repo.spec.passCredentials }, picked);
  } catch (error) {
    if (!(error instanceof ChartPullError)) throw error;
    throw pullFailure(`failed to download chart for remote reference: ${error.message}`, { name, version });
  }
  return fromPulledArchive(context, archive, { name, version }, valuesFiles);
}

/**
 * From an OCI HelmRepository (source-controller's OCIChartRepository): a version pulled as its tag
 * without listing any, a range resolved against the registry's tags, the chart layer verified.
 */
async function fromOciRepository(context: BuildContext, repo: HelmRepository): Promise<Build> {
  const { ports, chart, upToDate } = context;
  const { spec } = chart;
  const url = `${repo.spec.url.replace(/\/+$/, "")}/${spec.chart}`;
  const signal = AbortSignal.timeout(parseDuration(helmRepositoryDefaults(repo.spec).timeout));
  let client;
  try {
    const connection = { ...repo.spec, url };
    client = await ociClientFor(ports, chart.metadata.namespace ?? "default", connection, {
      allowBasicKeys: true,
      signal,
    });
  } catch (error) {
    if (error instanceof OciUrlError)
      throw new ChartFailure(REASON.urlInvalid, `invalid OCI registry URL: ${url}: ${error.message}`, {
        stalled: true,
      });
    if (error instanceof OciCredentialsError) throw new ChartFailure(REASON.authenticationFailed, error.message);
    throw error;
  }
  let tag: string;
  try {
    tag = await ociChartVersion(client, spec.chart, spec.version ?? "*");
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    throw pullFailure(`failed to get chart version for remote reference: ${error.message}`);
  }
  const valuesFiles = effectiveValuesFiles(spec);
  const metadata = valuesFiles.length > 0 ? String(chart.metadata.generation ?? 1) : "";
  // Verified at every reconcile, as source-controller does, and the chart then pulled by the digest verified.
  const digest = spec.verify && (await verifiedDigest(context, client, `${url}:${tag}`, tag));
  const target = { name: spec.chart, version: patchVersion(tag, metadata, spec.chart) };
  const verified = digest !== undefined;
  if (await upToDate(target)) return { ...target, packaged: metadata !== "", valuesFiles, verified };
  let archive: Buffer;
  try {
    archive = await pullOciChart(client, tag, MAX_CHART_BYTES, digest);
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    const message = `failed to download chart for remote reference: failed to get '${url}:${tag}': ${error.message}`;
    throw pullFailure(message, target);
  }
  return { ...(await fromPulledArchive(context, archive, target, valuesFiles)), verified };
}

/**
 * source-controller's OCIChartRepository.VerifyChart: the chart's tag resolved to a digest, whose cosign signature
 * must verify with a key of `spec.verify.secretRef`; the digest, to pull the chart by.
 */
async function verifiedDigest(context: BuildContext, client: OciClient, reference: string, tag: string) {
  const { ports, chart } = context;
  const target = { name: chart.spec.chart, version: tag };
  let digest: string;
  try {
    digest = await client.resolve(ociChartTag(tag));
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    throw verificationFailure(`failed to resolve digest for '${reference}': ${error.message}`, target);
  }
  const repository = reference.slice(reference.indexOf("://") + 3, reference.lastIndexOf(":"));
  try {
    await verifyOciSignature(
      ports,
      chart.metadata.namespace ?? "default",
      chart.spec.verify!,
      client,
      repository,
      digest,
    );
  } catch (error) {
    if (!(error instanceof SignatureVerificationError)) throw error;
    if (error.setup)
      throw new ChartFailure(REASON.verificationError, error.message, { condition: CONDITION.sourceVerified });
    throw verificationFailure(error.detail, target);
  }
  return digest;
}

/** A chart verification error (BuildFailed) that also sets SourceVerified=False. */
function verificationFailure(detail: string, version: { name: string; version: string }): ChartFailure {
  const failure = buildFailure(BUILD_ERROR.verification, detail, version);
  return new ChartFailure(failure.reason, failure.message, { ...failure.options, unverified: true });
}

/** A downloaded chart archive, checked to be a chart, and packaged again only when valuesFiles change it. */
async function fromPulledArchive(
  context: BuildContext,
  archive: Buffer,
  target: { name: string; version: string },
  valuesFiles: string[],
): Promise<Build> {
  const dir = await step(BUILD_ERROR.pull, () => openChartArchive(archive, join(context.work, "chart")), target);
  await step(BUILD_ERROR.pull, () => readChartMetadata(dir), target);
  if (valuesFiles.length === 0) return { ...target, data: archive, packaged: false, valuesFiles: [] };
  return finishPackage(dir, dir, target, context.chart.spec, valuesFiles);
}

/**
 * A pull error, or an authentication failure when its text says so: source-controller's test, run on the text without
 * its URLs and digests (a port such as :34011, or a digest's hex, would otherwise read as a 401).
 */
function pullFailure(message: string, version?: { name: string; version: string }): ChartFailure {
  const words = message.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, "").replace(/\bsha(256|512):[a-f0-9]+/g, "");
  if (/401|unauthorized|authentication required|tls|unknown certificate authority/.test(words))
    return new ChartFailure(
      REASON.authenticationFailed,
      `failed to authenticate with the Helm repository: ${BUILD_ERROR.pull.summary}: ${message}`,
    );
  return buildFailure(BUILD_ERROR.pull, message, version);
}

/** The chart at `spec.chart` in a source artifact: a folder packaged with its dependencies, or a packaged chart. */
async function fromTarball(context: BuildContext, sourceRevision: string, data: Buffer): Promise<Build> {
  const { ports, chart, work, upToDate } = context;
  const { spec } = chart;
  const root = join(work, "source");
  await step(BUILD_ERROR.reference, () => extractArchive(data, root));
  const path = join(root, posix.normalize(`/${spec.chart}`));
  const isDir = await lstat(path).then(
    (s) => (s.isDirectory() ? true : s.isFile() ? false : undefined),
    () => undefined,
  );
  if (isDir === undefined)
    throw buildFailure(BUILD_ERROR.reference, `no chart found at '${spec.chart}' in the source artifact (spec.chart)`);
  const chartDir = isDir
    ? path
    : await step(BUILD_ERROR.reference, async () => openChartArchive(await readFile(path), join(work, "packaged")));
  const found = await step(BUILD_ERROR.reference, () => readChartMetadata(chartDir));
  const valuesFiles = effectiveValuesFiles(spec);
  let metadata = spec.reconcileStrategy === "Revision" ? shortRevision(sourceRevision) : "";
  if (valuesFiles.length > 0) metadata = `${metadata}${metadata ? "." : ""}${chart.metadata.generation ?? 1}`;
  const target = { name: found.name, version: patchVersion(found.version, metadata, found.name) };
  const packaged = isDir || metadata !== "";
  if (await upToDate(target)) return { ...target, packaged, valuesFiles };
  if (!packaged) return { ...target, data: await readFile(path), packaged, valuesFiles: [] };
  const remote = (dependency: ChartDependency & { repository: string }) =>
    repositoryDependency(ports, chart.metadata.namespace ?? "default", dependency);
  if (isDir)
    await step(BUILD_ERROR.dependencyBuild, () => buildDependencies(chartDir, { root, scratch: work, remote }), target);
  return finishPackage(chartDir, root, target, spec, valuesFiles);
}

/** Values merged from `valuesBase`, the version set, the folder packaged. */
async function finishPackage(
  chartDir: string,
  valuesBase: string,
  target: { name: string; version: string },
  spec: Spec,
  valuesFiles: string[],
): Promise<Build> {
  let used: string[] = [];
  if (valuesFiles.length > 0) {
    const merged = await step(
      BUILD_ERROR.valuesFiles,
      () => mergeValuesFiles(valuesBase, valuesFiles, spec.ignoreMissingValuesFiles ?? false),
      target,
    );
    if (await step(BUILD_ERROR.valuesFiles, () => overwriteValues(chartDir, merged.values), target)) used = merged.used;
  }
  await step(BUILD_ERROR.packaging, () => setChartVersion(chartDir, target.version), target);
  const data = await step(BUILD_ERROR.packaging, () => packageChart(chartDir, target.name), target);
  return { ...target, data, packaged: true, valuesFiles: used };
}

/** The valuesFiles that change a chart (GetValuesFiles): `[values.yaml]` alone is the chart as it is. */
function effectiveValuesFiles(spec: Spec): string[] {
  const files = spec.valuesFiles ?? [];
  return files.length === 1 && posix.normalize(files[0]!) === "values.yaml" ? [] : files;
}

/** The first 12 hex digits of a Git revision (`main@sha1:<hex>`), as source-controller shortens it. */
function shortRevision(revision: string): string {
  const hex = /([0-9a-f]{40,64})$/.exec(revision)?.[1] ?? revision;
  return hex.slice(0, 12);
}

function patchVersion(version: string, metadata: string, name: string): string {
  if (!metadata) return version;
  try {
    return withBuildMetadata(version, metadata);
  } catch (error) {
    throw buildFailure(BUILD_ERROR.metadataPatch, (error as Error).message, { name, version });
  }
}

/** Runs one step of a build; what it throws becomes a build error of `kind`. */
async function step<T>(
  kind: BuildErrorKind,
  run: () => Promise<T>,
  version?: { name: string; version: string },
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ChartFailure) throw error;
    throw buildFailure(kind, (error as Error).message, version);
  }
}

function buildFailure(kind: BuildErrorKind, detail: string, version?: { name: string; version: string }): ChartFailure {
  const error = new ChartBuildError(kind, detail);
  return new ChartFailure(error.reason, error.message, {
    condition: BUILD_FAILURES.includes(kind) ? CONDITION.buildFailed : CONDITION.fetchFailed,
    stalled: PERSISTENT.includes(kind),
    version,
  });
}

/** source-controller's Build.Summary: `pulled 'podinfo' chart with version '6.5.0' and merged values files [a b]`. */
function summary(action: string, build: { name: string; version: string; valuesFiles: string[] }): string {
  const values = build.valuesFiles.length > 0 ? ` and merged values files [${build.valuesFiles.join(" ")}]` : "";
  return `${action} '${build.name}' chart with version '${build.version}'${values}`;
}
