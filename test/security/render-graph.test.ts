import { execFile } from "node:child_process";
import { mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Kustomization } from "../../src/api/kustomization.js";
import { buildKustomization } from "../../src/render/kustomize.js";
import { configMap, kubectl, kustomizationSpec, refusal, versions, writeTree } from "../render/helpers.js";

const run = promisify(execFile);
const spec = (extra: Partial<Kustomization["spec"]> = {}) => kustomizationSpec({ path: "app", ...extra });

/**
 * A worker's scratch space as the reconciler lays it out: two extracted sources side by side. Tenant B
 * holds a secret app (a kustomization folder) and a secret file; tenant A's `files` are the attack.
 */
async function twoTenants(files: Record<string, unknown>): Promise<{ a: string; b: string }> {
  const work = await mkdtemp(join(tmpdir(), "sluice-tenants-"));
  const a = join(work, "sources", "tenant-a");
  const b = join(work, "sources", "tenant-b");
  await writeTree(b, {
    "secret-app/kustomization.yaml": { resources: ["cm.yaml"] },
    "secret-app/cm.yaml": configMap("tenant-b-secret", { token: "b-token" }),
    "secret.yaml": configMap("tenant-b-file"),
  });
  await writeTree(a, { "app/cm.yaml": configMap("tenant-a"), ...files });
  return { a, b };
}

const kustomization = (fields: Record<string, unknown>) => ({
  "app/kustomization.yaml": { resources: ["cm.yaml"], ...fields },
});
const escape = "../../tenant-b/secret-app";

describe(`kustomization graph confined to the source root (kustomize ${versions.kustomize})`, () => {
  it("raw kustomize with LoadRestrictionsRootOnly does load a folder of another tenant: the reason for the graph check", async () => {
    // Arrange
    const { a } = await twoTenants(kustomization({ resources: ["cm.yaml", escape] }));
    // Act
    const { stdout } = await run(kubectl, [
      "kustomize",
      join(a, "app"),
      "--load-restrictor",
      "LoadRestrictionsRootOnly",
    ]);
    // Assess
    expect(stdout).toContain("b-token");
  });

  it.each(["resources", "bases", "components", "generators", "transformers", "validators"])(
    "refuses a %s entry reaching another tenant's kustomization folder, naming the file, the field and the entry",
    async (field) => {
      // Arrange
      const { a } = await twoTenants(
        kustomization(field === "resources" ? { resources: ["cm.yaml", escape] } : { [field]: [escape] }),
      );
      // Act
      const error = await refusal(buildKustomization(a, spec(), { kubectl }));
      // Assess
      expect(error.message).toBe(`app/kustomization.yaml: ${field} entry '${escape}' points outside the source`);
    },
  );

  it.each([
    ["crds", { crds: ["../../tenant-b/secret.yaml"] }],
    ["configurations", { configurations: ["../../tenant-b/secret.yaml"] }],
    ["openapi.path", { openapi: { path: "../../tenant-b/secret.yaml" } }],
    ["patchesStrategicMerge", { patchesStrategicMerge: ["../../tenant-b/secret.yaml"] }],
    ["patches.path", { patches: [{ path: "../../tenant-b/secret.yaml" }] }],
    [
      "patchesJson6902.path",
      { patchesJson6902: [{ path: "../../tenant-b/secret.yaml", target: { kind: "ConfigMap", name: "tenant-a" } }] },
    ],
    ["replacements.path", { replacements: [{ path: "../../tenant-b/secret.yaml" }] }],
    [
      "configMapGenerator.files",
      { configMapGenerator: [{ name: "stolen", files: ["token=../../tenant-b/secret.yaml"] }] },
    ],
    ["configMapGenerator.envs", { configMapGenerator: [{ name: "stolen", envs: ["../../tenant-b/secret.yaml"] }] }],
    ["secretGenerator.env", { secretGenerator: [{ name: "stolen", env: "../../tenant-b/secret.yaml" }] }],
  ])("refuses a %s path outside the source before kustomize reads it", async (field, fields) => {
    // Arrange
    const { a } = await twoTenants(kustomization(fields));
    // Act
    const error = await refusal(buildKustomization(a, spec(), { kubectl }));
    // Assess
    expect(error.message).toMatch(
      new RegExp(
        `^app/kustomization.yaml: ${field.replace(".", "\\.")} entry '(token=)?\\.\\./\\.\\./tenant-b/secret.yaml' points outside the source$`,
      ),
    );
  });

  it("refuses an escape hidden in a local base, naming the nested kustomization file", async () => {
    // Arrange
    const { a } = await twoTenants({
      "app/kustomization.yaml": { resources: ["../base"] },
      "base/kustomization.yaml": { resources: ["../../tenant-b/secret-app"] },
    });
    // Act
    const error = await refusal(buildKustomization(a, spec(), { kubectl }));
    // Assess
    expect(error.message).toBe(
      "base/kustomization.yaml: resources entry '../../tenant-b/secret-app' points outside the source",
    );
  });

  it("refuses an escape even when the target does not exist, so nothing tells what exists outside", async () => {
    const { a } = await twoTenants(kustomization({ resources: ["cm.yaml", "../../tenant-c/nothing-here"] }));
    expect((await refusal(buildKustomization(a, spec(), { kubectl }))).message).toMatch(
      /resources entry '..\/..\/tenant-c\/nothing-here' points outside the source/,
    );
  });

  it.each([
    ["an absolute folder", { resources: ["cm.yaml", "/etc"] }, /resources entry '\/etc' is an absolute path/],
    [
      "an absolute file",
      { configurations: ["/etc/passwd"] },
      /configurations entry '\/etc\/passwd' is an absolute path/,
    ],
    [
      "a file:// base, even with remote bases allowed",
      { resources: ["cm.yaml", "file:///etc"] },
      /resources entry 'file:\/\/\/etc' is a file:\/\/ base/,
    ],
    [
      "a git::file:// base",
      { components: ["git::file:///srv/repo"] },
      /components entry 'git::file:\/\/\/srv\/repo' is a file:\/\/ base/,
    ],
  ])("refuses %s", async (_case, fields, message) => {
    const { a } = await twoTenants(kustomization(fields));
    expect((await refusal(buildKustomization(a, spec(), { kubectl }))).message).toMatch(message);
  });

  it("refuses a symlink in the source that resolves to another tenant, before kustomize runs", async () => {
    // Arrange
    const { a, b } = await twoTenants(kustomization({ resources: ["cm.yaml", "linked"] }));
    await symlink(join(b, "secret-app"), join(a, "app", "linked"));
    // Act
    const error = await refusal(buildKustomization(a, spec(), { kubectl }));
    // Assess
    expect(error.message).toBe("app/linked is a symlink to outside the source");
  });

  it("refuses a dangling symlink pointing outside the source (something could appear there while kustomize runs)", async () => {
    const { a } = await twoTenants(kustomization({ resources: ["cm.yaml", "later"] }));
    await symlink("../../tenant-c/not-yet", join(a, "app", "later"));
    expect((await refusal(buildKustomization(a, spec(), { kubectl }))).message).toBe(
      "app/later is a symlink to outside the source",
    );
  });

  it("reads a kustomization file that is a symlink as kustomize does, and refuses the escape in it", async () => {
    // Arrange
    const { a } = await twoTenants({
      "app/kustomization.yaml": { resources: ["cm.yaml", "../base"] },
      "base/real.yaml": { resources: ["../../tenant-b/secret-app"] },
    });
    await symlink("real.yaml", join(a, "base", "kustomization.yaml"));
    // Act
    const error = await refusal(buildKustomization(a, spec(), { kubectl }));
    // Assess
    expect(error.message).toBe(
      "base/kustomization.yaml: resources entry '../../tenant-b/secret-app' points outside the source",
    );
  });

  it("refuses spec.path through a symlinked folder that leaves the source", async () => {
    const { a, b } = await twoTenants({});
    await symlink(b, join(a, "elsewhere"));
    expect((await refusal(buildKustomization(a, spec({ path: "elsewhere/secret-app" }), { kubectl }))).message).toBe(
      "spec.path: 'elsewhere/secret-app' points outside the source",
    );
  });

  it("follows symlinks and .. that stay inside the source, and renders", async () => {
    // Arrange
    const { a } = await twoTenants({
      "app/kustomization.yaml": { resources: ["cm.yaml", "../shared/../base", "linked-base"] },
      "base/kustomization.yaml": { resources: ["x.yaml"] },
      "base/x.yaml": configMap("x"),
      "other/kustomization.yaml": { resources: ["y.yaml"] },
      "other/y.yaml": configMap("y"),
      "shared/.keep": "",
    });
    await symlink("../other", join(a, "app", "linked-base"));
    // Act
    const objects = await buildKustomization(a, spec(), { kubectl });
    // Assess
    expect(objects.map((o) => o.metadata.name).sort()).toEqual(["tenant-a", "x", "y"]);
  });

  it.each([
    [
      "a key in another case (Go's JSON decoding matches keys case-insensitively)",
      "Resources:\n- cm.yaml\n- ../../../tenant-b/secret-app\n",
      /^app\/base\/kustomization.yaml: resources entry '..\/..\/..\/tenant-b\/secret-app' points outside the source$/,
    ],
    [
      "a key spelt with a Unicode letter that folds to ASCII (ſ is s to Go)",
      "reſources:\n- ../../../tenant-b/secret-app\n",
      /resources entry '..\/..\/..\/tenant-b\/secret-app' points outside the source/,
    ],
    [
      "a merge key hiding the field in an anchor",
      "hidden: &h\n  resources: ['../../../tenant-b/secret-app']\n<<: *h\n",
      /resources entry/,
    ],
    [
      "a !!binary entry Go decodes and JavaScript would not",
      "resources:\n- cm.yaml\n- !!binary Li4vLi4vLi4vdGVuYW50LWIvc2VjcmV0LWFwcA==\n",
      /^app\/base\/kustomization.yaml: explicit YAML tag at line 3, column \d+: tags are not allowed in a kustomization file$/,
    ],
    [
      "a !!binary key",
      "!!binary cmVzb3VyY2Vz:\n- ../../../tenant-b/secret-app\n",
      /explicit YAML tag at line 1, column \d+/,
    ],
    [
      "two YAML documents (kustomize reads the first)",
      "resources: [cm.yaml]\n---\nresources: ['../../../tenant-b/secret-app']\n",
      /holds one YAML document, not 2/,
    ],
  ])("reads the kustomization file as kustomize does and refuses the escape: %s", async (_case, text, message) => {
    const { a } = await twoTenants({
      "app/kustomization.yaml": "resources: [cm.yaml]\n",
      "app/base/kustomization.yaml": text,
      "app/base/cm.yaml": stringify(configMap("c")),
    });
    await writeTree(a, { "app/kustomization.yaml": { resources: ["cm.yaml", "base"] } });
    expect((await refusal(buildKustomization(a, spec(), { kubectl }))).message).toMatch(message);
  });

  it("ends on a cycle of kustomization folders with a BuildError instead of walking forever", async () => {
    const { a } = await twoTenants({
      "app/kustomization.yaml": { resources: ["../loop"] },
      "loop/kustomization.yaml": { resources: ["../app"] },
    });
    await refusal(buildKustomization(a, spec(), { kubectl }));
  });
});
