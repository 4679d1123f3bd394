import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Kustomization } from "../api/kustomization.js";
import type { Artifact } from "../api/meta.js";
import type { KubeObject } from "../apply/object.js";
import { extractArchive, UnsafeArchiveError } from "../artifacts/extract.js";
import { linkTree } from "../artifacts/link-tree.js";
import { buildKustomization, renderPlainFolder } from "../render/kustomize.js";
import { substituteAll } from "../render/substitute.js";
import { SecretError, type Secrets } from "../secrets/secrets.js";
import type { Runtime } from "./runtime.js";

/**
 * Rendered sets by (artifact digest, render inputs of the spec, substitution values): an interval
 * with nothing new costs no extraction and no kustomize run. Least recently used entries go first;
 * a rendered app is a few KiB, so a fleet of thousands fits; a miss just renders again.
 */
const cache = new Map<string, KubeObject[]>();
const CACHE_ENTRIES = 4096;

/** Kustomize runs and cache hits since start, for metrics and benchmarks. */
export const renderCounters = { builds: 0, cacheHits: 0 };

/** Forgets every cached render (benchmarks compare against rendering every time, as Flux does). */
export function clearRenderCache(): void {
  cache.clear();
}

export interface Rendered {
  objects: KubeObject[];
  cached: boolean;
}

/** Source artifact → safe extraction → kustomize build (with Flux's overlay) → post-build substitution. */
export async function renderKustomization(rt: Runtime, ks: Kustomization, artifact: Artifact): Promise<Rendered> {
  const vars = ks.spec.postBuild ? await substitutionVariables(rt.secrets, ks) : undefined;
  const {
    path,
    targetNamespace,
    namePrefix,
    nameSuffix,
    patches,
    images,
    components,
    ignoreMissingComponents,
    commonMetadata,
  } = ks.spec;
  const inputs = {
    path,
    targetNamespace,
    namePrefix,
    nameSuffix,
    patches,
    images,
    components,
    ignoreMissingComponents,
    commonMetadata,
    vars,
    strict: rt.settings.strictSubstitution,
    noRemoteBases: rt.settings.noRemoteBases,
  };
  const key = `${artifact.digest ?? artifact.revision}:${createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
  const hit = cache.get(key);
  if (hit) {
    renderCounters.cacheHits++;
    cache.delete(key);
    cache.set(key, hit);
    return { objects: structuredClone(hit), cached: true };
  }
  renderCounters.builds++;

  const source = await extracted(rt, artifact);
  let objects =
    (await renderPlainFolder(source, ks.spec, rt.settings.renderLimits)) ?? (await buildPrivateCopy(rt, source, ks));
  if (vars) objects = substituteAll(objects, vars, { strict: rt.settings.strictSubstitution });
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, objects);
  return { objects: structuredClone(objects), cached: false };
}

/** kustomize with Flux's overlay, on a hard-linked private copy (the overlay replaces kustomization files). */
async function buildPrivateCopy(rt: Runtime, source: string, ks: Kustomization): Promise<KubeObject[]> {
  const dir = await mkdtemp(join(await unlistable(rt, "builds"), "render-"));
  try {
    await linkTree(source, join(dir, "src"));
    const { noRemoteBases, renderLimits } = rt.settings;
    return await buildKustomization(join(dir, "src"), ks.spec, {
      kubectl: rt.tools.kubectl,
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
async function unlistable(rt: Runtime, name: string): Promise<string> {
  const dir = join(rt.workDir, name);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o711);
  return dir;
}

/** The source artifact is missing or refused (Flux's ArtifactFailed); retrying the same artifact cannot help. */
export class ArtifactError extends Error {
  override name = "ArtifactError";
}

/** Extracted artifacts by digest, extracted once and shared (as hard-linked copies) by every render of that revision. */
const extractions = new Map<string, Promise<string>>();
const EXTRACTIONS_KEPT = 16;

async function extracted(rt: Runtime, artifact: Artifact): Promise<string> {
  const id = (artifact.digest ?? artifact.revision).replace(/[^a-zA-Z0-9]/g, "_");
  let pending = extractions.get(id);
  if (!pending) {
    pending = (async () => {
      const data = await rt.artifacts.get(artifact.path, artifact.digest);
      if (!data) throw new ArtifactError(`source artifact ${artifact.path} is missing from storage`);
      const dir = join(await unlistable(rt, "sources"), `${id}.${randomBytes(12).toString("hex")}`);
      await extractArchive(data, dir).catch(async (error: unknown) => {
        await rm(dir, { recursive: true, force: true });
        // An archive over the extraction limits fails the render; retrying the same artifact cannot help.
        throw error instanceof UnsafeArchiveError
          ? new ArtifactError(`source artifact ${artifact.path}: ${error.message}`)
          : error;
      });
      return dir;
    })();
    extractions.set(id, pending);
    pending.catch(() => extractions.delete(id));
    if (extractions.size > EXTRACTIONS_KEPT) {
      const [oldest, old] = extractions.entries().next().value!;
      extractions.delete(oldest);
      void old.then((dir) => rm(dir, { recursive: true, force: true })).catch(() => undefined);
    }
  }
  return pending;
}

/**
 * `postBuild.substituteFrom` in order, then `postBuild.substitute` on top (Flux's precedence).
 * A missing ConfigMap or Secret is an error unless marked `optional`. Without `secrets` (an offline
 * `sluice build --dry-run`), substituteFrom is skipped.
 */
export async function substitutionVariables(
  secrets: Secrets | undefined,
  ks: Kustomization,
): Promise<Record<string, string>> {
  const namespace = ks.metadata.namespace ?? "default";
  const vars: Record<string, string> = {};
  for (const ref of secrets ? (ks.spec.postBuild?.substituteFrom ?? []) : []) {
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
  return { ...vars, ...ks.spec.postBuild?.substitute };
}
