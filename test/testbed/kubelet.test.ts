import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { computeStatus } from "../../src/apply/health/kstatus.js";
import { until } from "../controllers/helpers.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";

const kube = inject("testbed").kube;
const kc = adminKubeConfig(kube);
const [core, apps, batch] = [kc.makeApiClient(CoreV1Api), kc.makeApiClient(AppsV1Api), kc.makeApiClient(BatchV1Api)];

/** Deployment `name` with `replicas` Pods labelled app=<name>. */
const deployment = (name: string, replicas: number, extra: { progressDeadlineSeconds?: number } = {}) => ({
  metadata: { name },
  spec: {
    replicas,
    ...extra,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: "app", image: "registry.invalid/podinfo:6.9.2" }] },
    },
  },
});

const job = (name: string) => ({
  metadata: { name },
  spec: {
    backoffLimit: 0,
    template: { spec: { restartPolicy: "Never", containers: [{ name: "hook", image: "registry.invalid/curl:8" }] } },
  },
});

const kstatus = (object: object) => computeStatus(object as Record<string, unknown>);
const podsOf = async (namespace: string, app: string) =>
  (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;

describe("kubelet stand-in", () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let kubelet: Kubelet;
  let crashing: string | undefined;
  beforeAll(async () => {
    ns = await freshNamespace(kube, "kubelet");
    kubelet = await startKubelet(kube, {
      namespaces: [ns.name],
      // One Pod of Deployment one-bad (the first asked about), and every Pod of Job doomed.
      failing: (pod: V1Pod) =>
        pod.metadata?.labels?.["job-name"] === "doomed" ||
        (pod.metadata?.labels?.app === "one-bad" && (crashing ??= pod.metadata.name) === pod.metadata.name),
    });
  });
  afterAll(async () => {
    await ns.remove();
    await kubelet.stop();
  });

  it("registers a Ready Node with capacity and holds its Lease", async () => {
    // Act: the node-lifecycle controller may taint a new Node not-ready for a moment before it reads its
    // Ready condition (seen on a loaded CI machine); the taint must go.
    let node = await core.readNode({ name: kubelet.nodeName });
    for (let i = 0; i < 100 && (node.spec?.taints ?? []).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      node = await core.readNode({ name: kubelet.nodeName });
    }
    const lease = await kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: kubelet.nodeName, namespace: "kube-node-lease" });
    // Assess
    expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(node.status?.allocatable).toMatchObject({ cpu: "64", pods: "1k" }); // the API server canonicalises quantities
    expect(node.spec?.taints ?? []).toEqual([]);
    expect(lease.spec?.holderIdentity).toBe(kubelet.nodeName);
  });

  it("removes its Node on stop", async () => {
    // Prepare
    const second = await startKubelet(kube, { namespaces: [ns.name] });
    // Act
    await second.stop();
    // Assess
    await expect(core.readNode({ name: second.nodeName })).rejects.toMatchObject({ code: 404 });
  });

  it("rolls a Deployment of 3 replicas out for real: Available, kstatus Current, every Pod bound and Ready", async () => {
    // Act
    const began = performance.now();
    await apps.createNamespacedDeployment({ namespace: ns.name, body: deployment("web", 3) });
    const live = await until("Deployment web Current", async () => {
      const d = await apps.readNamespacedDeployment({ name: "web", namespace: ns.name });
      return kstatus(d).status === "Current" && d;
    });
    const seconds = (performance.now() - began) / 1000;
    // Assess
    expect(live.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3 });
    expect(live.status?.observedGeneration).toBe(live.metadata?.generation);
    expect(live.status?.conditions?.find((c) => c.type === "Available")?.status).toBe("True");
    const pods = await podsOf(ns.name, "web");
    expect(pods.map((p) => [p.spec?.nodeName, p.status?.phase])).toEqual(Array(3).fill([kubelet.nodeName, "Running"]));
    expect(seconds).toBeLessThan(10);
  });

  it("scaling down removes the Pods for good, none left Terminating", async () => {
    // Act
    await apps.patchNamespacedDeploymentScale(
      { name: "web", namespace: ns.name, body: { spec: { replicas: 1 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const left = await until("web down to one Pod", async () => {
      const pods = await podsOf(ns.name, "web");
      return pods.length === 1 && pods;
    });
    // Assess
    expect(left[0]!.metadata?.deletionTimestamp).toBeUndefined();
    expect(kstatus(await apps.readNamespacedDeployment({ name: "web", namespace: ns.name })).status).toBe("Current");
  });

  it("keeps a failing Pod crash-looping and un-Ready, so the Deployment misses its progress deadline", async () => {
    // Act
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: deployment("one-bad", 3, { progressDeadlineSeconds: 2 }),
    });
    const failed = await until(
      "Deployment one-bad Failed",
      async () => {
        const d = await apps.readNamespacedDeployment({ name: "one-bad", namespace: ns.name });
        return kstatus(d).status === "Failed" && d;
      },
      30_000,
    );
    // Assess
    expect(failed.status).toMatchObject({ replicas: 3, readyReplicas: 2, availableReplicas: 2 });
    expect(failed.status?.conditions?.find((c) => c.type === "Progressing")?.reason).toBe("ProgressDeadlineExceeded");
    const bad = await core.readNamespacedPod({ name: crashing!, namespace: ns.name });
    expect(bad.status?.phase).toBe("Running");
    expect(bad.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    expect(bad.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe("CrashLoopBackOff");
  });

  it("runs a Job's Pod to completion: the Job is Complete (kstatus Current), its Pod Succeeded", async () => {
    // Act
    await batch.createNamespacedJob({ namespace: ns.name, body: job("hook") });
    const done = await until("Job hook Current", async () => {
      const j = await batch.readNamespacedJob({ name: "hook", namespace: ns.name });
      return kstatus(j).status === "Current" && j;
    });
    // Assess
    expect(done.status?.succeeded).toBe(1);
    const [pod] = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "job-name=hook" })).items;
    expect(pod?.status?.phase).toBe("Succeeded");
    expect(pod?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: "Completed" });
  });

  it("fails a failing Job's Pod, so the Job fails (kstatus Failed)", async () => {
    // Act
    await batch.createNamespacedJob({ namespace: ns.name, body: job("doomed") });
    const failed = await until("Job doomed Failed", async () => {
      const j = await batch.readNamespacedJob({ name: "doomed", namespace: ns.name });
      return kstatus(j).status === "Failed" && j;
    });
    // Assess
    expect(failed.status?.failed).toBe(1);
  });

  it("leaves Pods of other namespaces alone, so test files sharing the test bed keep their own", async () => {
    // Prepare
    const other = await freshNamespace(kube, "kubelet-other");
    try {
      // Act
      await core.createNamespacedPod({
        namespace: other.name,
        body: { metadata: { name: "stray" }, spec: { containers: [{ name: "app", image: "registry.invalid/app:1" }] } },
      });
      await new Promise((r) => setTimeout(r, 500));
      // Assess
      const stray = await core.readNamespacedPod({ name: "stray", namespace: other.name });
      expect(stray.spec?.nodeName).toBeUndefined();
      expect(stray.status?.phase).toBe("Pending");
    } finally {
      await other.remove();
    }
  });
});
