import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { BuildError, buildKustomization } from "../../src/render/kustomize.js";
import { configMap, kubectl, kustomizationSpec as spec, tempTree, versions } from "./helpers.js";

const tree = (files: Record<string, unknown>) => tempTree("sluice-render-", files);
const deployment = (name: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name },
  spec: {
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: "app", image: "ghcr.io/example/app:1.0.0" }] },
    },
  },
});

describe(`kustomize build as kustomize-controller does it (kustomize ${versions.kustomize})`, () => {
  it("generates a kustomization.yaml from the YAML files, taking sub-folders with their own kustomization as one resource", async () => {
    // Arrange
    const root = await tree({
      "apps/a.yaml": configMap("a"),
      "apps/nested/b.yml": configMap("b"),
      "apps/base/kustomization.yaml": { resources: ["c.yaml"] },
      "apps/base/c.yaml": configMap("c"),
      "apps/base/ignored.yaml": configMap("not-listed"),
      "apps/README.md": "# not YAML",
    });
    // Act
    const objects = await buildKustomization(root, spec({ path: "./apps" }), { kubectl });
    // Assess
    expect(objects.map((o) => o.metadata.name).sort()).toEqual(["a", "b", "c"]);
  });

  it("renders a plain folder without starting kustomize, to the same objects kustomize gives (List expanded)", async () => {
    // Arrange
    const files = {
      "app/a.yaml": stringify(configMap("a")),
      "app/list.yaml": stringify({ apiVersion: "v1", kind: "List", items: [configMap("b"), configMap("c")] }),
    };
    const viaKustomize = await tree({ ...files, "app/kustomization.yaml": { resources: ["a.yaml", "list.yaml"] } });
    // Act
    const fast = await buildKustomization(await tree(files), spec({ path: "app" }), {
      kubectl: "/nonexistent/kubectl",
    });
    const slow = await buildKustomization(viaKustomize, spec({ path: "app" }), { kubectl });
    // Assess
    expect(fast).toEqual(slow);
  });

  it("overlays targetNamespace, namePrefix/nameSuffix, patches with targets, images and commonMetadata", async () => {
    // Arrange
    const root = await tree({
      "app/kustomization.yaml": {
        resources: ["deploy.yaml", "cm.yaml"],
        images: [{ name: "ghcr.io/example/app", newTag: "0.9.0" }],
      },
      "app/deploy.yaml": deployment("web"),
      "app/cm.yaml": configMap("settings"),
    });
    // Act
    const objects = await buildKustomization(
      root,
      spec({
        path: "app",
        targetNamespace: "team-a",
        namePrefix: "pre-",
        nameSuffix: "-suf",
        images: [{ name: "ghcr.io/example/app", newTag: "2.0.0" }],
        patches: [
          { patch: "- op: add\n  path: /data/b\n  value: '2'", target: { kind: "ConfigMap" } },
          {
            patch: stringify({
              apiVersion: "apps/v1",
              kind: "Deployment",
              metadata: { name: "web" },
              spec: { replicas: 3 },
            }),
          },
        ],
        commonMetadata: { labels: { team: "a" }, annotations: { owner: "platform" } },
      }),
      { kubectl },
    );
    // Assess
    const byKind = Object.fromEntries(objects.map((o) => [o.kind, o]));
    expect(byKind.Deployment?.metadata).toMatchObject({
      name: "pre-web-suf",
      namespace: "team-a",
      labels: { team: "a" },
      annotations: { owner: "platform" },
    });
    expect(byKind.Deployment).toMatchObject({
      spec: { replicas: 3, template: { spec: { containers: [{ image: "ghcr.io/example/app:2.0.0" }] } } },
    });
    expect(byKind.ConfigMap).toMatchObject({
      metadata: { name: "pre-settings-suf", namespace: "team-a" },
      data: { a: "1", b: "2" },
    });
  });

  it("adds components, and skips missing ones only when ignoreMissingComponents is set", async () => {
    // Arrange
    const files = {
      "app/kustomization.yaml": { resources: ["cm.yaml"] },
      "app/cm.yaml": configMap("settings"),
      "components/extra/kustomization.yaml": {
        apiVersion: "kustomize.config.k8s.io/v1alpha1",
        kind: "Component",
        patches: [{ patch: "- op: add\n  path: /data/extra\n  value: 'yes'", target: { kind: "ConfigMap" } }],
      },
    };
    // Act
    const objects = await buildKustomization(
      await tree(files),
      spec({
        path: "app",
        components: ["../components/extra", "../components/missing"],
        ignoreMissingComponents: true,
      }),
      { kubectl },
    );
    const failure = buildKustomization(
      await tree(files),
      spec({ path: "app", components: ["../components/missing"] }),
      { kubectl },
    );
    // Assess
    expect(objects[0]).toMatchObject({ data: { a: "1", extra: "yes" } });
    await expect(failure).rejects.toThrow(/spec.components: '..\/components\/missing' does not exist/);
  });

  it.each([
    [
      "a path that is not in the source",
      { "a.yaml": configMap("a") },
      "missing",
      /spec.path: 'missing' is not a directory/,
    ],
    ["a path escaping the source", { "a.yaml": configMap("a") }, "../..", /points outside the source/],
    [
      "a YAML file that is not Kubernetes YAML",
      { "app/bad.yaml": "just: a map\n" },
      "app",
      /failed to decode Kubernetes YAML from app\/bad.yaml: a document lacks apiVersion or kind/,
    ],
    [
      "a resource kustomize cannot find",
      { "app/kustomization.yaml": { resources: ["gone.yaml"] } },
      "app",
      /kustomize build failed: .*gone.yaml/,
    ],
    [
      "a file outside the kustomization root (load restrictor)",
      { "app/kustomization.yaml": { resources: ["../secret.yaml"] }, "secret.yaml": configMap("s") },
      "app",
      /kustomize build failed: .*(restrict|outside|not in or below)/,
    ],
  ])("fails with a BuildError naming the problem: %s", async (_case, files, path, message) => {
    await expect(buildKustomization(await tree(files), spec({ path }), { kubectl })).rejects.toThrow(message);
    await expect(buildKustomization(await tree(files), spec({ path }), { kubectl })).rejects.toBeInstanceOf(BuildError);
  });

  it("refuses remote bases when they are disabled, and names the file and the base", async () => {
    const root = await tree({
      "app/kustomization.yaml": { resources: ["cm.yaml", "https://github.com/example/repo//deploy?ref=v1"] },
      "app/cm.yaml": configMap("a"),
    });
    await expect(buildKustomization(root, spec({ path: "app" }), { kubectl, noRemoteBases: true })).rejects.toThrow(
      "app/kustomization.yaml: resources entry 'https://github.com/example/repo//deploy?ref=v1' is a remote base, and remote bases are disabled",
    );
  });
});
