import { describe, expect, inject, it } from "vitest";
import { APP_NAMESPACE, DEMO_NAMESPACE, runDemo } from "../scripts/demo.js";
import { adminCluster } from "./apply/helpers.js";

const { kube, git } = inject("testbed");

interface Secret {
  metadata: { resourceVersion: string };
  data?: Record<string, string>;
}

describe(`npm run demo (examples/fleet on kube-apiserver ${kube.version}, ${git.version} server)`, () => {
  it("reconciles the example fleet, applies a pushed change through the webhook, reverts a hand edit", async () => {
    const summary = await runDemo({
      kubeconfig: kube.kubeconfig,
      kubeconfigPath: kube.kubeconfigPath,
      git,
      repo: "demo-fleet",
    });
    expect(summary.objects).toBe(8);
    expect(summary.pushToAppliedMs).toBeGreaterThan(0);
    expect(summary.driftRevertedMs).toBeGreaterThan(0);
  }, 180_000);

  it("runs again on a cluster Flux bootstrapped, leaving its flux-system alone and nothing of its own behind", async () => {
    // Arrange: what `flux bootstrap` leaves, a flux-system namespace with a flux-system Secret
    const admin = await adminCluster(kube);
    const send = <T>(method: "GET" | "POST", path: string, body?: unknown) =>
      admin.client.send<T>({ method, path, ...(body !== undefined && { body }) });
    await send("POST", "/api/v1/namespaces", { metadata: { name: "flux-system" } }).catch(() => "exists");
    await send("POST", "/api/v1/namespaces/flux-system/secrets", {
      metadata: { name: "flux-system" },
      stringData: { identity: "flux's own deploy key" },
    }).catch(() => "exists");
    const before = await send<Secret>("GET", "/api/v1/namespaces/flux-system/secrets/flux-system");
    // Act: twice, as someone trying it again would
    const first = await runDemo({
      kubeconfig: kube.kubeconfig,
      kubeconfigPath: kube.kubeconfigPath,
      git,
      repo: "again",
    });
    const second = await runDemo({
      kubeconfig: kube.kubeconfig,
      kubeconfigPath: kube.kubeconfigPath,
      git,
      repo: "again",
    });
    // Assess
    expect([first.objects, second.objects]).toEqual([8, 8]);
    const after = await send<Secret>("GET", "/api/v1/namespaces/flux-system/secrets/flux-system");
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    for (const namespace of [DEMO_NAMESPACE, APP_NAMESPACE])
      await expect(send("GET", `/api/v1/namespaces/${namespace}`)).rejects.toMatchObject({ status: 404 });
  }, 360_000);

  it("refuses a namespace of its name that it did not create, and leaves it", async () => {
    // Arrange
    const admin = await adminCluster(kube);
    await admin.client.send({
      method: "POST",
      path: "/api/v1/namespaces",
      body: { metadata: { name: DEMO_NAMESPACE } },
    });
    try {
      // Act
      const refused = runDemo({
        kubeconfig: kube.kubeconfig,
        kubeconfigPath: kube.kubeconfigPath,
        git,
        repo: "theirs",
      });
      // Assess
      await expect(refused).rejects.toThrow(`namespace ${DEMO_NAMESPACE} exists and was not created by the demo`);
      await expect(
        admin.client.send({ method: "GET", path: `/api/v1/namespaces/${DEMO_NAMESPACE}` }),
      ).resolves.toBeDefined();
    } finally {
      await admin.client.send({ method: "DELETE", path: `/api/v1/namespaces/${DEMO_NAMESPACE}` });
    }
  });
});
