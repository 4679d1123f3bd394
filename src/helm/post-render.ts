import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Kustomization } from "../api/kustomization.js";
import { BuildError } from "../render/build-error.js";
import { runKustomize } from "../render/kustomize-process.js";
import type { RenderLimits } from "../render/limits.js";

// helm-controller's post-renderers (internal/postrender): each `spec.postRenderers[].kustomize`
// (patches, images) applied in order to the rendered manifest by the real kustomize (`kubectl
// kustomize` run as every render runs it: load restrictor on, plugins off, an empty environment, the
// render limits). Everything a user set goes into kustomization files as JSON, never onto a command line.

type Spec = Kustomization["spec"];

/** One `spec.postRenderers[].kustomize`. */
export interface KustomizePostRenderer {
  patches?: Spec["patches"];
  images?: Spec["images"];
}

/** kustomize refused a patch: its own message, bounded. */
export class PostRenderError extends Error {
  override name = "PostRenderError";
}

const INPUT = "helm-output.yaml";
/** The most a post-rendered manifest may be: what `helm template` may print (render.ts). */
const MAX_OUTPUT_BYTES = 64 << 20;

/** A post-renderer with patches or images: the others change nothing. */
export const hasWork = (renderer: KustomizePostRenderer): boolean =>
  !!(renderer.patches?.length || renderer.images?.length);

/** The manifest after every post-renderer that has something to do, in order; unchanged when none has. */
export async function postRender(
  kubectl: string,
  workDir: string,
  manifest: string,
  renderers: KustomizePostRenderer[],
  limits: RenderLimits,
): Promise<string> {
  const stages = [...renderers.entries()].filter(([, r]) => hasWork(r));
  if (stages.length === 0) return manifest;
  const dir = await mkdtemp(join(workDir, "postrender-"));
  try {
    let output = manifest;
    for (const [i, { patches, images }] of stages) {
      const stage = join(dir, `stage-${i}`);
      await mkdir(stage);
      await writeFile(join(stage, INPUT), output, { mode: 0o600 });
      await writeFile(join(stage, "kustomization.yaml"), JSON.stringify({ resources: [INPUT], patches, images }));
      try {
        const bounded = { ...limits, maxOutputBytes: Math.min(limits.maxOutputBytes, MAX_OUTPUT_BYTES) };
        output = await runKustomize(kubectl, stage, dir, bounded);
      } catch (error) {
        if (!(error instanceof BuildError)) throw error;
        throw new PostRenderError(`postRenderers[${i}]: ${error.message}`);
      }
    }
    return output;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
