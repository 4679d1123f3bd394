import { randomBytes } from "node:crypto";
import { lstat, readdir, rename, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { stringify, type Document } from "yaml";
import type { KubeObject } from "../apply/object.js";
import type { Kustomization } from "../api/kustomization.js";
import { BuildError } from "./build-error.js";
import { readsDifferentlyInGo } from "./go-scalars.js";
import { checkKustomizationGraph, readKustomizationFile, type Reached } from "./kustomization-graph.js";
import { runKustomize } from "./kustomize-process.js";
import { defaultRenderLimits, RenderBudget, type RenderLimits } from "./limits.js";
import { isSopsEncrypted, orderedLike, sopsMacOf } from "./sops.js";
import {
  checkSourceTree,
  existingInside,
  findKustomizationFile,
  KUSTOMIZATION_FILES,
  readSourceFile,
} from "./source-tree.js";
import { withTargetNamespace } from "./target-namespace.js";
import { decodeYaml } from "./yaml.js";

export { BuildError } from "./build-error.js";

type Spec = Kustomization["spec"];

export interface BuildOptions {
  /** Path of the kubectl binary (kustomize is built in). */
  kubectl: string;
  /** Refuse remote bases and components (Flux's `--no-remote-bases`). @default false */
  noRemoteBases?: boolean;
  /** Bounds on time, file size, documents, aliases and output. @default defaultRenderLimits */
  limits?: RenderLimits;
}

/**
 * Renders `spec.path` of an extracted source tree the way kustomize-controller does: generate a
 * kustomization.yaml when there is none, overlay the Kustomization's own settings on it, run
 * kustomize, then set `commonMetadata`. The tree must be a private copy: kustomization files in it
 * are replaced (never written into, so the copy may hard-link a shared extraction).
 */
export async function buildKustomization(root: string, spec: Spec, options: BuildOptions): Promise<KubeObject[]> {
  const limits = options.limits ?? defaultRenderLimits;
  const plain = await renderPlainFolder(root, spec, limits);
  if (plain) return plain;
  await checkSourceTree(root, limits);
  const dir = await kustomizationDir(root, spec);
  const file = (await findKustomizationFile(dir)) ?? join(dir, KUSTOMIZATION_FILES[0]!);
  await replaceFile(file, stringify(await entryKustomization(root, dir, spec, limits)));
  await checkKustomizationGraph(root, dir, { noRemoteBases: options.noRemoteBases ?? false, limits });
  const objects = decodeObjects(
    await runKustomize(options.kubectl, dir, root, limits),
    "kustomize output",
    new RenderBudget(limits),
  );
  return withCommonMetadata(await withSopsFieldOrder(objects, root, limits), spec);
}

/**
 * What a build of `spec.path` reads from `root` (relative paths, checked as the build checks them): all a private
 * copy needs, so a render links its kustomization graph rather than the whole source. Reads only.
 */
export async function reachedPaths(
  root: string,
  spec: Spec,
  options: Pick<BuildOptions, "noRemoteBases" | "limits">,
): Promise<Reached> {
  const limits = options.limits ?? defaultRenderLimits;
  const dir = await kustomizationDir(root, spec);
  const entry = await entryKustomization(root, dir, spec, limits);
  return checkKustomizationGraph(root, dir, { noRemoteBases: options.noRemoteBases ?? false, limits, entry });
}

/**
 * The kustomization a build starts from: the folder's own file, or one generated from its YAML files as Flux does,
 * with the Kustomization's overlay on it.
 */
async function entryKustomization(
  root: string,
  dir: string,
  spec: Spec,
  limits: RenderLimits,
): Promise<Record<string, unknown>> {
  const file = await findKustomizationFile(dir);
  const kustomization = file
    ? await readKustomizationFile(file, relative(root, file), limits)
    : {
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: (await scanFolder(root, dir, limits)).resources,
      };
  return overlaid(kustomization, spec, { root, dir });
}

/**
 * A folder of plain YAML (no kustomization file, no sub-kustomizations) with nothing to overlay but
 * `targetNamespace` renders to its documents, namespaced as kustomize namespaces them: read them without
 * starting kustomize and without copying the tree — the common shape of a fleet's apps and cluster folders.
 * Undefined otherwise (or when the namespace rules need kustomize). The folder is checked as a build checks
 * its copy first. Reads only, so `root` may be a shared extraction.
 */
export async function renderPlainFolder(
  root: string,
  spec: Spec,
  limits: RenderLimits = defaultRenderLimits,
): Promise<KubeObject[] | undefined> {
  const dir = await kustomizationDir(root, spec);
  if (needsOverlay({ ...spec, targetNamespace: undefined }) || (await findKustomizationFile(dir))) return undefined;
  await checkSourceTree(root, limits, dir);
  const { objects } = await scanFolder(root, dir, limits);
  const rendered = objects && spec.targetNamespace ? withTargetNamespace(objects, spec.targetNamespace) : objects;
  return rendered && withCommonMetadata(rendered, spec);
}

async function kustomizationDir(root: string, spec: Spec): Promise<string> {
  const path = spec.path ?? "./";
  const dir = await existingInside(root, root, path, `spec.path: '${path}'`);
  if (!dir || !(await isDirectory(dir))) throw new BuildError(`spec.path: '${path}' is not a directory in the source`);
  return resolve(root, path);
}

function needsOverlay(spec: Spec): boolean {
  return Boolean(
    spec.targetNamespace ||
    spec.namePrefix ||
    spec.nameSuffix ||
    spec.patches?.length ||
    spec.images?.length ||
    spec.components?.length ||
    spec.buildMetadata?.length,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Flux's rule for a folder without a kustomization file: every `.yaml`/`.yml` file below it that
 * decodes as Kubernetes YAML becomes a resource, except that a sub-folder holding its own
 * kustomization file is added as one resource and not descended into. `objects` holds the decoded
 * documents when every resource is a plain file whose values kustomize reads as this parser does.
 * One budget for the folder: its files are one render.
 */
async function scanFolder(
  root: string,
  dir: string,
  limits: RenderLimits,
): Promise<{ resources: string[]; objects?: KubeObject[] }> {
  const resources: string[] = [];
  const objects: KubeObject[] = [];
  const budget = new RenderBudget(limits);
  let plain = true;
  const onDocument = (doc: Document.Parsed) => {
    if (plain && readsDifferentlyInGo(doc)) plain = false;
  };
  const walk = async (folder: string): Promise<void> => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (await findKustomizationFile(path)) {
          resources.push(`./${relative(dir, path)}`);
          plain = false;
        } else await walk(path);
      } else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) {
        for (const object of await readKubernetesYaml(path, relative(root, path), budget, onDocument))
          objects.push(object);
        resources.push(`./${relative(dir, path)}`);
      }
    }
  };
  await walk(dir);
  return plain ? { resources, objects } : { resources };
}

/** The objects of a YAML file (a `List` expanded, as kustomize does); an error names the file. */
async function readKubernetesYaml(
  path: string,
  name: string,
  budget: RenderBudget,
  onDocument: (doc: Document.Parsed) => void,
): Promise<KubeObject[]> {
  const objects: KubeObject[] = [];
  const text = await readSourceFile(path, name, budget.limits);
  for (const value of decodeYaml(text, name, budget, { onDocument }) as ((KubeObject & { items?: unknown }) | null)[]) {
    if (value === null) continue;
    if (typeof value !== "object" || !value.apiVersion || !value.kind) {
      throw new BuildError(`failed to decode Kubernetes YAML from ${name}: a document lacks apiVersion or kind`);
    }
    if (value.kind.endsWith("List") && Array.isArray(value.items))
      for (const item of value.items as KubeObject[]) objects.push(item);
    else objects.push(value);
  }
  return objects;
}

/** The kustomization with the Kustomization's targetNamespace, prefix/suffix, patches, images, components and buildMetadata. */
async function overlaid(
  kus: Record<string, unknown>,
  spec: Spec,
  { root, dir }: { root: string; dir: string },
): Promise<Record<string, unknown>> {
  if (spec.targetNamespace) kus.namespace = spec.targetNamespace;
  if (spec.namePrefix) kus.namePrefix = spec.namePrefix;
  if (spec.nameSuffix) kus.nameSuffix = spec.nameSuffix;
  if (spec.patches?.length) kus.patches = [...asArray(kus.patches), ...spec.patches];
  if (spec.images?.length) kus.images = mergeImages(asArray(kus.images) as { name: string }[], spec.images);
  if (spec.components?.length)
    kus.components = [...asArray(kus.components), ...(await existingComponents(root, dir, spec))];
  // Flux's generator sets the list, replacing the kustomization's own.
  if (spec.buildMetadata?.length) kus.buildMetadata = spec.buildMetadata;
  return kus;
}

/**
 * Writes a new file in place of the old, never into it: the tree may be hard links shared with other
 * renders. The temporary name is random and created exclusively, so nothing already there is written through.
 */
async function replaceFile(file: string, content: string): Promise<void> {
  const temporary = join(dirname(file), `.sluice-${randomBytes(8).toString("hex")}.tmp`);
  await writeFile(temporary, content, { flag: "wx" });
  await rename(temporary, file);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** An image override replaces the kustomization's entry for the same name, as Flux does. */
function mergeImages(existing: { name: string }[], overrides: NonNullable<Spec["images"]>): { name: string }[] {
  const merged = [...existing];
  for (const image of overrides) {
    const index = merged.findIndex((i) => i.name === image.name);
    if (index >= 0) merged[index] = image;
    else merged.push(image);
  }
  return merged;
}

/** spec.components that exist in the source; one outside it is refused whether it exists or not. */
async function existingComponents(root: string, dir: string, spec: Spec): Promise<string[]> {
  const kept: string[] = [];
  for (const component of spec.components ?? []) {
    if (await existingInside(root, dir, component, `spec.components: '${component}'`)) kept.push(component);
    else if (!spec.ignoreMissingComponents) {
      throw new BuildError(
        `spec.components: '${component}' does not exist under '${spec.path ?? "./"}' (set ignoreMissingComponents to skip missing ones)`,
      );
    }
  }
  return kept;
}

/**
 * kustomize prints fields in its own order, but a SOPS MAC covers the order of the encrypted file
 * (Flux decrypts kustomize's in-memory objects, which keep it). SOPS documents get their original
 * field order back, found in the source by their MAC; kustomize's changes to values stay.
 */
async function withSopsFieldOrder(objects: KubeObject[], root: string, limits: RenderLimits): Promise<KubeObject[]> {
  if (!objects.some(isSopsEncrypted)) return objects;
  const originals = new Map<string, unknown>();
  const budget = new RenderBudget(limits);
  await walkFiles(root, async (path) => {
    if (!/\.(ya?ml|json)$/.test(path)) return;
    const name = relative(root, path);
    const text = await readSourceFile(path, name, limits);
    if (!text.includes("sops") || !text.includes("mac")) return;
    for (const object of decodeYaml(text, name, budget)) {
      const mac = sopsMacOf(object);
      if (mac) originals.set(mac, object);
    }
  });
  return objects.map((o) => {
    const mac = sopsMacOf(o);
    return mac ? (orderedLike(o, originals.get(mac)) as KubeObject) : o;
  });
}

async function walkFiles(root: string, visit: (path: string) => Promise<void>): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await walkFiles(path, visit);
    else if (entry.isFile()) await visit(path);
  }
}

/** Decodes kustomize's output into objects within the render's budget, skipping empty documents. */
function decodeObjects(text: string, source: string, budget: RenderBudget): KubeObject[] {
  return decodeYaml(text, source, budget).filter((value): value is KubeObject => value !== null);
}

/** Flux's `commonMetadata`: labels and annotations set on every object, overriding the object's own. */
function withCommonMetadata(objects: KubeObject[], spec: Spec): KubeObject[] {
  const common = spec.commonMetadata;
  if (!common) return objects;
  return objects.map((object) => ({
    ...object,
    metadata: {
      ...object.metadata,
      ...(common.labels && { labels: { ...object.metadata.labels, ...common.labels } }),
      ...(common.annotations && { annotations: { ...object.metadata.annotations, ...common.annotations } }),
    },
  }));
}
