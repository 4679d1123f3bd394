import { truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Kustomization } from "../../src/api/kustomization.js";
import { buildKustomization } from "../../src/render/kustomize.js";
import { defaultRenderLimits, type RenderLimits } from "../../src/render/limits.js";
import { aliasBomb, configMap, kubectl, kustomizationSpec, refusal, tempTree, versions } from "../render/helpers.js";

/** kustomize must not even start for a check that comes first. */
const noKubectl = "/nonexistent/kubectl";
const spec = (extra: Partial<Kustomization["spec"]> = {}) => kustomizationSpec({ path: "apps", ...extra });
const limits = (extra: Partial<RenderLimits>): RenderLimits => ({ ...defaultRenderLimits, ...extra });
const tree = (files: Record<string, unknown>) => tempTree("sluice-limits-", files);

describe(`render limits: hostile sources fail as BuildError naming the limit (kustomize ${versions.kustomize})`, () => {
  it("refuses a 200 MB file by its size before reading it, in a plain folder and in a kustomize tree, with the heap untouched", async () => {
    // Arrange: sparse files, 200 MB by size and none on disk.
    const plain = await tree({ "apps/ok.yaml": configMap("ok") });
    const kustomized = await tree({
      "apps/kustomization.yaml": { resources: ["ok.yaml"] },
      "apps/ok.yaml": configMap("ok"),
      "docs/unrelated.yaml": "",
    });
    await writeFile(join(plain, "apps/big.yaml"), "");
    await truncate(join(plain, "apps/big.yaml"), 200 << 20);
    await truncate(join(kustomized, "docs/unrelated.yaml"), 200 << 20);
    const heapBefore = process.memoryUsage().heapUsed;
    // Act
    const plainError = await refusal(buildKustomization(plain, spec(), { kubectl: noKubectl }));
    const treeError = await refusal(buildKustomization(kustomized, spec(), { kubectl: noKubectl }));
    // Assess
    expect(plainError.message).toBe(
      "apps/big.yaml is 209715200 bytes, over the 33554432-byte limit (renderLimits.maxFileBytes)",
    );
    expect(treeError.message).toBe(
      "docs/unrelated.yaml is 209715200 bytes, over the 33554432-byte limit (renderLimits.maxFileBytes)",
    );
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(16 << 20);
  });

  it.each([
    ["a plain folder", { "apps/bomb.yaml": aliasBomb }],
    [
      "a kustomization file",
      {
        "apps/kustomization.yaml": `resources: [cm.yaml]\n${aliasBomb.split("\n").slice(3, -1).join("\n")}\n`,
        "apps/cm.yaml": configMap("cm"),
      },
    ],
  ])("refuses a YAML alias bomb in %s at renderLimits.maxAliases", async (_case, files) => {
    const error = await refusal(buildKustomization(await tree(files), spec(), { kubectl: noKubectl }));
    expect(error.message).toMatch(
      /^apps\/(bomb|kustomization)\.yaml: document 1 expands YAML aliases more than 100 times, over the limit \(renderLimits\.maxAliases\)$/,
    );
  });

  it.each([
    ["a resource", { resources: ["bomb.yaml"] }],
    ["a patch", { resources: ["cm.yaml"], patches: [{ path: "bomb.yaml" }] }],
    ["a strategic merge patch", { resources: ["cm.yaml"], patchesStrategicMerge: ["bomb.yaml"] }],
  ])(
    "refuses an alias bomb kustomize would read as %s before kustomize starts (its Go decoder expands it for minutes)",
    async (_case, kustomization) => {
      const error = await refusal(
        buildKustomization(
          await tree({
            "apps/kustomization.yaml": kustomization,
            "apps/bomb.yaml": aliasBomb,
            "apps/cm.yaml": configMap("cm"),
          }),
          spec(),
          {
            kubectl: noKubectl,
          },
        ),
      );
      expect(error.message).toBe(
        "apps/bomb.yaml: document 1 expands YAML aliases more than 100 times, over the limit (renderLimits.maxAliases)",
      );
    },
  );

  it("leaves YAML files whose aliases stay within the limits to kustomize", async () => {
    const text =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: &d {a: '1'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: copy}\ndata: {b: '*not-an-alias', c: \"x *y\"}\n";
    const objects = await buildKustomization(
      await tree({ "apps/kustomization.yaml": { resources: ["cm.yaml"] }, "apps/cm.yaml": text }),
      spec(),
      { kubectl },
    );
    expect(objects.map((o) => o.metadata.name)).toEqual(["copy", "shared"]);
  });

  it("counts aliases as expanded against renderLimits.maxOutputBytes, so 100 aliases of a large value cannot multiply it", async () => {
    const big = "x".repeat(200_000);
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wide}\nbig: &big {v: "${big}"}\ndata:\n${Array.from({ length: 90 }, (_, i) => `  k${i}: *big`).join("\n")}\n`;
    const error = await refusal(
      buildKustomization(await tree({ "apps/wide.yaml": text }), spec(), {
        kubectl: noKubectl,
        limits: limits({ maxOutputBytes: 8 << 20 }),
      }),
    );
    expect(error.message).toBe(
      "apps/wide.yaml: the rendered YAML is over the 8388608-byte limit (renderLimits.maxOutputBytes)",
    );
  });

  it("refuses an alias that refers to its own ancestor (a cycle JSON cannot hold)", async () => {
    const error = await refusal(
      buildKustomization(
        await tree({
          "apps/cycle.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: &d {self: *d}\n",
        }),
        spec(),
        {
          kubectl: noKubectl,
        },
      ),
    );
    expect(error.message).toBe("apps/cycle.yaml: a YAML alias refers to its own ancestor (a cycle)");
  });

  it("stops at renderLimits.maxDocuments in a file of 200,000 documents, without a stack overflow", async () => {
    const text = Array.from(
      { length: 200_000 },
      (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}}\n`,
    ).join("---\n");
    const error = await refusal(
      buildKustomization(await tree({ "apps/many.yaml": text }), spec(), { kubectl: noKubectl }),
    );
    expect(error.message).toBe(
      "apps/many.yaml: the render has more than 20000 YAML documents, over the limit (renderLimits.maxDocuments)",
    );
  });

  it("counts documents across the files of a render and in kustomize's output", async () => {
    const files: Record<string, unknown> = {};
    for (let i = 0; i < 6; i++) files[`apps/cm-${i}.yaml`] = configMap(`cm-${i}`);
    const plain = await refusal(
      buildKustomization(await tree(files), spec(), { kubectl: noKubectl, limits: limits({ maxDocuments: 5 }) }),
    );
    const viaKustomize = await refusal(
      buildKustomization(
        await tree({ ...files, "apps/kustomization.yaml": { resources: Object.keys(files).map((f) => f.slice(5)) } }),
        spec(),
        {
          kubectl,
          limits: limits({ maxDocuments: 5 }),
        },
      ),
    );
    expect(plain.message).toBe(
      "apps/cm-5.yaml: the render has more than 5 YAML documents, over the limit (renderLimits.maxDocuments)",
    );
    expect(viaKustomize.message).toBe(
      "kustomize output: the render has more than 5 YAML documents, over the limit (renderLimits.maxDocuments)",
    );
  });

  it("refuses flow collections nested a million deep without exhausting memory", async () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: ${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}\n`;
    const error = await refusal(
      buildKustomization(await tree({ "apps/deep.yaml": text }), spec(), { kubectl: noKubectl }),
    );
    expect(error.message).toBe("apps/deep.yaml: document 1 nests flow collections deeper than 256 levels");
  });

  it("refuses a single document of millions of tiny tokens before the parser holds it all", async () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flat}\nitems: [${"1,".repeat(2_000_000)}1]\n`;
    const error = await refusal(
      buildKustomization(await tree({ "apps/flat.yaml": text }), spec(), { kubectl: noKubectl }),
    );
    expect(error.message).toBe(
      "apps/flat.yaml: document 1 has more than 500000 YAML tokens, more than a Kubernetes object holds",
    );
  });

  it.each([
    [
      "a plain folder",
      {
        "apps/secret.yaml":
          "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: hunter2-is-the-secret: oops\n",
      },
      /^apps\/secret\.yaml: invalid YAML at line 5, column \d+: [a-z ]+ \([A-Z_]+\)$/,
    ],
    [
      "a kustomization file",
      { "apps/kustomization.yaml": "resources: [cm.yaml]\npassword: hunter2-is-the-secret: oops\n" },
      /^apps\/kustomization\.yaml: invalid YAML at line 2, column \d+: [a-z ]+ \([A-Z_]+\)$/,
    ],
    [
      "a resource kustomize reads",
      {
        "apps/kustomization.yaml": { resources: ["secret.yaml"] },
        "apps/secret.yaml":
          "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: hunter2-is-the-secret: oops\n",
      },
      /^kustomize build failed/,
    ],
  ])(
    "reports a YAML error in %s by file, line, column and code, never quoting the line",
    async (_case, files, message) => {
      const error = await refusal(buildKustomization(await tree(files), spec(), { kubectl }));
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("hunter2");
    },
  );
});
