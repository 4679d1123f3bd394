import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Kustomization } from "../../api/kustomization.js";
import type { Artifact } from "../../api/meta.js";
import type { KubeObject } from "../../apply/object.js";
import { textBytes } from "./render-cache.js";
import { extractArchive, UnsafeArchiveError } from "../../artifacts/extract.js";
import { linkPaths } from "../../artifacts/link-tree.js";
import { BuildError, buildKustomization, reachedPaths, renderPlainFolder } from "../../render/kustomize.js";
import { substituteAll, SubstitutionError } from "../../render/substitute.js";
import { keptBudget } from "../../sources/git-kept-budget.js";
import { REASON } from "../../api/reasons.js";
import { ReconcileError } from "../../pipeline/reconcile-error.js";
import { SecretError, type Secrets } from "../../secrets/secrets.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/** What a render reaches the world through: the reconciler's ports, or the few `sluice build` gives it. */
export type RenderPorts = Pick<ReconcilerPorts, "artifacts" | "secrets" | "settings" | "tools" | "workDir" | "renders">;

export interface Rendered {
  objects: KubeObject[];
  cached: boolean;
}

/** The spec fields a render depends on: with the artifact and the substitution values, the render cache's key. */
const RENDER_FIELDS = [
  "buildMetadata",
  "path",
  "targetNamespace",
  "namePrefix",
  "nameSuffix",
  "patches",
  "images",
  "components",
  "ignoreMissingComponents",
  "commonMetadata",
] as const;

/**
 * The render phase: the artifact rendered, with Flux's reasons for what can go wrong — a missing or
 * refused artifact (ArtifactFailed), a kustomize, substitution or substituteFrom failure (BuildFailed).
 */
export async function renderPhase(ports: RenderPorts, ks: Kustomization, artifact: Artifact): Promise<KubeObject[]> {
  try {
    return (await renderKustomization(ports, ks, artifact)).objects;
  } catch (error) {
    if (error instanceof ArtifactError) throw new ReconcileError(REASON.artifactFailed, error.message);
    if (error instanceof BuildError || error instanceof SubstitutionError || error instanceof SecretError)
      throw new ReconcileError(REASON.buildFailed, error.message);
    throw error;
  }
}

/** Source artifact → safe extraction → kustomize build (with Flux's overlay) → post-build substitution. */
export async function renderKustomization(
  ports: RenderPorts,
  ks: Kustomization,
  artifact: Artifact,
): Promise<Rendered> {
  const vars = await substitutionVariables(ports.secrets, ks);
  const specInputs = Object.fromEntries(RENDER_FIELDS.map((field) => [field, ks.spec[field]]));
  const inputs = {
    ...specInputs,
    vars,
    strict: ports.settings.strictSubstitution,
    noRemoteBases: ports.settings.noRemoteBases,
  };
  const key = `${artifact.digest ?? artifact.revision}:${createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
  const cache = ports.renders.rendered;
  const hit = cache.get(key);
  if (hit) {
    ports.renders.counters.cacheHits++;
    return { objects: structuredClone(hit), cached: true };
  }
  ports.renders.counters.builds++;

  let objects = await fromExtracted(
    ports,
    artifact,
    async (source) =>
      (await renderPlainFolder(source, ks.spec, ports.settings.renderLimits)) ??
      (await buildPrivateCopy(ports, source, ks)),
  );
  if (vars) objects = substituteAll(objects, vars, { strict: ports.settings.strictSubstitution });
  cache.set(key, objects, key.length + textBytes(objects));
  return { objects: structuredClone(objects), cached: false };
}

/**
 * kustomize with Flux's overlay, on a hard-linked private copy (the overlay replaces kustomization files) of what its
 * kustomization graph reaches: each kustomization's folder whole (kustomize's load restrictor keeps its reads there)
 * and the files named outside them, so out-of-root references fail as they did. Not the whole source, which in a
 * fleet repo holds every app: a render costs what its app holds. The build checks the copy as it would any tree.
 */
async function buildPrivateCopy(ports: RenderPorts, source: string, ks: Kustomization): Promise<KubeObject[]> {
  const { noRemoteBases, renderLimits } = ports.settings;
  const reached = await reachedPaths(source, ks.spec, { noRemoteBases, limits: renderLimits });
  const dir = await mkdtemp(join(await unlistable(ports, "builds"), "render-"));
  try {
    await linkPaths(source, join(dir, "src"), reached);
    return await buildKustomization(join(dir, "src"), ks.spec, {
      kubectl: ports.tools.kubectl,
      noRemoteBases,
      limits: renderLimits,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A parent folder for extractions or build copies that can be traversed but not listed (0711), holding
 * only random names: from one render's root, `..` cannot name another render's copy or another source,
 * even if a path slipped past the kustomization graph check.
 */
async function unlistable(ports: RenderPorts, name: string): Promise<string> {
  const dir = join(ports.workDir, name);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o711);
  return dir;
}

/** The source artifact is missing or refused (Flux's ArtifactFailed); retrying the same artifact cannot help. */
export class ArtifactError extends Error {
  override name = "ArtifactError";
}

/** Runs `read` on the artifact's extracted folder, extracted once per process and shared by every render of it. */
async function fromExtracted<T>(ports: RenderPorts, artifact: Artifact, read: (dir: string) => Promise<T>): Promise<T> {
  const id = (artifact.digest ?? artifact.revision).replace(/[^a-zA-Z0-9]/g, "_");
  const extract = async () => {
    const data = await ports.artifacts.get(artifact.path, artifact.digest);
    if (!data) throw new ArtifactError(`source artifact ${artifact.path} is missing from storage`);
    const dir = join(await unlistable(ports, "sources"), `${id}.${randomBytes(12).toString("hex")}`);
    const { bytes } = await extractArchive(data, dir).catch(async (error: unknown) => {
      await rm(dir, { recursive: true, force: true });
      // An archive over the extraction limits fails the render; retrying the same artifact cannot help.
      throw error instanceof UnsafeArchiveError
        ? new ArtifactError(`source artifact ${artifact.path}: ${error.message}`)
        : error;
    });
    return { dir, bytes };
  };
  // The same share of the work folder's disk as kept Git data: together at most half of a Lambda's /tmp.
  return ports.renders.extractions.read(id, extract, () => keptBudget(ports.workDir), read);
}

/**
 * The variables post-build substitution runs with, or undefined when it does not run. As in
 * kustomize-controller v1.9 (fluxcd/pkg kustomize SubstituteVariables): only with `postBuild`, and
 * only when at least one variable is defined — substituteFrom's data and substitute together —
 * unless `substituteStrategy: Always` (for `${var:=default}` with nothing defined). So a `${HOME}`
 * in a script is left alone by a postBuild that defines no variable. `substituteFrom` is read in
 * order, then `substitute` on top (Flux's precedence); a missing ConfigMap or Secret is an error
 * unless marked `optional`; newlines are removed from every value, as Flux removes them. Without
 * `secrets` (an offline `sluice build --dry-run`), substituteFrom is skipped.
 */
export async function substitutionVariables(
  secrets: Secrets | undefined,
  ks: Kustomization,
): Promise<Record<string, string> | undefined> {
  const postBuild = ks.spec.postBuild;
  if (!postBuild) return undefined;
  const namespace = ks.metadata.namespace ?? "default";
  const vars: Record<string, string> = {};
  for (const ref of secrets ? (postBuild.substituteFrom ?? []) : []) {
    const data =
      ref.kind === "Secret"
        ? await secrets!.secret({ namespace, name: ref.name })
        : await secrets!.configMap({ namespace, name: ref.name });
    if (!data) {
      if (ref.optional) continue;
      throw new SecretError(
        `substitute from '${ref.kind}/${namespace}/${ref.name}' failed: ${ref.kind.toLowerCase()} not found`,
      );
    }
    Object.assign(vars, data);
  }
  Object.assign(vars, postBuild.substitute);
  const defined = Object.keys(vars).length > 0;
  if (!defined && postBuild.substituteStrategy !== "Always") return undefined;
  return Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, value.replaceAll("\n", "")]));
}
