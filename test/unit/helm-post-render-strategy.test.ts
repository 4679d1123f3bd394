import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { KustomizePostRenderer } from "../../src/helm/post-render.js";
import { postRenderRelease, type PostRenderStrategy } from "../../src/helm/post-render-strategy.js";
import { splitOutput } from "../../src/helm/render.js";
import { defaultRenderLimits } from "../../src/render/limits.js";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";

// spec.postRenderStrategy as Helm v4.2 sends a release to its post-renderers, with the real kustomize
// (kubectl kustomize): which documents a patch reaches, how they come back under their template paths,
// and helm-controller's metadata on the hooks sent through.

const output = [
  "---\n# Source: app/templates/job.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: setup\n",
  "---\n# Source: app/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n",
  '---\n# Source: app/templates/hook.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-weight: "-1"\n',
].join("");

/** A JSON patch on every Job: it reaches the hook only if the strategy sends hooks. */
const labelJobs = {
  patches: [{ target: { kind: "Job" }, patch: '[{"op":"add","path":"/metadata/labels","value":{"patched":"on"}}]' }],
};
const hookMetadata = {
  labels: { "helm.toolkit.fluxcd.io/name": "app", team: "a" },
  annotations: { owner: "payments" },
};
let kubectl: string;
let workDir: string;
beforeAll(async () => {
  kubectl = (await resolveTools({ cacheDir: cacheDir() })).kubectl;
  workDir = await mkdtemp(join(tmpdir(), "sluice-post-render-"));
});

const postRendered = (strategy: PostRenderStrategy, renderers: KustomizePostRenderer[] = [labelJobs]) =>
  postRenderRelease(splitOutput(output), {
    strategy,
    renderers,
    hookMetadata,
    kubectl,
    workDir,
    limits: defaultRenderLimits,
  });

describe("postRenderStrategy", () => {
  it("combined (the default) sends hooks and templates in one stream: the patch and Flux's metadata reach the hook", async () => {
    const rendered = await postRendered("combined");
    const [hook] = rendered.hooks;
    expect(hook).toMatchObject({
      name: "migrate",
      path: "app/templates/hook.yaml",
      weight: -1,
      events: ["pre-install"],
    });
    expect(hook!.manifest).toContain('patched: "on"'); // quoted: Go's YAML 1.1 readers would take on as true
    expect(hook!.manifest).toContain("helm.toolkit.fluxcd.io/name: app");
    expect(hook!.manifest).toContain("owner: payments");
    expect(hook!.manifest).not.toContain("postrender-filename");
    // The manifest keeps its template paths, in Helm's install order (ServiceAccount before Job).
    expect(rendered.manifest.match(/# Source: .*/g)).toEqual([
      "# Source: app/templates/sa.yaml",
      "# Source: app/templates/job.yaml",
    ]);
    expect(rendered.objects.find((o) => o.kind === "Job")?.metadata.labels).toEqual({ patched: "on" });
    expect(rendered.manifest).not.toContain("postrender-filename");
  });

  it("separate sends the hooks in a stream of their own: the patch reaches them too", async () => {
    const rendered = await postRendered("separate");
    expect(rendered.hooks[0]!.manifest).toContain('patched: "on"');
    expect(rendered.objects.find((o) => o.kind === "Job")?.metadata.labels).toEqual({ patched: "on" });
  });

  it("nohooks leaves the hooks as rendered, without Flux's metadata", async () => {
    const rendered = await postRendered("nohooks");
    expect(rendered.hooks).toEqual(splitOutput(output).hooks);
    expect(rendered.objects.find((o) => o.kind === "Job")?.metadata.labels).toEqual({ patched: "on" });
  });

  it("without a post-renderer at work, changes only the hooks' metadata (combined) and never the manifest", async () => {
    const rendered = await postRendered("combined", [{}]);
    expect(rendered.manifest).toBe(splitOutput(output).manifest);
    expect(rendered.hooks[0]!.manifest).toContain("team: a");
    expect(await postRendered("nohooks", [])).toEqual(splitOutput(output));
  });

  it("names a document a patch left without its template path as Helm does, and names the post-renderer whose patch breaks a hook", async () => {
    const strip = {
      patches: [
        {
          target: { kind: "ServiceAccount" },
          patch: '[{"op":"remove","path":"/metadata/annotations"}]',
        },
      ],
    };
    const rendered = await postRendered("separate", [strip]);
    expect(rendered.manifest).toContain("# Source: generated-by-postrender-manifests-");
    await expect(
      postRendered("combined", [{ patches: [{ target: { kind: "Job" }, patch: '[{"op":"remove","path":"/kind"}]' }] }]),
    ).rejects.toThrow(/^postRenderers\[0\]: kustomize build failed: .*missing kind/);
  });
});
