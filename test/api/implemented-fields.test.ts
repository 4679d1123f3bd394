import { describe, expect, it } from "vitest";
import type { Kustomization } from "../../src/api/kustomization.js";
import { customHealth, HealthExpressionError } from "../../src/apply/health/expressions.js";
import { substitutionVariables } from "../../src/controllers/kustomize/render.js";
import { buildKustomization } from "../../src/render/kustomize.js";
import type { Secrets } from "../../src/secrets/secrets.js";
import { configMap, kubectl, kustomizationSpec, tempTree, versions } from "../render/helpers.js";

// Flux v2.9 fields Sluice lacked and now implements as kustomize-controller v1.9.4 does:
// buildMetadata, healthCheckExprs without kind, and postBuild's substituteStrategy.

const ks = (spec: Partial<Kustomization["spec"]>): Kustomization => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace: "flux-system" },
  spec: kustomizationSpec(spec),
});

/** ConfigMaps and Secrets by name, as the cluster would answer substituteFrom. */
const secrets = (data: Record<string, Record<string, string>>): Secrets => ({
  secret: async ({ name }) => data[name],
  configMap: async ({ name }) => data[name],
});

describe(`Flux fields Sluice implements (kustomize ${versions.kustomize})`, () => {
  it("buildMetadata: kustomize records each object's origin, in a folder with a kustomization and in one without", async () => {
    // Prepare
    const root = await tempTree("sluice-build-metadata-", {
      "plain/cm.yaml": configMap("plain"),
      "kustomized/kustomization.yaml": { resources: ["cm.yaml"], buildMetadata: ["transformerAnnotations"] },
      "kustomized/cm.yaml": configMap("kustomized"),
    });
    const spec = (path: string) => kustomizationSpec({ path, buildMetadata: ["originAnnotations"] });
    // Act
    const [plain] = await buildKustomization(root, spec("plain"), { kubectl });
    const [kustomized] = await buildKustomization(root, spec("kustomized"), { kubectl });
    // Assess: Flux's list replaces the kustomization's own
    expect(plain?.metadata.annotations?.["config.kubernetes.io/origin"]).toContain("path: cm.yaml");
    expect(kustomized?.metadata.annotations?.["config.kubernetes.io/origin"]).toContain("path: cm.yaml");
    expect(Object.keys(kustomized?.metadata.annotations ?? {})).toEqual(["config.kubernetes.io/origin"]);
  });

  it("healthCheckExprs: rules apply by API group and kind, any version; a rule without kind covers the group's other kinds", () => {
    const health = customHealth([
      { apiVersion: "example.io/v1", current: "status.phase == 'Ready'" },
      { apiVersion: "example.io/v1beta1", kind: "Gadget", current: "status.ready == true" },
    ])!;
    const object = (apiVersion: string, kind: string, status: object) => ({ apiVersion, kind, metadata: {}, status });
    expect(health(object("example.io/v2", "Widget", { phase: "Ready" }))?.status).toBe("Current");
    expect(health(object("example.io/v1", "Gadget", { ready: true, phase: "Pending" }))?.status).toBe("Current");
    expect(health(object("other.io/v1", "Widget", { phase: "Ready" }))).toBeUndefined();
    expect(() =>
      customHealth([
        { apiVersion: "example.io/v1", current: "true" },
        { apiVersion: "example.io/v2", current: "false" },
      ]),
    ).toThrow(
      new HealthExpressionError("spec.healthCheckExprs[1]: a second rule for every kind of API group 'example.io'"),
    );
  });

  it("postBuild: substitution runs when a variable is defined or substituteStrategy is Always, never for postBuild alone", async () => {
    const vars = secrets({ cluster: { env: "prod\n" }, empty: {} });
    const from = (name: string) => [{ kind: "ConfigMap" as const, name, optional: true }];
    expect(await substitutionVariables(vars, ks({}))).toBeUndefined();
    expect(await substitutionVariables(vars, ks({ postBuild: {} }))).toBeUndefined();
    expect(await substitutionVariables(vars, ks({ postBuild: { substitute: {} } }))).toBeUndefined();
    expect(await substitutionVariables(vars, ks({ postBuild: { substituteFrom: from("absent") } }))).toBeUndefined();
    expect(await substitutionVariables(vars, ks({ postBuild: { substituteFrom: from("empty") } }))).toBeUndefined();
    expect(
      await substitutionVariables(
        vars,
        ks({ postBuild: { substituteFrom: from("absent"), substituteStrategy: "Always" } }),
      ),
    ).toEqual({});
    // Newlines go from every value, as in Flux; substitute wins over substituteFrom.
    expect(await substitutionVariables(vars, ks({ postBuild: { substituteFrom: from("cluster") } }))).toEqual({
      env: "prod",
    });
    expect(
      await substitutionVariables(
        vars,
        ks({ postBuild: { substituteFrom: from("cluster"), substitute: { env: "a\nb" } } }),
      ),
    ).toEqual({ env: "ab" });
  });
});
