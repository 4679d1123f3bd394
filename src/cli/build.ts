import { execFile } from "node:child_process";
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, posix, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { createTwoFilesPatch } from "diff";
import ignore from "ignore";
import { parseAllDocuments, stringify } from "yaml";
import type { Kustomization } from "../api/kustomization.js";
import type { Artifact } from "../api/meta.js";
import { admitFluxObject, droppedFieldsWarning } from "../api/parse.js";
import { planAll, type PlannedChange } from "../apply/apply.js";
import type { KubeObject } from "../apply/object.js";
import { ownerLabels } from "../apply/policy.js";
import { redactPair } from "../apply/redact.js";
import { archiveDirectory } from "../artifacts/archive.js";
import { FileArtifactStore } from "../artifacts/fs-artifact-store.js";
import { openCluster } from "../cluster/cluster.js";
import { isFluxObject } from "../controllers/kustomize/fleet.js";
import { RenderCache } from "../controllers/kustomize/render-cache.js";
import { renderPhase, type RenderPorts } from "../controllers/kustomize/render.js";
import { awsDefaultSettings, defaultSettings } from "../controllers/settings.js";
import { resolveTools } from "../render/tools.js";
import { cacheDir } from "../runtime/cache-dir.js";
import { systemClock } from "../ports/clock.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import type { Secrets } from "../secrets/secrets.js";
import { exportYaml } from "./manifests.js";
import { openStore, readKubeconfig, type GlobalOptions } from "./context.js";
import { say } from "./output.js";
import { maskSops } from "./sops-mask.js";

const run = promisify(execFile);

/** The flags of `sluice build kustomization` and `sluice diff kustomization`. */
export interface BuildFlags {
  path: string;
  kustomizationFile?: string;
  /** build only: substituteFrom is not read (no cluster is reached), as `flux build --dry-run`. */
  dryRun?: boolean;
  /** gitignore patterns, relative to --path, of files left out. */
  ignorePaths?: string[];
  /** A variable without a value or default fails the build, as the controller's StrictPostBuildSubstitutions. */
  strictSubstitute: boolean;
  /** false with --no-remote-bases: kustomize remote bases are refused, as `sluice run --no-remote-bases`. */
  remoteBases: boolean;
  /** Also build the Kustomizations the render contains, from --local-sources. */
  recursive?: boolean;
  /** `Kind/namespace/name` of a source → the local folder holding it, for --recursive. */
  localSources?: Record<string, string>;
}

/** `sluice build kustomization NAME` (defined in commands/build.ts): the render, as YAML on stdout; SOPS data masked. */
export async function printBuild(name: string, flags: BuildFlags, options: GlobalOptions): Promise<void> {
  const { objects } = await render(name, flags, options);
  process.stdout.write(exportYaml(objects.map(maskSops)));
}

/** `sluice diff kustomization NAME` (defined in commands/build.ts): prints the changes; true when there are any. */
export async function diffKustomization(name: string, flags: BuildFlags, options: GlobalOptions): Promise<boolean> {
  say.action("Kustomization diffing...");
  const { objects: rendered, spec } = await render(name, flags, options);
  const objects = rendered.filter((o) => !isFluxObject(o));
  const cluster = await openCluster(
    { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
    systemClock,
  );
  const planned = await planAll(cluster, objects, {
    owner: { name, namespace: options.namespace },
    driftIgnoreRules: spec.ignore,
  });
  let changed = false;
  for (const change of planned) {
    if (change.entry.action === "unchanged" || change.entry.action === "skipped") continue;
    changed = true;
    process.stdout.write(`► ${change.entry.subject} ${change.entry.action === "created" ? "created" : "drifted"}\n`);
    if (change.entry.action === "configured") process.stdout.write(`${yamlDiff(change)}\n`);
  }
  if (changed) say.waiting("identified at least one change, exiting with non-zero exit code");
  else say.success("no changes");
  return changed;
}

/** A unified diff of the live object and the dry-run result, without server noise; Secret values masked. */
function yamlDiff(change: PlannedChange): string {
  const clean = (o: KubeObject | undefined) => {
    if (!o) return "";
    const metadata = { ...o.metadata };
    for (const noise of ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"])
      delete metadata[noise];
    const copy: KubeObject = { ...o, metadata };
    delete copy.status;
    return stringify(copy, { sortMapEntries: true });
  };
  const { live, desired } = redactPair(change.live, change.desired);
  const text = createTwoFilesPatch(
    change.entry.subject,
    change.entry.subject,
    clean(live),
    clean(desired),
    "live",
    "merged",
    { context: 3 },
  );
  const body = text.split("\n").slice(2).join("\n");
  return change.entry.object.kind === "Secret" ? `${body}\n(Secret values are masked)` : body;
}

/**
 * What the controller would apply for this Kustomization if the local folder were its source: the
 * folder's repository is packed as source-controller packs an artifact (`.sourceignore`, the
 * GitRepository's `spec.ignore` when it is registered), and the controller's own render phase
 * renders it — Flux's overlay, the same substitution (strict unless --strict-substitute=false), the
 * same limits and remote-base policy — then the ownership labels apply adds.
 */
async function render(
  name: string,
  flags: BuildFlags,
  options: GlobalOptions,
): Promise<{ objects: KubeObject[]; spec: Kustomization["spec"] }> {
  const ks = await kustomizationSpec(name, flags, options);
  const dir = resolve(flags.path);
  if (!(await stat(dir).catch(() => undefined))?.isDirectory())
    throw new Error(`--path ${flags.path}: not a directory`);
  // The enclosing repository is the source, so `../base` references resolve as they do in it.
  const root = await repositoryRoot(dir);
  const context = await renderContext(flags, options);
  try {
    return { objects: await renderTree(context, ks, root, relative(root, dir) || "./"), spec: ks.spec };
  } finally {
    await rm(context.work, { recursive: true, force: true });
  }
}

/** What every render of one command shares: the ports, a scratch folder, the flags. */
interface RenderContext {
  ports: RenderPorts;
  work: string;
  flags: BuildFlags;
  options: GlobalOptions;
}

async function renderContext(flags: BuildFlags, options: GlobalOptions): Promise<RenderContext> {
  const work = await mkdtemp(join(tmpdir(), "sluice-build-"));
  const base = options.awsBucket ? awsDefaultSettings : defaultSettings;
  const ports: RenderPorts = {
    artifacts: new FileArtifactStore(join(work, "artifacts")),
    secrets: clusterSecrets(options),
    settings: {
      ...base,
      strictSubstitution: flags.strictSubstitute,
      noRemoteBases: base.noRemoteBases || !flags.remoteBases,
    },
    tools: await resolveTools({ cacheDir: cacheDir() }),
    workDir: join(work, "render"),
    renders: new RenderCache(),
  };
  return { ports, work, flags, options };
}

/** The render of one Kustomization with `path` in the source at `root`, and with --recursive its children's. */
async function renderTree(
  context: RenderContext,
  ks: Kustomization,
  root: string,
  path: string,
): Promise<KubeObject[]> {
  const { flags } = context;
  const artifact = await localArtifact(context, ks, root, join(root, path));
  // --dry-run reads nothing from a cluster: substituteFrom is left out, as flux build --dry-run skips it.
  const postBuild = ks.spec.postBuild && {
    ...ks.spec.postBuild,
    ...(flags.dryRun && { substituteFrom: undefined }),
  };
  const rendered = await renderPhase(context.ports, { ...ks, spec: { ...ks.spec, path, postBuild } }, artifact);
  const owner = ownerLabels({ name: ks.metadata.name, namespace: ks.metadata.namespace ?? context.options.namespace });
  const objects = rendered.map((o) => ({
    ...o,
    metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...owner } },
  }));
  if (!flags.recursive) return objects;
  const children: KubeObject[] = [];
  for (const object of rendered) {
    if (!isKustomization(object) || sameObject(object, ks)) continue;
    const child = admitted({ ...object, metadata: { namespace: ks.metadata.namespace, ...object.metadata } });
    const ref = child.spec.sourceRef;
    const source = `${ref.kind}/${ref.namespace ?? child.metadata.namespace}/${ref.name}`;
    const local = flags.localSources?.[source];
    if (!local)
      throw new Error(
        `cannot get local path for ${source} of kustomization ${child.metadata.name}: pass --local-sources ${source}=<folder>`,
      );
    children.push(...(await renderTree(context, child, resolve(local), child.spec.path ?? "./")));
  }
  return [...objects, ...children];
}

/**
 * The folder packed as its source's artifact: the files its repository holds (see sourceFiles) less
 * the --ignore-paths ones (patterns relative to the folder built), packed as source-controller packs
 * them, with the registered source's `spec.ignore`.
 */
async function localArtifact(
  context: RenderContext,
  ks: Kustomization,
  root: string,
  built: string,
): Promise<Artifact> {
  const tree = await mkdtemp(join(context.work, "tree-"));
  const skipped = ignore().add(context.flags.ignorePaths ?? []);
  const inBuilt = relative(root, built);
  for (const file of await sourceFiles(root)) {
    const fromBuilt = posix.relative(inBuilt.split(sep).join("/"), file);
    if (!fromBuilt.startsWith("..") && skipped.ignores(fromBuilt)) continue;
    const from = join(root, file);
    const info = await lstat(from).catch(() => undefined); // listed by Git, deleted since
    if (!info || info.isDirectory()) continue; // a submodule's folder: not part of the artifact
    await mkdir(dirname(join(tree, file)), { recursive: true });
    if (info.isSymbolicLink()) await symlink(await readlink(from), join(tree, file));
    else await copyFile(from, join(tree, file));
  }
  const archive = await archiveDirectory(tree, { ignore: await sourceIgnore(context.options, ks) });
  const stored = await context.ports.artifacts.put(`local/${basename(tree)}.tar.gz`, archive.data);
  return {
    path: stored.path,
    url: stored.url,
    revision: "local",
    digest: stored.digest,
    size: stored.size,
    lastUpdateTime: new Date().toISOString(),
  };
}

/**
 * The files of the source at `root`, relative, `/`-separated. In a Git checkout, what a commit of it
 * would hold (`git ls-files`: tracked, and untracked but not ignored), so build artefacts and
 * `node_modules` stay out as they stay out of the GitRepository's artifact; elsewhere (or when git cannot list
 * them) every file but `.git` and `node_modules`.
 */
async function sourceFiles(root: string): Promise<string[]> {
  if (await stat(join(root, ".git")).catch(() => undefined)) {
    // Without a usable git (not installed, or a `.git` git does not read), every file, as in any folder.
    const args = ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"];
    const listed = await run("git", args, { maxBuffer: 256 * 1024 * 1024 }).catch(() => undefined);
    if (listed) return listed.stdout.split("\0").filter(Boolean);
  }
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join("/"))
    .filter((file) => !file.split("/").some((part) => part === ".git" || part === "node_modules"));
}

/** The registered GitRepository's `spec.ignore`, which decides what its artifact holds; undefined when not registered. */
async function sourceIgnore(options: GlobalOptions, ks: Kustomization): Promise<string | undefined> {
  const ref = ks.spec.sourceRef;
  const store = await openStore(options);
  const source = await store.get({
    kind: ref.kind,
    namespace: ref.namespace ?? ks.metadata.namespace ?? options.namespace,
    name: ref.name,
  });
  return (source?.object.spec as { ignore?: string } | undefined)?.ignore;
}

/** Secrets and ConfigMaps of the kubeconfig's cluster, connected to only when substituteFrom needs one. */
function clusterSecrets(options: GlobalOptions): Secrets {
  let secrets: Promise<Secrets> | undefined;
  const connected = () =>
    (secrets ??= readKubeconfig(options)
      .then(({ content }) => openCluster({ kubeconfig: content, context: options.context }, systemClock))
      .then((cluster) => new KubeSecrets(cluster.client)));
  return {
    secret: async (ref) => (await connected()).secret(ref),
    configMap: async (ref) => (await connected()).configMap(ref),
  };
}

const isKustomization = (o: KubeObject) =>
  o.apiVersion.startsWith("kustomize.toolkit.fluxcd.io/") && o.kind === "Kustomization";
const sameObject = (o: KubeObject, ks: Kustomization) =>
  o.metadata.name === ks.metadata.name && (o.metadata.namespace ?? ks.metadata.namespace) === ks.metadata.namespace;

async function kustomizationSpec(name: string, flags: BuildFlags, options: GlobalOptions): Promise<Kustomization> {
  if (flags.kustomizationFile) {
    const docs = parseAllDocuments(await readFile(flags.kustomizationFile, "utf8")).map((d) => d.toJS() as KubeObject);
    const found = docs.find((d) => d?.kind === "Kustomization" && d.metadata?.name === name);
    if (!found) throw new Error(`${flags.kustomizationFile}: no Kustomization named '${name}'`);
    return admitted({ ...found, metadata: { namespace: options.namespace, ...found.metadata } });
  }
  const store = await openStore(options);
  const stored = await store.get({ kind: "Kustomization", namespace: options.namespace, name });
  if (!stored)
    throw new Error(
      `Kustomization '${name}' not found in ${options.namespace} namespace (register it, or pass --kustomization-file)`,
    );
  return admitted(stored.object);
}

/** The Kustomization as Flux's API server admits it; the fields it drops are named on stderr, as `sluice run` warns of them. */
function admitted(input: unknown): Kustomization {
  const { object, dropped } = admitFluxObject(input);
  if (dropped.length > 0)
    process.stderr.write(`⚠️ Kustomization/${object.metadata.name}: ${droppedFieldsWarning(dropped)}\n`);
  return object as Kustomization;
}

async function repositoryRoot(dir: string): Promise<string> {
  for (let current = dir; ; current = dirname(current)) {
    if (await stat(join(current, ".git")).catch(() => undefined)) return current;
    if (dirname(current) === current) return dir;
  }
}
