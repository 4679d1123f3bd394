import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { decodeRecord } from "../../src/helm/release-record.js";
import { publishChart, testHelm } from "../env/charts.js";
import { planeSuite, storedStatus, until, type Condition } from "./helpers.js";

// HelmRelease applied client-side (`serverSideApply: false|disabled`, and `auto` on a release Helm applied
// client-side), on the test bed: the real kube-apiserver takes the three-way strategic merge patches (JSON merge
// patches for a custom resource), and the real helm reads back what was recorded.

const { kube, git, helmRepo } = inject("testbed");
const suite = planeSuite(kube, git, {
  namespace: "hr-csa",
  prepare: async (admin) => {
    await admin.client
      .send({ method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body: WIDGET_CRD })
      .catch((error: { status?: number }) => {
        if (error.status !== 409) throw error;
      });
  },
});

const WIDGET_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.csa.sluice.test" },
  spec: {
    group: "csa.sluice.test",
    names: { kind: "Widget", plural: "widgets" },
    scope: "Namespaced",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: { spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        },
      },
    ],
  },
};

const CHART = "csa-app";
const CHART_VERSION = "1.0.0";

/**
 * A Deployment (env list, labels), a ConfigMap of `data`, a Widget of `widget` (if any) and, given `foreign`, a
 * ConfigMap in that namespace: all from values.
 */
async function csaChart(): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "sluice-csa-")), CHART);
  await mkdir(join(dir, "templates"), { recursive: true });
  await writeFile(join(dir, "Chart.yaml"), `apiVersion: v2\nname: ${CHART}\nversion: ${CHART_VERSION}\n`);
  await writeFile(join(dir, "values.yaml"), "labels: {}\nenv: {}\ndata: {}\nwidget: {}\nforeign: ''\n");
  await writeFile(
    join(dir, "templates", "all.yaml"),
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
    {{- range $k, $v := .Values.labels }}
    {{ $k }}: {{ $v | quote }}
    {{- end }}
spec:
  replicas: 1
  selector: { matchLabels: { app: {{ .Release.Name }} } }
  template:
    metadata: { labels: { app: {{ .Release.Name }} } }
    spec:
      containers:
        - name: app
          image: registry.invalid/app:1
          env:
            {{- range $k, $v := .Values.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata: { name: {{ .Release.Name }}-config }
data:
  {{- toYaml .Values.data | nindent 2 }}
{{- if .Values.widget }}
---
apiVersion: csa.sluice.test/v1
kind: Widget
metadata: { name: {{ .Release.Name }} }
spec:
  {{- toYaml .Values.widget | nindent 2 }}
{{- end }}
{{- if .Values.foreign }}
---
apiVersion: v1
kind: ConfigMap
metadata: { name: {{ .Release.Name }}-config, namespace: {{ .Values.foreign }} }
data: { k: mine }
{{- end }}
`,
  );
  return dir;
}

let chartArchive: string;
beforeAll(async () => {
  await publishChart(helmRepo, await csaChart());
  chartArchive = `${helmRepo.dir}/${CHART}-${CHART_VERSION}.tgz`;
  await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "charts", { interval: "5m", url: helmRepo.url });
});

const { put } = suite;

function release(name: string, values: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return put("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, {
    interval: "5m",
    chart: { spec: { chart: CHART, version: CHART_VERSION, sourceRef: { kind: "HelmRepository", name: "charts" } } },
    values,
    timeout: "30s",
    ...extra,
    install: { disableWait: true, ...(extra.install as object) },
    upgrade: { disableWait: true, ...(extra.upgrade as object) },
  });
}

const condition = (status: { conditions?: Condition[] }, type: string) =>
  status.conditions?.find((c) => c.type === type);

/** The HelmRelease once its Released condition has `reason` (and, given `version`, its newest version is that). */
async function released(name: string, reason: string, version?: number) {
  let last: unknown;
  return until(
    () => `${name} Released ${reason}, last ${JSON.stringify(last)}`,
    async () => {
      const status = await storedStatus(suite.plane, "HelmRelease", suite.namespace, name);
      last = status.conditions;
      const newest = (status.history as { version: number }[] | undefined)?.[0]?.version;
      return condition(status, "Released")?.reason === reason && (!version || newest === version) && status;
    },
    90_000,
  );
}

async function helm(args: string[]): Promise<string> {
  return (await testHelm([...args, "-n", suite.namespace, "--kubeconfig", kube.kubeconfigPath])).stdout;
}

const applyMethod = async (name: string, revision: number) =>
  JSON.parse(await helm(["get", "metadata", name, "--revision", String(revision), "-o", "json"])).applyMethod;

async function get<T>(path: string): Promise<KubeObject & T> {
  return suite.admin.client.send({ method: "GET", path: path.replace("NS", suite.namespace) });
}
type Env = { name: string; value: string }[];
const deployment = (name: string) =>
  get<{ spec: { template: { spec: { containers: { env: Env }[] } } } }>(
    `/apis/apps/v1/namespaces/NS/deployments/${name}`,
  );
const widget = (name: string) =>
  get<{ spec: Record<string, unknown> }>(`/apis/csa.sluice.test/v1/namespaces/NS/widgets/${name}`);
const configMap = (name: string) => get<{ data: Record<string, string> }>(`/api/v1/namespaces/NS/configmaps/${name}`);
const envOf = (d: Awaited<ReturnType<typeof deployment>>) => d.spec.template.spec.containers[0]!.env;

/** A change by another field manager, as a controller or a person with kubectl would make it. */
async function patchAsSomeoneElse(path: string, patch: unknown, contentType: string) {
  await suite.admin.client.send({
    method: "PATCH",
    path: path.replace("NS", suite.namespace),
    query: { fieldManager: "someone-else" },
    contentType,
    body: patch,
  });
}

describe("HelmRelease client-side apply (Helm's three-way merge)", () => {
  it("installs with install.serverSideApply false: created client-side, recorded as csa for helm and helm-controller", async () => {
    await release(
      "csa",
      { labels: { tier: "front" }, env: { A: "1", B: "2" }, data: { k: "v" }, widget: { size: 1, color: "red" } },
      { install: { serverSideApply: false } },
    );
    await released("csa", "InstallSucceeded");
    expect(await applyMethod("csa", 1)).toBe("csa");
    // The storage Secret itself, as helm-controller reads it.
    const secret = await get<{ data: { release: string } }>("/api/v1/namespaces/NS/secrets/sh.helm.release.v1.csa.v1");
    expect(decodeRecord("sh.helm.release.v1.csa.v1", secret.data.release).apply_method).toBe("csa");
    // Created and owned as an Update by helm-controller's manager, not through server-side apply.
    const live = await deployment("csa");
    const managers = (live.metadata.managedFields ?? []).map((f) => [f.manager, f.operation]);
    expect(managers).toContainEqual(["helm-controller", "Update"]);
    expect(managers).not.toContainEqual(["helm-controller", "Apply"]);
    expect(live.metadata.annotations?.["meta.helm.sh/release-name"]).toBe("csa");
  });

  it("upgrades (auto follows csa): removes what the previous version set, keeps what another manager set", async () => {
    await patchAsSomeoneElse(
      "/apis/apps/v1/namespaces/NS/deployments/csa",
      {
        metadata: { labels: { team: "ops" } },
        spec: { template: { spec: { containers: [{ name: "app", env: [{ name: "INJECTED", value: "x" }] }] } } },
      },
      "application/strategic-merge-patch+json",
    );
    await patchAsSomeoneElse(
      "/apis/csa.sluice.test/v1/namespaces/NS/widgets/csa",
      { spec: { owner: "someone" } },
      "application/merge-patch+json",
    );
    await release("csa", { env: { A: "3" }, data: { k: "v" }, widget: { size: 2 } });
    await released("csa", "UpgradeSucceeded");
    expect(await applyMethod("csa", 2)).toBe("csa");

    const live = await deployment("csa");
    // B and the tier label were the previous version's: deleted. INJECTED and team were never in a manifest: kept.
    expect(envOf(live).map((e) => `${e.name}=${e.value}`)).toEqual(expect.arrayContaining(["A=3", "INJECTED=x"]));
    expect(envOf(live)).toHaveLength(2);
    expect(live.metadata.labels).toMatchObject({ app: "csa", team: "ops" });
    expect(live.metadata.labels?.tier).toBeUndefined();
    // The custom resource took a JSON merge patch: color removed, size changed, someone's owner kept.
    expect((await widget("csa")).spec).toEqual({ size: 2, owner: "someone" });
  });

  it("auto on a release `helm install --server-side=false` made upgrades client-side; enabled switches it to ssa", async () => {
    await helm(["install", "helm-csa", chartArchive, "--server-side=false", "--set", "env.A=1,data.k=v"]);
    expect(await applyMethod("helm-csa", 1)).toBe("csa");
    await release("helm-csa", { env: { A: "2" }, data: { k: "v" }, widget: { size: 1 } });
    await released("helm-csa", "UpgradeSucceeded");
    expect(await applyMethod("helm-csa", 2)).toBe("csa");
    expect(envOf(await deployment("helm-csa"))).toEqual([{ name: "A", value: "2" }]);
    const managers = (await deployment("helm-csa")).metadata.managedFields?.map((f) => [f.manager, f.operation]);
    expect(managers).not.toContainEqual(["helm-controller", "Apply"]);

    await release("helm-csa", { env: { A: "3" }, data: { k: "v" } }, { upgrade: { serverSideApply: "enabled" } });
    await released("helm-csa", "UpgradeSucceeded", 3);
    expect(await applyMethod("helm-csa", 3)).toBe("ssa");
    expect(envOf(await deployment("helm-csa"))).toEqual([{ name: "A", value: "3" }]);
  });

  it("refuses a manifest key that would steer the merge ($patch: replace), naming it, and leaves the live object alone", async () => {
    await patchAsSomeoneElse(
      "/api/v1/namespaces/NS/configmaps/csa-config",
      { data: { theirs: "kept" } },
      "application/merge-patch+json",
    );
    await release("csa", { env: { A: "3" }, data: { $patch: "replace", k: "v" }, widget: { size: 2 } });
    const failed = await released("csa", "UpgradeFailed");
    expect(condition(failed, "Released")?.message).toContain(
      `ConfigMap/${suite.namespace}/csa-config patch failed: data.$patch: a key starting with "$" is a patch directive, not a field`,
    );
    expect((await configMap("csa-config")).data).toEqual({ k: "v", theirs: "kept" });
  });

  it("as a tenant (serviceAccountName): reads the OpenAPI and releases client-side, but patches nothing in a namespace it has no rights in", async () => {
    const other = `${suite.namespace}-other`;
    const admin = suite.admin.client;
    await admin.send({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: other } } });
    try {
      await admin.send({
        method: "POST",
        path: `/api/v1/namespaces/${other}/configmaps`,
        body: { metadata: { name: "tenant-config" }, data: { k: "theirs" } },
      });
      await admin.send({
        method: "POST",
        path: `/api/v1/namespaces/${suite.namespace}/serviceaccounts`,
        body: { metadata: { name: "tenant" } },
      });
      await admin.send({
        method: "POST",
        path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${suite.namespace}/rolebindings`,
        body: {
          metadata: { name: "tenant-admin" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
          subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: suite.namespace }],
        },
      });
      const tenant = { serviceAccountName: "tenant", install: { serverSideApply: false } };
      await release("tenant", { env: { A: "1" }, data: { k: "v" } }, tenant);
      await released("tenant", "InstallSucceeded");
      expect(await applyMethod("tenant", 1)).toBe("csa");

      await release("tenant", { env: { A: "2" }, data: { k: "v" }, foreign: other }, tenant);
      const failed = await released("tenant", "UpgradeFailed");
      expect(condition(failed, "Released")?.message).toMatch(
        new RegExp(
          `ConfigMap/${other}/tenant-config apply failed: forbidden for user system:serviceaccount:${suite.namespace}:tenant`,
        ),
      );
      const theirs = await get<{ data: Record<string, string> }>(
        `/api/v1/namespaces/${other}/configmaps/tenant-config`,
      );
      expect(theirs.data).toEqual({ k: "theirs" });
      expect(theirs.metadata.annotations?.["meta.helm.sh/release-name"]).toBeUndefined();
    } finally {
      await admin.send({ method: "DELETE", path: `/api/v1/namespaces/${other}` });
    }
  });
});
