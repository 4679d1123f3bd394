import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiextensionsV1Api, type V1CustomResourceDefinition } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeClient } from "../../src/cluster/kube-client.js";
import { ChartCRDsError } from "../../src/helm/crds.js";
import { HelmCli, type HelmTarget } from "../../src/helm/helm-cli.js";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { adminCluster, rejection } from "../apply/helpers.js";
import { testHelm, tinyChart } from "../env/charts.js";
import { adminKubeConfig, freshNamespace, objectApi } from "../env/kube-client.js";

const kube = inject("testbed").kube;
const timeoutMs = 60_000;

/** A CRD `Gadget` of `group` whose schema has the properties named. */
function gadgetCrd(
  group: string,
  properties: string[],
  name = `gadgets.${group}`,
  apiVersion = "apiextensions.k8s.io/v1",
) {
  return JSON.stringify({
    apiVersion,
    kind: "CustomResourceDefinition",
    metadata: { name },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "gadgets", singular: "gadget", kind: "Gadget", listKind: "GadgetList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  properties: Object.fromEntries(properties.map((p) => [p, { type: "string" }])),
                },
              },
            },
          },
        },
      ],
    },
  });
}

/** A packaged chart with `crd` in crds/ and a Gadget of that group in templates/. */
async function chartWithCrd(group: string, crd: string, version: string): Promise<string> {
  const dir = await tinyChart("gadgets", version);
  await mkdir(join(dir, "crds"));
  await writeFile(join(dir, "crds", "gadget.yaml"), crd);
  await writeFile(
    join(dir, "templates", "gadget.yaml"),
    `apiVersion: ${group}/v1\nkind: Gadget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  color: blue\n`,
  );
  const out = await mkdtemp(join(tmpdir(), "sluice-chart-tgz-"));
  await testHelm(["package", dir, "--destination", out]);
  return join(out, (await readdir(out))[0]!);
}

describe(`chart CRDs by Flux's policy (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let admin: KubeClient;
  let helm: HelmCli;
  const crds = adminKubeConfig(kube).makeApiClient(ApiextensionsV1Api);
  const target = (releaseName: string): HelmTarget => ({ client: admin, releaseName, namespace: ns.name });
  const properties = async (name: string) => {
    const crd: V1CustomResourceDefinition = await crds.readCustomResourceDefinition({ name });
    return Object.keys(crd.spec.versions[0]!.schema!.openAPIV3Schema!.properties!.spec!.properties ?? {}).sort();
  };

  beforeAll(async () => {
    ns = await freshNamespace(kube, "helm-crds");
    admin = (await adminCluster(kube)).client;
    const tools = await resolveTools({ cacheDir: cacheDir() });
    helm = new HelmCli({ helm: tools.helm, kubectl: tools.kubectl });
  });
  afterAll(() => ns.remove());

  it("creates the CRDs before the templates that use them, and updates them on upgrade under server-side apply", async () => {
    // Prepare
    const group = `ssa-${ns.name}.example.com`;
    const v1 = await chartWithCrd(group, gadgetCrd(group, ["color"]), "1.0.0");
    const v2 = await chartWithCrd(group, gadgetCrd(group, ["color", "size"]), "2.0.0");
    const postRendering = { origin: { name: "gadgets-hr", namespace: ns.name } };
    // Act
    const installed = await helm.install(target("gadgets"), { chart: v1, values: {}, timeoutMs, postRendering });
    const created = await properties(`gadgets.${group}`);
    await helm.upgrade(target("gadgets"), { chart: v2, values: {}, timeoutMs, postRendering });
    // Assess
    expect(installed.release?.info.status).toBe("deployed");
    expect(created).toEqual(["color"]);
    expect(await properties(`gadgets.${group}`)).toEqual(["color", "size"]);
    const crd = await crds.readCustomResourceDefinition({ name: `gadgets.${group}` });
    expect(crd.metadata?.labels).toMatchObject({
      "helm.toolkit.fluxcd.io/name": "gadgets-hr",
      "helm.toolkit.fluxcd.io/namespace": ns.name,
    });
    expect(crd.metadata?.managedFields?.map((f) => [f.manager, f.operation])).toContainEqual(["helm", "Apply"]);
    const gadget = await objectApi(kube).read({
      apiVersion: `${group}/v1`,
      kind: "Gadget",
      metadata: { name: "gadgets", namespace: ns.name },
    });
    expect(gadget.metadata?.labels?.["helm.toolkit.fluxcd.io/name"]).toBe("gadgets-hr");
  });

  it("under client-side apply, Create leaves an existing CRD alone and CreateReplace replaces it", async () => {
    // Prepare
    const group = `csa-${ns.name}.example.com`;
    const v1 = await chartWithCrd(group, gadgetCrd(group, ["color"]), "1.0.0");
    const v2 = await chartWithCrd(group, gadgetCrd(group, ["color", "size"]), "2.0.0");
    const v3 = await chartWithCrd(group, gadgetCrd(group, ["color", "size", "shape"]), "3.0.0");
    const csa = { timeoutMs, values: {}, serverSideApply: "disabled" as const };
    // Act
    await helm.install(target("csa"), { chart: v1, values: {}, timeoutMs, serverSideApply: false });
    await helm.upgrade(target("csa"), { ...csa, chart: v2, crds: "Create" });
    const afterCreate = await properties(`gadgets.${group}`);
    await helm.upgrade(target("csa"), { ...csa, chart: v3, crds: "CreateReplace" });
    // Assess
    expect(afterCreate).toEqual(["color"]);
    expect(await properties(`gadgets.${group}`)).toEqual(["color", "shape", "size"]);
  });

  it("Skip installs no CRD (and the template that needs one fails with helm's message)", async () => {
    // Prepare
    const group = `skip-${ns.name}.example.com`;
    const chart = await chartWithCrd(group, gadgetCrd(group, ["color"]), "1.0.0");
    // Act
    const error = await rejection(helm.install(target("skipped"), { chart, values: {}, timeoutMs, crds: "Skip" }));
    // Assess
    expect(error.message).toMatch(/INSTALLATION FAILED: .*no matches for kind "Gadget"/);
    expect(
      await crds.readCustomResourceDefinition({ name: `gadgets.${group}` }).catch(() => undefined),
    ).toBeUndefined();
  });

  it.each([
    ["a name that would climb the request path", "..", "apiextensions.k8s.io/v1", /whose name is not a DNS subdomain/],
    [
      "an apiVersion that would climb the request path",
      "gadgets.evil.example.com",
      "apiextensions.k8s.io/../../api/v1/namespaces/kube-system",
      /has apiVersion apiextensions\.k8s\.io\/\.\.\/\.\.\/api/,
    ],
  ])("refuses a chart CRD with %s", async (_, name, apiVersion, message) => {
    // Prepare
    const chart = await chartWithCrd("evil.example.com", gadgetCrd("evil.example.com", [], name, apiVersion), "1.0.0");
    // Act
    const error = await rejection<ChartCRDsError>(helm.install(target("evil"), { chart, values: {}, timeoutMs }));
    // Assess
    expect(error).toBeInstanceOf(ChartCRDsError);
    expect(error.message).toMatch(message);
  });
});
