import { setTimeout as sleep } from "node:timers/promises";
import { AppsV1Api, PatchStrategy, type V1ConfigMap, type V1Deployment } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { adminKubeConfig, freshNamespace, objectApi } from "../env/kube-client.js";

const kube = inject("testbed").kube;

describe(`Kubernetes (kube-apiserver ${kube.version}, etcd, kube-controller-manager)`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  beforeAll(async () => {
    ns = await freshNamespace(kube, "smoke");
  });
  afterAll(() => ns.remove());

  it("reports the version the test bed built", () => {
    expect(kube.version).toBe("v1.36.3");
  });

  it("server-side applies a ConfigMap and records the field manager in managedFields", async () => {
    // Prepare
    const client = objectApi(kube);
    const desired: V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ssa-smoke", namespace: ns.name },
      data: { greeting: "hello" },
    };
    // Act
    await client.patch(desired, undefined, undefined, "sluice", true, PatchStrategy.ServerSideApply);
    const live = await client.read<V1ConfigMap>({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ssa-smoke", namespace: ns.name },
    });
    // Assess
    expect(live.data).toEqual({ greeting: "hello" });
    const applied = live.metadata?.managedFields?.find((f) => f.manager === "sluice");
    expect(applied?.operation).toBe("Apply");
    expect(JSON.stringify(applied?.fieldsV1)).toContain("f:greeting");
  });

  it("runs the controller manager: a Deployment scaled to 0 becomes Available", async () => {
    // Prepare
    const apps = adminKubeConfig(kube).makeApiClient(AppsV1Api);
    const deployment: V1Deployment = {
      metadata: { name: "zero", namespace: ns.name },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: "zero" } },
        template: {
          metadata: { labels: { app: "zero" } },
          spec: { containers: [{ name: "app", image: "registry.invalid/app:1" }] },
        },
      },
    };
    // Act
    await apps.createNamespacedDeployment({ namespace: ns.name, body: deployment });
    let available: string | undefined;
    for (let i = 0; i < 100 && available !== "True"; i++) {
      const live = await apps.readNamespacedDeployment({ name: "zero", namespace: ns.name });
      available = live.status?.conditions?.find((c) => c.type === "Available")?.status;
      if (available !== "True") await sleep(100);
    }
    // Assess
    expect(available).toBe("True");
  });
});
