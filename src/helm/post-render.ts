import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Kustomization } from "../api/kustomization.js";

// helm-controller's post-renderers (internal/postrender): each `spec.postRenderers[].kustomize`
// (patches, images) applied in order to the rendered manifest by the real kustomize (`kubectl
// kustomize`, its load restrictor on and plugins off, kubectl's defaults). Everything a user set goes
// into kustomization files as JSON, never onto a command line.

const run = promisify(execFile);
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
const MAX_OUTPUT_BYTES = 64 << 20;

/** The manifest after every post-renderer that has something to do, in order; unchanged when none has. */
export async function postRender(
  kubectl: string,
  workDir: string,
  manifest: string,
  renderers: KustomizePostRenderer[],
): Promise<string> {
  const stages = [...renderers.entries()].filter(([, r]) => r.patches?.length || r.images?.length);
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
        ({ stdout: output } = await run(kubectl, ["kustomize", stage], {
          maxBuffer: MAX_OUTPUT_BYTES,
          timeout: 60_000,
        }));
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? (error as Error).message;
        throw new PostRenderError(
          `postRenderers[${i}]: ${stderr
            .trim()
            .replace(/^error: /i, "")
            .slice(0, 1_024)}`,
        );
      }
    }
    return output;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
