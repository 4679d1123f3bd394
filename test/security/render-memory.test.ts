import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderRelease, RenderError } from "../../src/helm/render.js";
import { buildKustomization } from "../../src/render/kustomize.js";
import { defaultRenderLimits } from "../../src/render/limits.js";
import { helm, kubectl, kustomizationSpec, refusal, tempTree, versions } from "../render/helpers.js";

const MiB = 1 << 20;

// A tenant's source runs in kustomize and helm, child processes whose memory Go bounds only softly; each is stopped
// once its resident memory passes renderLimits.maxMemoryBytes, failing its render alone (Linux: read from /proc).

describe(`render memory: kustomize ${versions.kustomize} and helm stopped at renderLimits.maxMemoryBytes`, () => {
  it("stops kustomize reading a 30 MB resource under a 100 MiB limit, naming the limit", async () => {
    // Arrange: one ConfigMap of 30 MB (under maxFileBytes), which kustomize's YAML tree holds several times over
    const root = await tempTree("sluice-memory-", {
      "apps/kustomization.yaml": { resources: ["big.yaml"] },
      "apps/big.yaml": stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "big" },
        data: Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`key-${i}`, "x".repeat(1000)])),
      }),
    });
    const limits = { ...defaultRenderLimits, maxMemoryBytes: 100 * MiB };
    // Act
    const error = await refusal(buildKustomization(root, kustomizationSpec({ path: "apps" }), { kubectl, limits }));
    // Assess
    expect(error.message).toBe(
      `kustomize build used more than ${100 * MiB} bytes of memory, over the limit (renderLimits.maxMemoryBytes)`,
    );
  });

  it("stops helm template on a chart that ranges over thirty million numbers, naming the limit", async () => {
    // Arrange
    const chart = await tempTree("sluice-memory-chart-", {
      "Chart.yaml": "apiVersion: v2\nname: bomb\nversion: 0.1.0\n",
      "templates/bomb.yaml": "{{- range until 30000000 }}{{ end }}\n",
    });
    const request = {
      helm,
      chart,
      releaseName: "bomb",
      namespace: "default",
      values: {},
      kubeVersion: "v1.36.3",
      apiVersions: [],
      isUpgrade: false,
      includeCrds: false,
      workDir: await mkdtemp(join(tmpdir(), "sluice-memory-work-")),
      maxMemoryBytes: 150 * MiB,
    };
    // Act
    const error = await renderRelease(request).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(RenderError);
    expect((error as Error).message).toBe(
      `helm template used more than ${150 * MiB} bytes of memory, over the limit (renderLimits.maxMemoryBytes)`,
    );
  });
});
