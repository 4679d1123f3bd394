import { mkdtemp, readdir, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Kustomization } from "../../src/api/kustomization.js";
import { linkPaths } from "../../src/artifacts/link-tree.js";
import { buildKustomization, reachedPaths } from "../../src/render/kustomize.js";
import {
  configMap,
  kubectl,
  kustomizationSpec as spec,
  refusal,
  tempTree,
  versions,
  writeTree,
} from "../render/helpers.js";
import { sourceRenderer } from "../render/source-render.js";

/** A fleet repo: many apps beside the one rendered, which reaches a shared base, a component and generator files. */
const fleet = (app: Record<string, unknown>) => ({
  ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`apps/app-${i}/app.yaml`, configMap(`app-${i}`)])),
  "base/kustomization.yaml": { resources: ["cm.yaml"] },
  "base/cm.yaml": configMap("base"),
  "components/label/kustomization.yaml": {
    apiVersion: "kustomize.config.k8s.io/v1alpha1",
    kind: "Component",
    commonLabels: { tier: "web" },
  },
  "shared/patch.yaml": { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "web" }, data: { leaked: "yes" } },
  ...app,
});

/** A render as a reconcile does it: the tree archived and stored as the source's artifact, then extracted. */
async function render(root: string, fields: Partial<Kustomization["spec"]>) {
  return (await sourceRenderer(root))("app", fields);
}

/** The render as it was before: kustomize on a hard-linked copy of the whole source. */
async function renderWholeCopy(root: string, fields: Partial<Kustomization["spec"]>) {
  const copy = join(await mkdtemp(join(tmpdir(), "sluice-reach-whole-")), "src");
  await linkPaths(root, copy, { folders: [""], files: [] });
  return buildKustomization(copy, spec(fields), { kubectl });
}

describe(`a render links only what its kustomization graph reaches (kustomize ${versions.kustomize})`, () => {
  it("reaches the app's folder, its base, its component and the files below them, not the other apps", async () => {
    // Arrange
    const root = await tempTree("sluice-reach-", {
      ...fleet({}),
      "apps/app-0/kustomization.yaml": {
        resources: ["app.yaml", "../../base"],
        configMapGenerator: [{ name: "settings", files: ["config/settings.properties"] }],
      },
      "apps/app-0/config/settings.properties": "mode=fleet\n",
    });
    const fields = { path: "./apps/app-0", targetNamespace: "team-a", components: ["../../components/label"] };
    // Act
    const reached = await reachedPaths(root, spec(fields), {});
    const objects = await render(root, fields);
    // Assess
    expect(reached.folders.sort()).toEqual(["apps/app-0", "base", "components/label"]);
    expect(reached.files.sort()).toEqual([
      "apps/app-0/app.yaml",
      "apps/app-0/config/settings.properties",
      "base/cm.yaml",
    ]);
    expect(objects.cached).toBe(false);
    expect(objects.objects.map((o) => [o.metadata.name.replace(/-[a-z0-9]{10}$/, ""), o.metadata.namespace])).toEqual([
      ["app-0", "team-a"],
      ["base", "team-a"],
      ["settings", "team-a"],
    ]);
    expect(objects.objects.every((o) => o.metadata.labels?.tier === "web")).toBe(true);
    expect(objects.objects).toEqual(await renderWholeCopy(root, fields));
  });

  it("renders a plain app folder with targetNamespace from a copy of that folder alone", async () => {
    // Arrange
    const root = await tempTree("sluice-reach-", fleet({}));
    const fields = { path: "./apps/app-7", targetNamespace: "team-b" };
    // Act
    const reached = await reachedPaths(root, spec(fields), {});
    const objects = await render(root, fields);
    // Assess
    expect(reached).toEqual({ folders: ["apps/app-7"], files: ["apps/app-7/app.yaml"] });
    expect(objects.objects).toEqual([{ ...configMap("app-7"), metadata: { name: "app-7", namespace: "team-b" } }]);
  });

  it("fails a file reference outside the kustomization's folder as kustomize's load restrictor did, leaking nothing", async () => {
    // Arrange: the patch exists in the source but outside the app's root, where kustomize may not read it.
    const root = await tempTree("sluice-reach-", {
      ...fleet({}),
      "apps/web/kustomization.yaml": { resources: ["cm.yaml"], patches: [{ path: "../../shared/patch.yaml" }] },
      "apps/web/cm.yaml": configMap("web"),
    });
    const fields = { path: "./apps/web", targetNamespace: "team-a" };
    // Act
    const now = await render(root, fields).catch((e: unknown) => e);
    const before = await renderWholeCopy(root, fields).catch((e: unknown) => e);
    // Assess: the same refusal as with the whole source copied, not a missing file.
    expect(String(now)).toContain("is not in or below");
    expect(String(now)).toBe(String(before));
    expect(String(now)).not.toContain("leaked");
  });

  it("refuses ../../ escapes out of the source before anything is linked, with the message it gave before", async () => {
    // Arrange
    const parent = await mkdtemp(join(tmpdir(), "sluice-reach-escape-"));
    const root = join(parent, "repo");
    await writeTree(parent, {
      "other-tenant/kustomization.yaml": { resources: ["cm.yaml"] },
      "other-tenant/cm.yaml": configMap("other-tenant-secret"),
    });
    await writeTree(root, {
      ...fleet({}),
      "apps/web/kustomization.yaml": { resources: ["../../../other-tenant"] },
      "apps/bad-component/app.yaml": configMap("x"),
    });
    // Act
    const escape = await refusal(reachedPaths(root, spec({ path: "./apps/web", targetNamespace: "a" }), {}));
    const before = await renderWholeCopy(root, { path: "./apps/web", targetNamespace: "a" }).catch((e: unknown) => e);
    const component = await refusal(
      reachedPaths(root, spec({ path: "./apps/bad-component", components: ["../../../other-tenant"] }), {}),
    );
    // Assess
    expect(escape.message).toBe(
      "apps/web/kustomization.yaml: resources entry '../../../other-tenant' points outside the source",
    );
    expect(String(before)).toBe(`BuildError: ${escape.message}`);
    expect(component.message).toBe("spec.components: '../../../other-tenant' points outside the source");
  });

  it("refuses a symlinked folder leading out of the source, and never recreates one inside the copy", async () => {
    // Arrange: extraction refuses symlinks, so only a tree built otherwise can hold one.
    const parent = await mkdtemp(join(tmpdir(), "sluice-reach-link-"));
    await writeTree(parent, { "other-tenant/kustomization.yaml": { resources: ["cm.yaml"] } });
    await writeTree(parent, { "other-tenant/cm.yaml": configMap("other-tenant-secret") });
    const root = join(parent, "repo");
    await writeTree(root, {
      ...fleet({}),
      "apps/out/kustomization.yaml": { resources: ["tenant"] },
      "apps/in/kustomization.yaml": { resources: ["base"] },
    });
    await symlink(join(parent, "other-tenant"), join(root, "apps/out/tenant"));
    await symlink("../../base", join(root, "apps/in/base"));
    // Act
    const out = await refusal(reachedPaths(root, spec({ path: "./apps/out", targetNamespace: "a" }), {}));
    const inside = await reachedPaths(root, spec({ path: "./apps/in", targetNamespace: "a" }), {});
    const copy = join(await mkdtemp(join(tmpdir(), "sluice-reach-copy-")), "src");
    await linkPaths(root, copy, inside);
    // Assess: the link's target is reached by its real path; the copy holds no symlink to follow.
    expect(out.message).toBe("apps/out/kustomization.yaml: resources entry 'tenant' points outside the source");
    expect(inside.folders.sort()).toEqual(["apps/in", "base"]);
    const entries = await readdir(copy, { recursive: true, withFileTypes: true });
    expect(entries.filter((e) => e.isSymbolicLink())).toEqual([]);
    expect(entries.map((e) => e.name).sort()).toEqual([
      "apps",
      "base",
      "cm.yaml",
      "in",
      "kustomization.yaml",
      "kustomization.yaml",
    ]);
  });
});
