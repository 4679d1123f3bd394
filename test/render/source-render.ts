import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kustomization } from "../../src/api/kustomization.js";
import { archiveDirectory } from "../../src/artifacts/archive.js";
import { FileArtifactStore } from "../../src/artifacts/fs-artifact-store.js";
import { RenderCache } from "../../src/controllers/kustomize/render-cache.js";
import { renderKustomization, type RenderPorts } from "../../src/controllers/kustomize/render.js";
import { defaultSettings } from "../../src/controllers/settings.js";
import { kubectl, kustomizationSpec } from "./helpers.js";

/**
 * Renders of the tree at `root` as reconciles do them: archived and stored as a source's artifact, then extracted
 * by each render, all sharing `renders`. `render(name, fields)` renders a Kustomization of that name and fields.
 */
export async function sourceRenderer(root: string, renders = new RenderCache()) {
  const work = await mkdtemp(join(tmpdir(), "sluice-render-"));
  const ports = {
    artifacts: new FileArtifactStore(join(work, "artifacts")),
    secrets: undefined,
    settings: defaultSettings,
    tools: { kubectl, helm: "/nonexistent/helm" },
    workDir: join(work, "render"),
    renders,
  } as unknown as RenderPorts;
  const stored = await ports.artifacts.put("repo.tar.gz", (await archiveDirectory(root)).data);
  const artifact = { ...stored, revision: "main@sha1:0", lastUpdateTime: new Date().toISOString() };
  return (name: string, fields: Partial<Kustomization["spec"]>) => {
    const ks = { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name } };
    return renderKustomization(ports, { ...ks, spec: kustomizationSpec(fields) } as Kustomization, artifact);
  };
}
