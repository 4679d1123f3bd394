import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Kustomization } from "../api/kustomization.js";

/**
 * helm-controller's post-rendering (internal/postrender/build.go) for the helm binary: each
 * `spec.postRenderers[].kustomize` (patches, images) in order, then `spec.commonMetadata` labels and annotations, then
 * the origin labels every object of a HelmRelease carries. helm v4 post-renders only through a postrenderer/v1
 * plugin, so Sluice writes its own into the run's private plugin folder (no other plugin is there): a shell script
 * piping helm's output through `kubectl kustomize` once per stage, with kustomize's load restrictor on and its plugins
 * off (kubectl's defaults). Everything users set goes into JSON files, never into the script.
 */

type Spec = Kustomization["spec"];

export interface PostRendering {
  /** `spec.postRenderers[].kustomize`, in order. */
  kustomize?: { patches?: Spec["patches"]; images?: Spec["images"] }[];
  commonMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  /** The HelmRelease whose origin labels (helm.toolkit.fluxcd.io/name, /namespace) every object gets. */
  origin?: { name: string; namespace: string };
}

export const POST_RENDERER = "sluice-postrender";
const INPUT = "helm-output.yaml";
const STDERR = "stderr";
/** Of kustomize's error, enough to name the patch and what is wrong with it. */
const MAX_ERROR = 1024;

/** Writes the plugin into `pluginsDir` (HELM_PLUGINS of the run); returns helm's flags, none when nothing to do. */
export async function writePostRenderer(
  pluginsDir: string,
  kubectl: string,
  rendering: PostRendering,
): Promise<string[]> {
  const stages = kustomizations(rendering);
  if (stages.length === 0) return [];
  const dir = join(pluginsDir, POST_RENDERER);
  await mkdir(dir);
  for (const [i, stage] of stages.entries()) {
    await mkdir(join(dir, `stage-${i}`));
    for (const [name, content] of Object.entries(stage))
      await writeFile(join(dir, `stage-${i}`, name), JSON.stringify(content), { mode: 0o600 });
  }
  const plugin = {
    name: POST_RENDERER,
    version: "1.0.0",
    type: "postrenderer/v1",
    apiVersion: "v1",
    runtime: "subprocess",
    runtimeConfig: { platformCommand: [{ command: "${HELM_PLUGIN_DIR}/post-render.sh" }] },
  };
  await writeFile(join(dir, "plugin.yaml"), JSON.stringify(plugin), { mode: 0o600 });
  await writeFile(join(dir, "post-render.sh"), script(kubectl, stages.length), { mode: 0o700 });
  await chmod(join(dir, "post-render.sh"), 0o700);
  return [`--post-renderer=${POST_RENDERER}`];
}

/** The labels helm-controller sets on every object of a HelmRelease, its CRDs included. */
export function originLabels(origin: { name: string; namespace: string }): Record<string, string> {
  return { "helm.toolkit.fluxcd.io/name": origin.name, "helm.toolkit.fluxcd.io/namespace": origin.namespace };
}

/** One kustomization (file name → content) per stage, in helm-controller's order. */
function kustomizations(rendering: PostRendering): Record<string, unknown>[] {
  const stages: Record<string, unknown>[] = [];
  for (const { patches, images } of rendering.kustomize ?? []) {
    if (!patches?.length && !images?.length) continue;
    stages.push({ "kustomization.yaml": { resources: [INPUT], patches, images } });
  }
  // Metadata transformers keep the order of the objects, as helm-controller's in-memory ones do.
  const transformers: Record<string, unknown> = {};
  const { labels, annotations } = rendering.commonMetadata ?? {};
  if (labels && Object.keys(labels).length)
    transformers["common-labels.yaml"] = transformer("LabelTransformer", "common-labels", labels);
  if (annotations && Object.keys(annotations).length)
    transformers["common-annotations.yaml"] = transformer("AnnotationsTransformer", "common-annotations", annotations);
  if (rendering.origin)
    transformers["origin-labels.yaml"] = transformer(
      "LabelTransformer",
      "origin-labels",
      originLabels(rendering.origin),
    );
  if (Object.keys(transformers).length)
    stages.push({
      ...transformers,
      "kustomization.yaml": {
        resources: [INPUT],
        transformers: Object.keys(transformers),
        sortOptions: { order: "fifo" },
      },
    });
  return stages;
}

/** A builtin transformer that sets metadata only (not selectors or pod templates), as helm-controller's do. */
function transformer(
  kind: "LabelTransformer" | "AnnotationsTransformer",
  name: string,
  values: Record<string, string>,
) {
  const field = kind === "LabelTransformer" ? "labels" : "annotations";
  return {
    apiVersion: "builtin",
    kind,
    metadata: { name },
    [field]: values,
    fieldSpecs: [{ path: `metadata/${field}`, create: true }],
  };
}

/**
 * stdin through each stage; helm refuses an empty output, so an empty render (a chart of CRDs only) prints `---`.
 * helm drops a plugin's stderr, so kustomize's goes to a file that postRenderError reads.
 */
function script(kubectl: string, stages: number): string {
  const quoted = `'${kubectl.replaceAll("'", `'\\''`)}'`;
  const lines = ["#!/bin/sh", "set -e", "PATH=/usr/bin:/bin", 'd="$HELM_PLUGIN_DIR"', `exec 2>"$d/${STDERR}"`];
  lines.push(`cat > "$d/stage-0/${INPUT}"`);
  for (let i = 1; i < stages; i++) lines.push(`${quoted} kustomize "$d/stage-${i - 1}" > "$d/stage-${i}/${INPUT}"`);
  lines.push(`out=$(${quoted} kustomize "$d/stage-${stages - 1}")`);
  lines.push(`if [ -n "$out" ]; then printf '%s\\n' "$out"; else echo ---; fi`);
  return `${lines.join("\n")}\n`;
}

/** kustomize's complaint when post-rendering failed in a run whose plugins are in `pluginsDir`. */
export async function postRenderError(pluginsDir: string): Promise<string | undefined> {
  const text = await readFile(join(pluginsDir, POST_RENDERER, STDERR), "utf8").catch(() => "");
  const message = text.trim().replace(/^Error: /, "");
  return message ? message.slice(0, MAX_ERROR) : undefined;
}
