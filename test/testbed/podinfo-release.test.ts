import { AppsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { testHelm } from "../env/charts.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";
import { PODINFO } from "../env/podinfo.js";

const { kube, helmRepo } = inject("testbed");

describe("podinfo's real chart on the kubelet stand-in", () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let kubelet: Kubelet;
  beforeAll(async () => {
    ns = await freshNamespace(kube, "podinfo");
    kubelet = await startKubelet(kube, { namespaces: [ns.name] });
  });
  afterAll(async () => {
    await ns.remove();
    await kubelet.stop();
  });

  it("installs with helm install --wait (3 replicas Ready), upgrades, and passes helm test", async () => {
    // Prepare
    const helm = (...args: string[]) =>
      testHelm([...args, "--kubeconfig", kube.kubeconfigPath, "--namespace", ns.name]);
    const chart = ["podinfo", "--repo", helmRepo.url];
    // Act
    const began = performance.now();
    await helm(
      "install",
      "web",
      ...chart,
      "--version",
      PODINFO.version,
      "--set",
      "replicaCount=3",
      "--wait",
      "--timeout",
      "60s",
    );
    const installSeconds = (performance.now() - began) / 1000;
    await helm(
      "upgrade",
      "web",
      ...chart,
      "--version",
      PODINFO.upgradeVersion,
      "--reuse-values",
      "--wait",
      "--timeout",
      "60s",
    );
    const tested = await helm("test", "web", "--timeout", "60s");
    const [release] = JSON.parse((await helm("list", "--output", "json")).stdout);
    // Assess
    const live = await adminKubeConfig(kube)
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: "web-podinfo", namespace: ns.name });
    expect(live.status).toMatchObject({ readyReplicas: 3, availableReplicas: 3 });
    expect(release).toMatchObject({ name: "web", revision: "2", status: "deployed", chart: "podinfo-6.9.3" });
    expect(tested.stdout).toMatch(/Phase:\s+Succeeded/);
    expect(installSeconds).toBeLessThan(30);
  });

  it("fails helm install --wait when its Pods crash-loop", async () => {
    // Prepare: a namespace of its own whose kubelet fails every Pod
    const doomed = await freshNamespace(kube, "podinfo-doomed");
    const failing = await startKubelet(kube, { namespaces: [doomed.name], failing: () => true });
    try {
      // Act
      const install = testHelm([
        ...["install", "web", "podinfo", "--repo", helmRepo.url, "--version", PODINFO.version],
        ...["--wait", "--timeout", "3s", "--kubeconfig", kube.kubeconfigPath, "--namespace", doomed.name],
      ]);
      // Assess
      await expect(install).rejects.toThrow(
        /Deployment\/[a-z0-9-]+\/web-podinfo not ready. status: InProgress, message: Available: 0\/1/,
      );
    } finally {
      await doomed.remove();
      await failing.stop();
    }
  });
});
