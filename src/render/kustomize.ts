import { execFile } from "node:child_process";
import { lstat, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import type { KubeObject } from "../apply/object.js";
import type { Kustomization } from "../api/kustomization.js";
import { isSopsEncrypted, orderedLike, sopsMacOf } from "./sops.js";

const run = promisify(execFile);

/** The file names kustomize recognises, in its order of preference. */
const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** Rendering failed: a bad path, invalid YAML, a kustomize error. Maps to Flux's BuildFailed. */
export class BuildError extends Error {
  override name = "BuildError";
}

type Spec = Kustomization["spec"];

export interface BuildOptions {
  /** Path of the kubectl binary (kustomize is built in). */
  kubectl: string;
  /** Refuse remote bases and components (Flux's `--no-remote-bases`). @default false */
  noRemoteBases?: boolean;
}

/**
 * Renders `spec.path` of an extracted source tree the way kustomize-controller does: generate a
 * kustomization.yaml when there is none, overlay the Kustomization's own settings on it, run
 * kustomize, then set `commonMetadata`. The tree must be a private copy: kustomization files in it
 * are replaced (never written into, so the copy may hard-link a shared extraction).
 */
export async function buildKustomization(root: string, spec: Spec, options: BuildOptions): Promise<KubeObject[]> {
  const plain = await renderPlainFolder(root, spec);
  if (plain) return plain;
  const dir = await kustomizationDir(root, spec);
  const file = (await findKustomizationFile(dir)) ?? (await writeKustomizationFile(dir, (await scanFolder(dir)).resources));
  await overlay(dir, file, spec);
  if (options.noRemoteBases) await refuseRemoteBases(root);
  return withCommonMetadata(await withSopsFieldOrder(await kustomize(options.kubectl, dir, root), root), spec);
}

/**
 * A folder of plain YAML (no kustomization file, no sub-kustomizations) with nothing to overlay
 * renders to exactly its documents: read them without starting kustomize and without copying the
 * tree — the common shape of a fleet's cluster folders and of small apps. Undefined otherwise.
 * Reads only, so `root` may be a shared extraction.
 */
export async function renderPlainFolder(root: string, spec: Spec): Promise<KubeObject[] | undefined> {
  const dir = await kustomizationDir(root, spec);
  if (needsOverlay(spec) || (await findKustomizationFile(dir))) return undefined;
  const { objects } = await scanFolder(dir);
  return objects && withCommonMetadata(objects, spec);
}

async function kustomizationDir(root: string, spec: Spec): Promise<string> {
  const dir = resolveInside(root, spec.path ?? "./");
  if (!(await isDirectory(dir))) throw new BuildError(`spec.path: '${spec.path ?? "./"}' is not a directory in the source`);
  return dir;
}

function needsOverlay(spec: Spec): boolean {
  return Boolean(spec.targetNamespace || spec.namePrefix || spec.nameSuffix || spec.patches?.length || spec.images?.length || spec.components?.length);
}

/** `path` relative to the source root, refusing anything that escapes it. */
function resolveInside(root: string, path: string): string {
  const full = resolve(root, path);
  if (full !== resolve(root) && !full.startsWith(resolve(root) + sep)) throw new BuildError(`spec.path: '${path}' points outside the source`);
  return full;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function findKustomizationFile(dir: string): Promise<string | undefined> {
  for (const name of KUSTOMIZATION_FILES) {
    if ((await lstat(join(dir, name)).catch(() => undefined))?.isFile()) return join(dir, name);
  }
  return undefined;
}

/**
 * Flux's rule for a folder without a kustomization file: every `.yaml`/`.yml` file below it that
 * decodes as Kubernetes YAML becomes a resource, except that a sub-folder holding its own
 * kustomization file is added as one resource and not descended into. `objects` holds the decoded
 * documents when every resource is a plain file.
 */
async function scanFolder(dir: string): Promise<{ resources: string[]; objects?: KubeObject[] }> {
  const resources: string[] = [];
  const objects: KubeObject[] = [];
  let plain = true;
  const walk = async (folder: string): Promise<void> => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (await findKustomizationFile(path)) {
          resources.push(`./${relative(dir, path)}`);
          plain = false;
        } else await walk(path);
      } else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) {
        objects.push(...(await readKubernetesYaml(path, relative(dir, path))));
        resources.push(`./${relative(dir, path)}`);
      }
    }
  };
  await walk(dir);
  return plain ? { resources, objects } : { resources };
}

async function writeKustomizationFile(dir: string, resources: string[]): Promise<string> {
  const file = join(dir, "kustomization.yaml");
  await replaceFile(file, stringify({ apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources }));
  return file;
}

/** The objects of a YAML file (a `List` expanded, as kustomize does); an error names the file. */
async function readKubernetesYaml(path: string, name: string): Promise<KubeObject[]> {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(await readFile(path, "utf8"))) {
    if (doc.errors.length > 0) throw new BuildError(`failed to decode Kubernetes YAML from ${name}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as (KubeObject & { items?: KubeObject[] }) | null;
    if (value === null) continue;
    if (typeof value !== "object" || !value.apiVersion || !value.kind) throw new BuildError(`failed to decode Kubernetes YAML from ${name}: a document lacks apiVersion or kind`);
    if (value.kind.endsWith("List") && Array.isArray(value.items)) objects.push(...value.items);
    else objects.push(value);
  }
  return objects;
}

/** Writes the Kustomization's targetNamespace, prefix/suffix, patches, images and components into the kustomization file. */
async function overlay(dir: string, file: string, spec: Spec): Promise<void> {
  const parsed = parseAllDocuments(await readFile(file, "utf8"));
  if (parsed.length !== 1 || parsed[0]!.errors.length > 0) throw new BuildError(`${relative(dir, file)}: not a single valid YAML document${parsed[0]?.errors[0] ? `: ${parsed[0].errors[0].message}` : ""}`);
  const kus = (parsed[0]!.toJS() ?? {}) as Record<string, unknown>;
  if (spec.targetNamespace) kus.namespace = spec.targetNamespace;
  if (spec.namePrefix) kus.namePrefix = spec.namePrefix;
  if (spec.nameSuffix) kus.nameSuffix = spec.nameSuffix;
  if (spec.patches?.length) kus.patches = [...asArray(kus.patches), ...spec.patches];
  if (spec.images?.length) kus.images = mergeImages(asArray(kus.images) as { name: string }[], spec.images);
  if (spec.components?.length) kus.components = [...asArray(kus.components), ...(await existingComponents(dir, spec))];
  await replaceFile(file, stringify(kus));
}

/** Writes a new file in place of the old (never into it): the tree may be hard links shared with other renders. */
async function replaceFile(file: string, content: string): Promise<void> {
  await writeFile(`${file}.sluice-tmp`, content);
  await rename(`${file}.sluice-tmp`, file);
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

async function existingComponents(dir: string, spec: Spec): Promise<string[]> {
  const kept: string[] = [];
  for (const component of spec.components ?? []) {
    const exists = await lstat(resolve(dir, component)).then(() => true, () => false);
    if (exists) kept.push(component);
    else if (!spec.ignoreMissingComponents) throw new BuildError(`spec.components: '${component}' does not exist under '${spec.path ?? "./"}' (set ignoreMissingComponents to skip missing ones)`);
  }
  return kept;
}

/** With the lockdown on, any remote resource or component in any kustomization file of the source is an error. */
async function refuseRemoteBases(root: string): Promise<void> {
  await walkFiles(root, async (path, name) => {
    if (!KUSTOMIZATION_FILES.includes(name)) return;
    const kus = (parseAllDocuments(await readFile(path, "utf8"))[0]?.toJS() ?? {}) as Record<string, unknown>;
    const remote = [...asArray(kus.resources), ...asArray(kus.components)].find((r) => typeof r === "string" && isRemote(r));
    if (remote) throw new BuildError(`${relative(root, path)}: remote base '${String(remote)}' is not allowed (remote bases are disabled)`);
  });
}

/**
 * kustomize prints fields in its own order, but a SOPS MAC covers the order of the encrypted file
 * (Flux decrypts kustomize's in-memory objects, which keep it). SOPS documents get their original
 * field order back, found in the source by their MAC; kustomize's changes to values stay.
 */
async function withSopsFieldOrder(objects: KubeObject[], root: string): Promise<KubeObject[]> {
  if (!objects.some(isSopsEncrypted)) return objects;
  const originals = new Map<string, unknown>();
  await walkFiles(root, async (path, name) => {
    if (!/\.(ya?ml|json)$/.test(name)) return;
    const text = await readFile(path, "utf8");
    if (!text.includes("sops") || !text.includes("mac")) return;
    for (const doc of parseAllDocuments(text)) {
      const object: unknown = doc.toJS();
      const mac = sopsMacOf(object);
      if (mac) originals.set(mac, object);
    }
  });
  return objects.map((o) => {
    const mac = sopsMacOf(o);
    return mac ? (orderedLike(o, originals.get(mac)) as KubeObject) : o;
  });
}

async function walkFiles(root: string, visit: (path: string, name: string) => Promise<void>): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await walkFiles(path, visit);
    else if (entry.isFile()) await visit(path, entry.name);
  }
}

function isRemote(reference: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(reference) || /^git@/.test(reference) || /^(github\.com|gitlab\.com|bitbucket\.org)\//.test(reference);
}

/** Runs kustomize (in kubectl) with the load restrictor on; plugins and Helm stay disabled. */
async function kustomize(kubectl: string, dir: string, root: string): Promise<KubeObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await run(kubectl, ["kustomize", dir, "--load-restrictor", "LoadRestrictionsRootOnly"], { maxBuffer: 256 << 20, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" } }));
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new BuildError(`kustomize build failed: ${stderr.replaceAll(root + sep, "").replace(/^Error: /, "")}`);
  }
  return parseObjects(stdout, "kustomize output");
}

/** Decodes a multi-document YAML stream into objects, skipping empty documents. */
export function parseObjects(text: string, source: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new BuildError(`${source}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as KubeObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
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
