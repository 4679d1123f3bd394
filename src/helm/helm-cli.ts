import { mkdir, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { KubeClient } from "../cluster/kube-client.js";
import { applyCRDs, chartCRDs, type CRDsPolicy } from "./crds.js";
import { helmErrorLine, helmPluginsDir, runHelm, type HelmProcessResult } from "./helm-process.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { originLabels, postRenderError, writePostRenderer, type PostRendering } from "./post-render.js";
import { withPrivateDir } from "./private-dir.js";
import {
  assertNamespace,
  assertReleaseName,
  latestRelease,
  releaseHistory,
  type StoredRelease,
} from "./release-storage.js";

/**
 * Helm actions through the helm v4 binary, with the flags helm-controller v1.6.3 sets on Helm's action structs
 * (internal/action/{install,upgrade,rollback,uninstall,test}.go) for the HelmRelease fields of the same names.
 * helm never blocks on resource readiness (`--wait=hookOnly`: Sluice checks health itself), only on hooks.
 */

/** Which release, on which cluster, as which identity (the client's, impersonation included). */
export interface HelmTarget {
  client: KubeClient;
  releaseName: string;
  /** The release namespace, which is also its storage namespace: the helm CLI cannot tell them apart. */
  namespace: string;
}

/** Flux's ServerSideApplyMode (upgrade and rollback): auto follows the previous revision's apply method. */
export type ServerSideApplyMode = "enabled" | "disabled" | "auto";

interface ActionOptions {
  /** helm's `--timeout`: the longest wait for one Kubernetes operation (a hook Job, say). */
  timeoutMs: number;
}

interface ChartActionOptions extends ActionOptions {
  /** A local chart: the absolute path of a packaged .tgz or a chart folder. Never a repository reference. */
  chart: string;
  /** The merged values; handed to helm as a private 0600 file. */
  values: Record<string, unknown>;
  description?: string;
  disableHooks?: boolean;
  disableOpenAPIValidation?: boolean;
  /** Flux's disableSchemaValidation: helm's `--skip-schema-validation`. */
  disableSchemaValidation?: boolean;
  disableTakeOwnership?: boolean;
  /** What to do with the chart's CRDs before helm runs (see crds.ts). @default "Create" */
  crds?: CRDsPolicy;
  /** Post-rendering of the templates (needs HelmCliOptions.kubectl); its origin labels go on the CRDs too. */
  postRendering?: PostRendering;
}

export interface InstallOptions extends ChartActionOptions {
  replace?: boolean;
  createNamespace?: boolean;
  /** @default true (helm-controller without UseHelm3Defaults) */
  serverSideApply?: boolean;
}

export interface UpgradeOptions extends ChartActionOptions {
  /** Replace resources that cannot be patched (client-side apply only: server-side apply always forces conflicts). */
  force?: boolean;
  /** Reuse the last revision's values (`--reuse-values`); otherwise they are reset (`--reset-values`). */
  preserveValues?: boolean;
  cleanupOnFail?: boolean;
  /** Revisions kept (`--history-max`); 0 keeps all. Flux's default is 5. */
  maxHistory?: number;
  /** @default "auto" */
  serverSideApply?: ServerSideApplyMode;
}

export interface RollbackOptions extends ActionOptions {
  /** The revision to roll back to; the previous one when absent. */
  toVersion?: number;
  disableHooks?: boolean;
  force?: boolean;
  cleanupOnFail?: boolean;
  maxHistory?: number;
  /** @default "auto" */
  serverSideApply?: ServerSideApplyMode;
}

export interface UninstallOptions extends ActionOptions {
  description?: string;
  disableHooks?: boolean;
  keepHistory?: boolean;
  /** Flux's deletionPropagation: helm's `--cascade`. @default "background" */
  deletionPropagation?: "background" | "foreground" | "orphan";
}

export interface TestOptions extends ActionOptions {
  /** Flux's test filters: tests by name, included or (exclude) left out. */
  filters?: { name: string; exclude?: boolean }[];
}

/** The result of an action: how long helm ran, and the release's latest revision after it (none once uninstalled). */
export interface HelmActionResult {
  durationMs: number;
  release?: StoredRelease;
}

export type HelmAction = "install" | "upgrade" | "rollback" | "uninstall" | "test";

/** A helm action that failed: helm's own `Error:` message, values masked, naming the action and the release. */
export class HelmActionError extends Error {
  override name = "HelmActionError";
  constructor(
    readonly action: HelmAction,
    readonly release: string,
    readonly helmMessage: string,
    readonly durationMs: number,
  ) {
    super(`Helm ${action} of ${release} failed: ${helmMessage}`);
  }
}

/** Thrown before helm runs for options it cannot honour: names the option. */
export class HelmOptionsError extends Error {
  override name = "HelmOptionsError";
}

export interface HelmCliOptions {
  /** Path of the helm v4 binary (RenderTools.helm). */
  helm: string;
  /** Path of kubectl (RenderTools.kubectl), whose kustomize post-renders. */
  kubectl?: string;
  /** How much longer than helm's `--timeout` the process may run before it is stopped. @default 30_000 */
  processMarginMs?: number;
  /** Parent of the private per-run folders. @default os.tmpdir() */
  tmpDir?: string;
}

const CRDS_POLICIES = new Set<string>(["Skip", "Create", "CreateReplace"]);
/** Flux's deletionPropagation and helm's --cascade agree on these values. */
const CASCADES = new Set(["background", "foreground", "orphan"]);
/** Kubernetes object names (test hooks are Pods): no comma or `=` that would change helm's --filter list. */
const TEST_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_MESSAGE = 2048;

export class HelmCli {
  constructor(private readonly options: HelmCliOptions) {}

  async install(target: HelmTarget, options: InstallOptions): Promise<HelmActionResult> {
    checkTarget(target);
    const ssa = options.serverSideApply ?? true;
    const flags = [
      ...chartFlags(options),
      "--skip-crds", // applied by policy before helm runs, as helm-controller does
      `--server-side=${ssa}`,
      ...flag(ssa, "--force-conflicts"), // helm-controller always forces conflicts under server-side apply
      ...flag(options.replace, "--replace"),
      ...flag(options.createNamespace, "--create-namespace"),
    ];
    if (options.postRendering) this.kubectl();
    const chart = await localChart(options.chart);
    await this.applyChartCRDs(target, chart, options, ssa);
    return this.run("install", target, options.timeoutMs, flags, [chart], options.values, options.postRendering);
  }

  async upgrade(target: HelmTarget, options: UpgradeOptions): Promise<HelmActionResult> {
    checkTarget(target);
    const ssa = await this.resolveServerSideApply(target, options.serverSideApply, async () => {
      const last = await latestRelease(target.client, target.namespace, target.releaseName);
      if (!last) throw new HelmOptionsError(`release ${describe(target)} has no revision to upgrade`);
      return last;
    });
    const flags = [
      ...chartFlags(options),
      ...applyFlags(ssa, options.force),
      options.preserveValues ? "--reuse-values" : "--reset-values",
      ...flag(options.cleanupOnFail, "--cleanup-on-fail"),
      ...historyFlags(options.maxHistory),
    ];
    if (options.postRendering) this.kubectl();
    const chart = await localChart(options.chart);
    await this.applyChartCRDs(target, chart, options, ssa);
    return this.run("upgrade", target, options.timeoutMs, flags, [chart], options.values, options.postRendering);
  }

  async rollback(target: HelmTarget, options: RollbackOptions): Promise<HelmActionResult> {
    checkTarget(target);
    if (options.toVersion !== undefined && !(Number.isSafeInteger(options.toVersion) && options.toVersion > 0))
      throw new HelmOptionsError(`rollback of ${describe(target)}: toVersion must be a positive integer`);
    const ssa = await this.resolveServerSideApply(target, options.serverSideApply, async () => {
      // helm-controller: the apply method of the revision rolled back to (the previous one by default).
      const history = await releaseHistory(target.client, target.namespace, target.releaseName);
      const wanted = options.toVersion ?? (history.at(-1)?.version ?? 0) - 1;
      const found = history.find((release) => release.version === wanted);
      if (!found) throw new HelmOptionsError(`release ${describe(target)} has no revision ${wanted}`);
      return found;
    });
    const flags = [
      ...timeoutFlags(options),
      ...flag(options.disableHooks, "--no-hooks"),
      ...applyFlags(ssa, options.force),
      ...flag(options.cleanupOnFail, "--cleanup-on-fail"),
      ...historyFlags(options.maxHistory),
    ];
    const revision = options.toVersion === undefined ? [] : [String(options.toVersion)];
    return this.run("rollback", target, options.timeoutMs, flags, revision);
  }

  async uninstall(target: HelmTarget, options: UninstallOptions): Promise<HelmActionResult> {
    checkTarget(target);
    const cascade = options.deletionPropagation ?? "background";
    if (!CASCADES.has(cascade))
      throw new HelmOptionsError(
        `uninstall of ${describe(target)}: deletionPropagation must be background, foreground or orphan`,
      );
    const flags = [
      ...timeoutFlags(options),
      ...descriptionFlags(options.description),
      ...flag(options.disableHooks, "--no-hooks"),
      ...flag(options.keepHistory, "--keep-history"),
      `--cascade=${cascade}`,
    ];
    return this.run("uninstall", target, options.timeoutMs, flags, []);
  }

  async test(target: HelmTarget, options: TestOptions): Promise<HelmActionResult> {
    checkTarget(target);
    const filters = (options.filters ?? []).map((filter) => {
      if (!TEST_NAME.test(filter.name))
        throw new HelmOptionsError(
          `test of ${describe(target)}: filter name "${filter.name.slice(0, 80)}" is not an object name`,
        );
      return `--filter=${filter.exclude ? "!" : ""}name=${filter.name}`;
    });
    return this.run("test", target, options.timeoutMs, [...timeoutFlags(options, false), ...filters], []);
  }

  private async applyChartCRDs(
    target: HelmTarget,
    chart: string,
    options: ChartActionOptions,
    serverSideApply: boolean,
  ): Promise<void> {
    const policy = options.crds ?? "Create";
    if (!CRDS_POLICIES.has(policy))
      throw new HelmOptionsError(`release ${describe(target)}: crds must be Skip, Create or CreateReplace`);
    if (policy === "Skip") return;
    const crds = await chartCRDs(this.options.helm, chart);
    const origin = options.postRendering?.origin;
    await applyCRDs(target.client, crds, { policy, serverSideApply, labels: origin && originLabels(origin) });
  }

  private async postRenderFlags(dir: string, rendering: PostRendering): Promise<string[]> {
    await mkdir(helmPluginsDir(dir));
    return writePostRenderer(helmPluginsDir(dir), this.kubectl(), rendering);
  }

  private kubectl(): string {
    if (!this.options.kubectl) throw new HelmOptionsError("post-rendering needs kubectl (HelmCliOptions.kubectl)");
    return this.options.kubectl;
  }

  /** Flux's serverSideApply mode as the boolean helm needs: auto reads the revision the action starts from. */
  private async resolveServerSideApply(
    target: HelmTarget,
    mode: ServerSideApplyMode = "auto",
    previous: () => Promise<StoredRelease>,
  ): Promise<boolean> {
    if (mode === "enabled" || mode === "disabled") return mode === "enabled";
    if (mode !== "auto")
      throw new HelmOptionsError(`release ${describe(target)}: serverSideApply must be enabled, disabled or auto`);
    return (await previous()).applyMethod === "ssa";
  }

  private async run(
    action: HelmAction,
    target: HelmTarget,
    timeoutMs: number,
    flags: string[],
    positional: string[],
    values?: Record<string, unknown>,
    postRendering?: PostRendering,
  ): Promise<HelmActionResult> {
    const result = await withPrivateDir(async (dir) => {
      const kubeconfig = await writeKubeconfig(target.client, dir, target.namespace);
      const valueFlags = values === undefined ? [] : [`--values=${await writeValues(dir, values)}`];
      const args = [
        action,
        ...flags,
        ...valueFlags,
        ...(postRendering ? await this.postRenderFlags(dir, postRendering) : []),
        `--kubeconfig=${kubeconfig}`,
        `--namespace=${target.namespace}`,
        "--color=never",
        "--",
        target.releaseName,
        ...positional,
      ];
      const run = await runHelm(this.options.helm, args, {
        dir,
        timeoutMs: timeoutMs + (this.options.processMarginMs ?? 30_000),
      });
      const renderError = run.code !== 0 && postRendering ? await postRenderError(helmPluginsDir(dir)) : undefined;
      return { ...run, renderError };
    }, this.options.tmpDir);
    if (result.code !== 0) {
      const message = failureMessage(result, values) + (result.renderError ? `: ${result.renderError}` : "");
      throw new HelmActionError(action, describe(target), maskValues(message, values), result.durationMs);
    }
    const release = await latestRelease(target.client, target.namespace, target.releaseName);
    return { durationMs: result.durationMs, release };
  }
}

/** Checked before anything is read or written: both become part of request paths and helm's arguments. */
function checkTarget(target: HelmTarget): void {
  assertReleaseName(target.releaseName);
  assertNamespace(target.namespace);
}

function describe(target: HelmTarget): string {
  return `${target.namespace}/${target.releaseName}`;
}

function flag(on: boolean | undefined, name: string): string[] {
  return on ? [name] : [];
}

/** helm's --timeout is a Go duration; whole milliseconds keep it exact. */
function timeoutFlags(options: ActionOptions, wait = true): string[] {
  if (!(Number.isSafeInteger(options.timeoutMs) && options.timeoutMs > 0))
    throw new HelmOptionsError(`timeout must be a positive number of milliseconds, not ${options.timeoutMs}`);
  // Readiness is Sluice's to check (kstatus, health checks); helm waits for hooks only.
  return [`--timeout=${options.timeoutMs}ms`, ...(wait ? ["--wait=hookOnly"] : [])];
}

function descriptionFlags(description: string | undefined): string[] {
  return description === undefined ? [] : [`--description=${description}`];
}

function historyFlags(maxHistory: number | undefined): string[] {
  if (maxHistory === undefined) return [];
  if (!(Number.isSafeInteger(maxHistory) && maxHistory >= 0))
    throw new HelmOptionsError(`maxHistory must be a whole number ≥ 0, not ${maxHistory}`);
  return [`--history-max=${maxHistory}`];
}

function chartFlags(options: ChartActionOptions): string[] {
  return [
    ...timeoutFlags(options),
    ...descriptionFlags(options.description),
    ...flag(options.disableHooks, "--no-hooks"),
    ...flag(options.disableOpenAPIValidation, "--disable-openapi-validation"),
    ...flag(options.disableSchemaValidation, "--skip-schema-validation"),
    ...flag(!options.disableTakeOwnership, "--take-ownership"),
  ];
}

/**
 * helm-controller forces conflicts under server-side apply, and replaces (force) under client-side apply only:
 * helm refuses both at once.
 */
function applyFlags(serverSideApply: boolean, force: boolean | undefined): string[] {
  return [
    `--server-side=${serverSideApply}`,
    ...flag(serverSideApply, "--force-conflicts"),
    ...flag(force && !serverSideApply, "--force-replace"),
  ];
}

/** The chart must be a local file or folder: helm would otherwise look the name up in repositories. */
async function localChart(chart: string): Promise<string> {
  if (!isAbsolute(chart)) throw new HelmOptionsError(`chart "${chart.slice(0, 200)}" is not an absolute local path`);
  const info = await stat(chart).catch(() => undefined);
  if (!info?.isFile() && !info?.isDirectory()) throw new HelmOptionsError(`chart ${chart} does not exist`);
  return chart;
}

/** Values as JSON (YAML's subset) in a 0600 file: never on the command line, where `ps` shows them. */
async function writeValues(dir: string, values: Record<string, unknown>): Promise<string> {
  const path = join(dir, "values.json");
  await writeFile(path, JSON.stringify(values), { mode: 0o600, flag: "wx" });
  return path;
}

/** helm's error message with every string value masked, cut to MAX_MESSAGE. */
function failureMessage(result: HelmProcessResult, values: Record<string, unknown> | undefined): string {
  if (result.timedOut) return `helm did not finish in time and was stopped (${result.durationMs} ms)`;
  const message = maskValues(helmErrorLine(result), values);
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

function maskValues(text: string, values: Record<string, unknown> | undefined): string {
  const secrets = new Set<string>();
  const collect = (value: unknown): void => {
    if (typeof value === "string" && value.length >= 4) secrets.add(value);
    else if (value && typeof value === "object") Object.values(value).forEach(collect);
  };
  collect(values);
  // Longest first, so a value containing another is masked whole.
  return [...secrets]
    .sort((a, b) => b.length - a.length)
    .reduce((masked, secret) => masked.replaceAll(secret, "***"), text);
}
