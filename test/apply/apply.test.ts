import { randomBytes } from "node:crypto";
import { PatchStrategy, type KubernetesObject, type V1ConfigMap, type V1Deployment } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import { ApplyFailedError } from "../../src/apply/errors.js";
import type { KubeObject } from "../../src/apply/object.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { freshNamespace, objectApi } from "../env/kube-client.js";
import { adminCluster, configMap, deployment, rejection, widgetCrd } from "./helpers.js";

const kube = inject("testbed").kube;
const owner = { name: "apps", namespace: "flux-system" };

describe(`apply engine: staged server-side apply (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let cluster: Cluster;
  const api = objectApi(kube);
  const read = <T extends KubernetesObject>(kind: string, name: string, apiVersion = "v1", namespace = ns.name) =>
    api.read<T>({ apiVersion, kind, metadata: { name, namespace } });

  beforeAll(async () => {
    ns = await freshNamespace(kube, "apply");
    cluster = await adminCluster(kube);
  });
  afterAll(() => ns.remove());

  it("applies a CRD and its custom resource from one set in one run", async () => {
    // Prepare
    const group = `g${randomBytes(3).toString("hex")}.sluice.test`;
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "w1", namespace: ns.name },
      spec: { size: 3 },
    };
    // Act
    const changeSet = await applyAll(cluster, [widget, widgetCrd(group)], { owner });
    // Assess
    expect(changeSet.map((e) => [e.subject, e.action])).toEqual([
      [`CustomResourceDefinition/widgets.${group}`, "created"],
      [`Widget/${ns.name}/w1`, "created"],
    ]);
    const live = await read<KubernetesObject & { spec: { size: number } }>("Widget", "w1", `${group}/v1`);
    expect(live.spec.size).toBe(3);
  });

  it("applies a custom resource whose CRD another client installed after this one read discovery", async () => {
    // Prepare: this client's discovery is read before the CRD exists; another client installs it.
    const group = `s${randomBytes(3).toString("hex")}.sluice.test`;
    expect(await cluster.discovery.find(`${group}/v1`, "Widget")).toBeUndefined();
    await applyAll(await adminCluster(kube), [widgetCrd(group)]);
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "late", namespace: ns.name },
      spec: { size: 1 },
    };
    // Act
    const changeSet = await applyAll(cluster, [widget], { owner });
    // Assess
    expect(changeSet.map((e) => [e.subject, e.action])).toEqual([[`Widget/${ns.name}/late`, "created"]]);
  });

  it("puts namespaced objects without a namespace into the default namespace, with Flux's ownership labels", async () => {
    // Act
    const [entry] = await applyAll(cluster, [configMap("defaulted", { a: "1" })], { owner, defaultNamespace: ns.name });
    // Assess
    expect(entry).toMatchObject({
      subject: `ConfigMap/${ns.name}/defaulted`,
      action: "created",
      groupVersion: "v1",
      version: "v1",
    });
    const live = await read<V1ConfigMap>("ConfigMap", "defaulted");
    expect(live.metadata?.labels).toMatchObject({
      "kustomize.toolkit.fluxcd.io/name": "apps",
      "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    });
    expect(live.metadata?.managedFields?.some((f) => f.manager === "sluice" && f.operation === "Apply")).toBe(true);
  });

  it("rejects the whole set before writing anything when one object is invalid, naming each bad object", async () => {
    // Prepare
    const good = configMap("should-not-exist", { a: "1" }, { namespace: ns.name });
    const noNamespace = configMap("orphan", { a: "1" });
    const clusterScopedWithNs: KubeObject = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "x-ns", namespace: ns.name },
    };
    const unknownKind: KubeObject = {
      apiVersion: "nope.sluice.test/v1",
      kind: "Gadget",
      metadata: { name: "g", namespace: ns.name },
    };
    // Act
    const error = await rejection(applyAll(cluster, [good, noNamespace, clusterScopedWithNs, unknownKind], { owner }));
    // Assess
    expect(error).toBeInstanceOf(ApplyFailedError);
    const message = (error as ApplyFailedError).message;
    expect(message).toContain("ConfigMap/orphan validation failed: namespace not specified");
    expect(message).toContain(
      `Namespace/${ns.name}/x-ns validation failed: Namespace is cluster-scoped but metadata.namespace is set`,
    );
    expect(message).toContain(
      `Gadget/${ns.name}/g validation failed: no kind "Gadget" is served for apiVersion "nope.sluice.test/v1"`,
    );
    expect((error as ApplyFailedError).changeSet).toEqual([]);
    await expect(read("ConfigMap", "should-not-exist")).rejects.toThrow();
  });

  it("writes nothing for unchanged objects: same resourceVersion, one LIST and one dry-run per object", async () => {
    // Prepare
    const objects = Array.from({ length: 5 }, (_, i) =>
      configMap(`same-${i}`, { i: String(i) }, { namespace: ns.name }),
    );
    await applyAll(cluster, objects, { owner });
    const before = await read<V1ConfigMap>("ConfigMap", "same-0");
    const fresh = await adminCluster(kube);
    await fresh.discovery.refresh();
    const baseline = { ...fresh.client.counts };
    // Act
    const changeSet = await applyAll(fresh, objects, { owner });
    // Assess
    expect(changeSet.every((e) => e.action === "unchanged")).toBe(true);
    expect((await read<V1ConfigMap>("ConfigMap", "same-0")).metadata?.resourceVersion).toBe(
      before.metadata?.resourceVersion,
    );
    const used = Object.fromEntries(
      Object.entries(fresh.client.counts).map(([k, v]) => [k, v - baseline[k as keyof typeof baseline]]),
    );
    expect(used).toEqual({ GET: 1, POST: 0, PATCH: 0, PUT: 0, DELETE: 0, dryRun: 5, throttled: 0 });
  });

  it("reverts an out-of-band edit made by another field manager", async () => {
    // Prepare
    const desired = configMap("drifty", { mode: "gitops" }, { namespace: ns.name });
    await applyAll(cluster, [desired], { owner });
    await api.patch(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "drifty", namespace: ns.name },
        data: { mode: "hand-edited" },
      },
      undefined,
      undefined,
      "intruder",
      undefined,
      PatchStrategy.MergePatch,
    );
    // Act
    const [entry] = await applyAll(cluster, [desired], { owner });
    // Assess
    expect(entry?.action).toBe("configured");
    expect((await read<V1ConfigMap>("ConfigMap", "drifty")).data).toEqual({ mode: "gitops" });
  });

  it("driftIgnoreRules leave a field to another manager (an HPA scaling replicas); other fields are still corrected", async () => {
    // Prepare: Git says 1 replica; an autoscaler then owns replicas (5) and someone edits the image.
    const desired = { ...deployment("scaled", { replicas: 1 }), metadata: { name: "scaled", namespace: ns.name } };
    const other = { ...deployment("other", { replicas: 1 }), metadata: { name: "other", namespace: ns.name } };
    await applyAll(cluster, [desired, other], { owner });
    for (const name of ["scaled", "other"]) {
      await api.patch(
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name, namespace: ns.name }, spec: { replicas: 5 } },
        undefined,
        undefined,
        "hpa-controller",
        true,
        PatchStrategy.ServerSideApply,
      );
    }
    await api.patch(
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "scaled", namespace: ns.name },
        spec: { template: { spec: { containers: [{ name: "app", image: "registry.invalid/evil:1" }] } } },
      },
      undefined,
      undefined,
      "intruder",
      undefined,
      PatchStrategy.StrategicMergePatch,
    );
    const rules = [
      {
        paths: ["/spec/replicas"],
        target: { kind: "Deploy.*", name: "scaled", labelSelector: "kustomize.toolkit.fluxcd.io/name=apps" },
      },
    ];
    // Act
    const changes = await applyAll(cluster, [desired, other], { owner, driftIgnoreRules: rules });
    // Assess
    const scaled = (await read<V1Deployment>("Deployment", "scaled", "apps/v1")).spec!;
    expect(scaled.replicas).toBe(5);
    expect(scaled.template.spec!.containers[0]!.image).toBe("registry.invalid/app:1");
    expect((await read<V1Deployment>("Deployment", "other", "apps/v1")).spec!.replicas).toBe(1);
    expect(changes.map((c) => c.action)).toEqual(["configured", "configured"]);
  });

  it("ssa: Override (default) removes fields kubectl added; ssa: Merge keeps them", async () => {
    // Prepare: each object gets an extra key from `kubectl` (an Update by manager "kubectl")
    const override = configMap("override", { a: "1" }, { namespace: ns.name });
    const merge = configMap(
      "merge",
      { a: "1" },
      { namespace: ns.name, annotations: { "kustomize.toolkit.fluxcd.io/ssa": "Merge" } },
    );
    await applyAll(cluster, [override, merge], { owner });
    for (const name of ["override", "merge"]) {
      await api.patch(
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns.name }, data: { extra: "by-kubectl" } },
        undefined,
        undefined,
        "kubectl",
        undefined,
        PatchStrategy.MergePatch,
      );
    }
    // Act
    const changeSet = await applyAll(cluster, [override, merge], { owner });
    // Assess
    expect(changeSet.find((e) => e.object.name === "override")?.action).toBe("configured");
    expect((await read<V1ConfigMap>("ConfigMap", "override")).data).toEqual({ a: "1" });
    expect(changeSet.find((e) => e.object.name === "merge")?.action).toBe("unchanged");
    expect((await read<V1ConfigMap>("ConfigMap", "merge")).data).toEqual({ a: "1", extra: "by-kubectl" });
  });

  it("ssa: IfNotPresent creates a missing object but never updates it; ssa: Ignore never touches it", async () => {
    // Prepare
    const once = (value: string) =>
      configMap(
        "once",
        { v: value },
        { namespace: ns.name, annotations: { "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent" } },
      );
    const ignored = configMap(
      "ignored",
      { v: "1" },
      { namespace: ns.name, annotations: { "kustomize.toolkit.fluxcd.io/ssa": "Ignore" } },
    );
    // Act
    const first = await applyAll(cluster, [once("1"), ignored], { owner });
    const second = await applyAll(cluster, [once("2"), ignored], { owner });
    // Assess
    expect(first.map((e) => [e.object.name, e.action])).toEqual([
      ["ignored", "skipped"],
      ["once", "created"],
    ]);
    expect(second.map((e) => [e.object.name, e.action])).toEqual([
      ["ignored", "skipped"],
      ["once", "skipped"],
    ]);
    expect((await read<V1ConfigMap>("ConfigMap", "once")).data).toEqual({ v: "1" });
    await expect(read("ConfigMap", "ignored")).rejects.toThrow();
  });

  it("names the object and the immutable field without force, and recreates the object with the force annotation", async () => {
    // Prepare
    const v1 = { ...deployment("selector", { app: "one" }), metadata: { name: "selector", namespace: ns.name } };
    await applyAll(cluster, [v1], { owner });
    const uid = (await read("Deployment", "selector", "apps/v1")).metadata?.uid;
    const v2 = { ...deployment("selector", { app: "two" }), metadata: { name: "selector", namespace: ns.name } };
    // Act
    const refused = await rejection(applyAll(cluster, [v2], { owner }));
    const forced = await applyAll(
      cluster,
      [{ ...v2, metadata: { ...v2.metadata, annotations: { "kustomize.toolkit.fluxcd.io/force": "Enabled" } } }],
      { owner },
    );
    // Assess
    expect(refused).toBeInstanceOf(ApplyFailedError);
    expect(refused.message).toMatch(
      new RegExp(`^Deployment/${ns.name}/selector dry-run failed: .*spec\\.selector.*field is immutable`),
    );
    expect(refused.message).toContain("kustomize.toolkit.fluxcd.io/force: Enabled");
    expect(forced.map((e) => e.action)).toEqual(["created"]);
    const after = await read<KubernetesObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
      "Deployment",
      "selector",
      "apps/v1",
    );
    expect(after.metadata?.uid).not.toBe(uid);
    expect(after.spec.selector.matchLabels).toEqual({ app: "two" });
  });

  it("recreates a Job whose template changed when force is set in the options", async () => {
    // Prepare
    const job = (image: string): KubeObject => ({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "migrate", namespace: ns.name },
      spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "m", image }] } } },
    });
    await applyAll(cluster, [job("registry.invalid/m:1")], { owner });
    // Act
    const changeSet = await applyAll(cluster, [job("registry.invalid/m:2")], { owner, force: true });
    // Assess
    expect(changeSet.map((e) => e.action)).toEqual(["created"]);
    const live = await read<KubernetesObject & { spec: { template: { spec: { containers: { image: string }[] } } } }>(
      "Job",
      "migrate",
      "batch/v1",
    );
    expect(live.spec.template.spec.containers[0]?.image).toBe("registry.invalid/m:2");
  });

  it("never puts Secret values into errors", async () => {
    // Prepare: a Secret whose data is not base64 makes the API server quote the value back
    const secret: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bad", namespace: ns.name },
      data: { password: "hunter2-not-base64!" },
    };
    // Act
    const error = await rejection(applyAll(cluster, [secret], { owner }));
    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(new RegExp(`^Secret/${ns.name}/bad dry-run failed`));
    expect(error.message).not.toContain("hunter2");
  });
});
