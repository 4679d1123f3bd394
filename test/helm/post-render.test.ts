import { access, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeClient } from "../../src/cluster/kube-client.js";
import { HelmActionError, HelmCli, type HelmTarget } from "../../src/helm/helm-cli.js";
import { releaseHistory } from "../../src/helm/release-storage.js";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { adminCluster, rejection } from "../apply/helpers.js";
import { testHelm, tinyChart } from "../env/charts.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";

const kube = inject("testbed").kube;
const timeoutMs = 60_000;

async function packaged(chartDir: string): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), "sluice-chart-tgz-"));
  await testHelm(["package", chartDir, "--destination", out]);
  return join(out, (await readdir(out))[0]!);
}

/** tinyChart plus a Deployment (0 replicas) with one container. */
async function chartWithDeployment(): Promise<string> {
  const dir = await tinyChart("web", "1.0.0");
  await writeFile(
    join(dir, "templates", "deployment.yaml"),
    [
      "apiVersion: apps/v1",
      "kind: Deployment",
      "metadata:",
      "  name: {{ .Release.Name }}",
      "spec:",
      "  replicas: 0",
      "  selector:",
      "    matchLabels: {app: web}",
      "  template:",
      "    metadata:",
      "      labels: {app: web}",
      "    spec:",
      "      containers: [{name: app, image: registry.example/web:1.0}]",
      "",
    ].join("\n"),
  );
  return packaged(dir);
}

describe(`post-rendering as helm-controller does, through Sluice's own helm plugin (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let admin: KubeClient;
  let helm: HelmCli;
  const core = adminKubeConfig(kube).makeApiClient(CoreV1Api);
  const apps = adminKubeConfig(kube).makeApiClient(AppsV1Api);
  const target = (releaseName: string): HelmTarget => ({ client: admin, releaseName, namespace: ns.name });

  beforeAll(async () => {
    ns = await freshNamespace(kube, "helm-postrender");
    admin = (await adminCluster(kube)).client;
    const tools = await resolveTools({ cacheDir: cacheDir() });
    helm = new HelmCli({ helm: tools.helm, kubectl: tools.kubectl });
  });
  afterAll(() => ns.remove());

  it("applies kustomize patches and images, then common metadata, then the origin labels", async () => {
    // Prepare
    const chart = await chartWithDeployment();
    const pwned = join(tmpdir(), `sluice-pwned-${ns.name}`);
    const postRendering = {
      kustomize: [
        {
          patches: [
            {
              patch: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  shell: "$(touch ${pwned})"\n`,
            },
            { patch: '[{"op": "add", "path": "/data/extra", "value": "x"}]', target: { kind: "ConfigMap" } },
          ],
          images: [{ name: "registry.example/web", newTag: "2.0" }],
        },
      ],
      commonMetadata: { labels: { team: "payments" }, annotations: { "example.com/owner": "payments" } },
      origin: { name: "web-hr", namespace: "flux-apps" },
    };
    // Act
    const installed = await helm.install(target("web"), { chart, values: {}, timeoutMs, postRendering });
    // Assess
    const configMap = await core.readNamespacedConfigMap({ name: "web-config", namespace: ns.name });
    expect(configMap.data).toEqual({ greeting: "hello", shell: `$(touch ${pwned})`, extra: "x" });
    expect(configMap.metadata?.labels).toMatchObject({
      team: "payments",
      "helm.toolkit.fluxcd.io/name": "web-hr",
      "helm.toolkit.fluxcd.io/namespace": "flux-apps",
      "app.kubernetes.io/managed-by": "Helm",
    });
    expect(configMap.metadata?.annotations).toMatchObject({ "example.com/owner": "payments" });
    const deployment = await apps.readNamespacedDeployment({ name: "web", namespace: ns.name });
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe("registry.example/web:2.0");
    // Metadata only: selectors and pod templates are left as the chart has them.
    expect(deployment.spec?.selector.matchLabels).toEqual({ app: "web" });
    expect(deployment.spec?.template.metadata?.labels).toEqual({ app: "web" });
    expect(installed.release?.manifest).toContain("helm.toolkit.fluxcd.io/name: web-hr");
    await expect(access(pwned)).rejects.toThrow();
  });

  it("post-renders a chart that renders nothing (CRDs only) without helm refusing the empty output", async () => {
    // Prepare
    const dir = await tinyChart("empty", "1.0.0");
    await rm(join(dir, "templates"), { recursive: true });
    // Act
    const installed = await helm.install(target("empty"), {
      chart: await packaged(dir),
      values: {},
      timeoutMs,
      postRendering: { origin: { name: "empty", namespace: ns.name } },
    });
    // Assess
    expect(installed.release?.info.status).toBe("deployed");
    expect(installed.release?.manifest.trim()).toBe("");
  });

  it("reports kustomize's own error for a patch that matches nothing (helm drops a plugin's stderr)", async () => {
    // Prepare
    const patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: missing\ndata:\n  token: hunter2-password\n";
    // Act
    const error = await rejection<HelmActionError>(
      helm.install(target("badpatch"), {
        chart: await chartWithDeployment(),
        values: { token: "hunter2-password" },
        timeoutMs,
        postRendering: { kustomize: [{ patches: [{ patch }] }] },
      }),
    );
    // Assess
    expect(error).toBeInstanceOf(HelmActionError);
    expect(error.message).toMatch(
      /post-renderer plugin "sluice-postrender".*: .*no resource matches strategic merge patch/,
    );
    expect(error.message).not.toContain("hunter2-password");
    expect(await releaseHistory(admin, ns.name, "badpatch")).toEqual([]);
  });

  it("upgrades with the origin labels kept (helm-controller post-renders every install and upgrade)", async () => {
    // Prepare
    const chart = await chartWithDeployment();
    const postRendering = { origin: { name: "kept", namespace: ns.name } };
    await helm.install(target("kept"), { chart, values: {}, timeoutMs, postRendering });
    // Act
    await helm.upgrade(target("kept"), { chart, values: { greeting: "again" }, timeoutMs, postRendering });
    // Assess
    const configMap = await core.readNamespacedConfigMap({ name: "kept-config", namespace: ns.name });
    expect(configMap.data).toEqual({ greeting: "again" });
    expect(configMap.metadata?.labels?.["helm.toolkit.fluxcd.io/name"]).toBe("kept");
  });
});
