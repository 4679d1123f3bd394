import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { customHealth } from "../../src/apply/health/expressions.js";
import { checkHealth, waitForHealth } from "../../src/apply/wait.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { freshNamespace } from "../env/kube-client.js";
import { adminCluster, deployment, widgetCrd } from "./helpers.js";

const kube = inject("testbed").kube;
const owner = { name: "health", namespace: "flux-system" };

describe(`apply engine: health by kstatus rules on live objects (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let cluster: Cluster;
  const group = `h${randomBytes(3).toString("hex")}.sluice.test`;

  beforeAll(async () => {
    ns = await freshNamespace(kube, "health");
    cluster = await adminCluster(kube);
    await applyAll(cluster, [widgetCrd(group)]);
  });
  afterAll(() => ns.remove());

  it("a Deployment scaled to 0 becomes Current once the controller manager reports it; one with replicas stays InProgress", async () => {
    // Prepare
    const zero = { ...deployment("zero"), metadata: { name: "zero", namespace: ns.name } };
    const two = { ...deployment("two", { replicas: 2 }), metadata: { name: "two", namespace: ns.name } };
    await applyAll(cluster, [zero, two], { owner });
    // Act
    const settled = await waitForHealth(cluster, [zero], { timeoutMs: 20_000, intervalMs: 200 });
    const pending = await checkHealth(cluster, [two]);
    // Assess
    expect(settled.healthy).toBe(true);
    expect(settled.objects[0]).toMatchObject({ subject: `Deployment/${ns.name}/zero`, status: "Current" });
    expect(pending).toMatchObject({ healthy: false, failed: false });
    expect(pending.objects[0]?.status).toBe("InProgress");
  });

  it("reads a custom resource's Ready, Stalled and observedGeneration from the status the test writes", async () => {
    // Prepare
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "w", namespace: ns.name },
      spec: { size: 1 },
    };
    await applyAll(cluster, [widget], { owner });
    // Write status the way a controller would: a merge patch on the status subresource.
    const setStatus = (status: unknown) =>
      cluster.client.send({
        method: "PATCH",
        path: `/apis/${group}/v1/namespaces/${ns.name}/widgets/w/status`,
        contentType: "application/merge-patch+json",
        body: { status },
      });
    const condition = (type: string, status: string, reason: string) => ({
      type,
      status,
      reason,
      message: `${reason} message`,
      lastTransitionTime: new Date().toISOString(),
    });
    // Act + Assess
    await setStatus({ observedGeneration: 1, conditions: [condition("Ready", "False", "Progressing")] });
    expect((await checkHealth(cluster, [widget])).objects[0]?.status).toBe("InProgress");
    await setStatus({ observedGeneration: 1, conditions: [condition("Ready", "True", "Succeeded")] });
    expect((await checkHealth(cluster, [widget])).objects[0]?.status).toBe("Current");
    await setStatus({
      observedGeneration: 1,
      conditions: [condition("Stalled", "True", "BuildFailed"), condition("Ready", "False", "BuildFailed")],
    });
    expect(await checkHealth(cluster, [widget])).toMatchObject({ failed: true, objects: [{ status: "Failed" }] });
    await setStatus({ observedGeneration: 0, conditions: [condition("Ready", "True", "Succeeded")] });
    expect((await checkHealth(cluster, [widget])).objects[0]?.status).toBe("InProgress");
  });

  it("healthCheckExprs decide a custom kind's health by CEL (inProgress, failed, current in that order); kstatus rates the rest", async () => {
    // Prepare: a Widget whose health is in status.phase, which kstatus knows nothing about.
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "phased", namespace: ns.name },
      spec: { size: 1 },
    };
    await applyAll(cluster, [widget], { owner });
    const setStatus = (status: unknown) =>
      cluster.client.send({
        method: "PATCH",
        path: `/apis/${group}/v1/namespaces/${ns.name}/widgets/phased/status`,
        contentType: "application/merge-patch+json",
        body: { status },
      });
    const custom = customHealth([
      {
        apiVersion: `${group}/v1`,
        kind: "Widget",
        current: "status.phase == 'Running'",
        failed: "status.phase == 'Crashed'",
        inProgress: "status.?phase.orValue('') == 'Starting'",
      },
    ]);
    const rate = async () => (await checkHealth(cluster, [widget], custom)).objects[0];
    // Act + Assess
    expect(await rate()).toMatchObject({ status: "InProgress", message: expect.stringContaining("status") });
    await setStatus({ phase: "Starting" });
    expect(await rate()).toMatchObject({ status: "InProgress", message: "healthCheckExprs: InProgress" });
    await setStatus({ phase: "Crashed" });
    expect(await rate()).toMatchObject({ status: "Failed" });
    await setStatus({ phase: "Running" });
    expect(await rate()).toMatchObject({ status: "Current" });
    await setStatus({ phase: "Running", observedGeneration: 0 });
    expect(await rate()).toMatchObject({ status: "InProgress", message: expect.stringContaining("not yet observed") });
    expect(
      (await checkHealth(cluster, [{ ...deployment("zero"), metadata: { name: "zero", namespace: ns.name } }], custom))
        .objects[0]?.status,
    ).toBe("Current");
  });

  it("a PersistentVolumeClaim is InProgress until the controller manager binds it to a volume, then Current", async () => {
    // Prepare: a claim with no volume to bind, then a matching volume (no storage class: static binding)
    const pvc: KubeObject = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: ns.name },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: "",
        volumeName: `pv-${ns.name}`,
        resources: { requests: { storage: "1Gi" } },
      },
    };
    const pv: KubeObject = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `pv-${ns.name}` },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: "",
        hostPath: { path: "/tmp/sluice-pv" },
      },
    };
    await applyAll(cluster, [pvc], { owner });
    // Act
    const pending = await checkHealth(cluster, [pvc]);
    await applyAll(cluster, [pv], { owner });
    const bound = await waitForHealth(cluster, [pvc], { timeoutMs: 30_000, intervalMs: 200 });
    // Assess
    expect(pending.objects[0]?.status).toBe("InProgress");
    expect(bound.objects[0]).toMatchObject({ status: "Current", message: "PVC is Bound" });
  });

  it("StatefulSet, DaemonSet, Service, PodDisruptionBudget and CronJob become Current as the controllers report them; a Job without a kubelet stays InProgress", async () => {
    // Prepare
    const labels = { app: "kinds" };
    const podSpec = { containers: [{ name: "app", image: "registry.invalid/app:1" }] };
    const objects: KubeObject[] = [
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "sts", namespace: ns.name },
        spec: {
          replicas: 0,
          serviceName: "sts",
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: podSpec },
        },
      },
      {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: { name: "ds", namespace: ns.name },
        // On no Node: other test files register a kubelet stand-in's Node while this runs, which would want a pod.
        spec: {
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { ...podSpec, nodeSelector: { "sluice.dev/no-such-node": "true" } } },
        },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "svc", namespace: ns.name },
        spec: { selector: labels, ports: [{ port: 80 }] },
      },
      {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: "pdb", namespace: ns.name },
        spec: { minAvailable: 0, selector: { matchLabels: labels } },
      },
      {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "cron", namespace: ns.name },
        spec: {
          schedule: "0 0 1 1 *",
          jobTemplate: { spec: { template: { spec: { ...podSpec, restartPolicy: "Never" } } } },
        },
      },
    ];
    const job: KubeObject = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "job", namespace: ns.name },
      spec: { template: { spec: { ...podSpec, restartPolicy: "Never" } } },
    };
    await applyAll(cluster, [...objects, job], { owner });
    // Act
    const settled = await waitForHealth(cluster, objects, { timeoutMs: 30_000, intervalMs: 200 });
    const running = await waitForHealth(cluster, [job], { timeoutMs: 3_000, intervalMs: 200 });
    // Assess
    expect(settled.objects.filter((o) => o.status !== "Current")).toEqual([]);
    expect(running.objects[0]).toMatchObject({ status: "InProgress" });
    expect(running.objects[0]?.message).toMatch(/Job (in progress|not started)/);
  });

  it("a missing object is NotFound and a Namespace is Current", async () => {
    // Act
    const report = await checkHealth(cluster, [
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "absent", namespace: ns.name } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: ns.name } },
    ]);
    // Assess
    expect(report.objects.map((o) => [o.subject, o.status])).toEqual([
      [`ConfigMap/${ns.name}/absent`, "NotFound"],
      [`Namespace/${ns.name}`, "Current"],
    ]);
    expect(report.healthy).toBe(false);
  });
});
