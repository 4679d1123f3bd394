import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { readEvents } from "../../src/notify/file-events.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { requestDeletion } from "../../src/store/objects.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { publishChart, testHelm, tinyChart } from "../env/charts.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";
import { PODINFO } from "../env/podinfo.js";
import { planeSuite, ready, storedStatus, until, type Condition } from "./helpers.js";

// HelmRelease end to end on the test bed: podinfo's real chart from the Helm repository, released
// into the real kube-apiserver by a local control plane, rolled out by the real controller manager
// (pods made Ready by the kubelet stand-in), and Helm's own storage read back with the real helm.

const { kube, git, helmRepo, registry } = inject("testbed");
const suite = planeSuite(kube, git, { namespace: "helmrelease" });
let kubelet: Kubelet;
const failing = new Set<string>();

beforeAll(async () => {
  kubelet = await startKubelet(kube, {
    namespaces: [suite.namespace],
    failing: (pod) => failing.has(pod.metadata?.annotations?.rollout ?? ""),
  });
  await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "podinfo", { interval: "5m", url: helmRepo.url });
});
afterAll(() => kubelet?.stop());

const { put } = suite;

/** The getting-started HelmRelease, with overrides. */
function podinfoRelease(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    interval: "5m",
    chart: { spec: { chart: PODINFO.chart, version: "6.9.x", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
    values: { replicaCount: 3, resources: { requests: { cpu: "100m", memory: "128Mi" } } },
    install: { remediation: { retries: 3 } },
    upgrade: { remediation: { remediateLastFailure: true } },
    timeout: "30s",
    ...overrides,
  };
}

const releaseStatus = (name: string) => storedStatus(suite.plane, "HelmRelease", suite.namespace, name);
const condition = (status: { conditions?: Condition[] }, type: string) =>
  status.conditions?.find((c) => c.type === type);

async function readyWith(name: string, reason: string, timeoutMs = 60_000) {
  let last: Condition | undefined;
  return until(
    () => `${name} Ready with ${reason}, last ${JSON.stringify(last)}`,
    async () => {
      const status = await releaseStatus(name);
      last = ready(status);
      return last?.reason === reason && status;
    },
    timeoutMs,
  );
}

async function helm(args: string[]): Promise<string> {
  return (await testHelm([...args, "--kubeconfig", kube.kubeconfigPath])).stdout;
}

async function helmHistory(
  release: string,
): Promise<{ revision: number; updated: string; status: string; chart: string; description: string }[]> {
  return JSON.parse(await helm(["history", release, "-n", suite.namespace, "-o", "json"]));
}

/** The events about a HelmRelease once `reasons` are all among them (events are written just after the status). */
async function eventsWith(name: string, ...reasons: string[]) {
  return until(`${name} events ${reasons.join(", ")}`, async () => {
    const found = await events(name);
    const counts = (r: string) => found.filter((e) => e.reason === r).length;
    const needed = (r: string) => reasons.filter((x) => x === r).length;
    return reasons.every((r) => counts(r) >= needed(r)) && found;
  });
}

async function events(name: string) {
  return (await readEvents(statePaths(suite.plane.stateDir).events)).filter(
    (e) => e.involvedObject.kind === "HelmRelease" && e.involvedObject.name === name,
  );
}

describe("HelmRelease: Flux's getting-started example", () => {
  it("installs podinfo with Helm's own storage, rolls it out and reports Ready", async () => {
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo", podinfoRelease());
    const status = (await readyWith("podinfo", "InstallSucceeded")) as Record<string, unknown> & {
      conditions: Condition[];
    };
    expect(ready(status)?.message).toBe(
      `Helm install succeeded for release ${suite.namespace}/podinfo.v1 with chart podinfo@6.9.3`,
    );
    expect(condition(status, "Released")).toMatchObject({ status: "True", reason: "InstallSucceeded" });
    expect(status).toMatchObject({
      helmChart: `${suite.namespace}/${suite.namespace}-podinfo`,
      storageNamespace: suite.namespace,
      lastAttemptedRevision: "6.9.3",
      lastAttemptedReleaseAction: "install",
    });
    expect((status.history as { version: number; status: string; chartVersion: string }[])[0]).toMatchObject({
      version: 1,
      status: "deployed",
      chartVersion: "6.9.3",
    });

    // helm reads the release Sluice stored.
    const [list] = JSON.parse(await helm(["list", "-n", suite.namespace, "-o", "json"]));
    expect(list).toMatchObject({ name: "podinfo", revision: "1", status: "deployed", chart: "podinfo-6.9.3" });
    const values = JSON.parse(await helm(["get", "values", "podinfo", "-n", suite.namespace, "-o", "json"]));
    expect(values).toEqual({ replicaCount: 3, resources: { requests: { cpu: "100m", memory: "128Mi" } } });

    // The Deployment really rolled out, with Helm's ownership and Flux's origin labels.
    const deployment = await suite.admin.client.send<KubeObject & { status: { readyReplicas?: number } }>({
      method: "GET",
      path: `/apis/apps/v1/namespaces/${suite.namespace}/deployments/podinfo`,
    });
    expect(deployment.status.readyReplicas).toBe(3);
    expect(deployment.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "Helm",
      "helm.toolkit.fluxcd.io/name": "podinfo",
    });
    expect(deployment.metadata.annotations).toMatchObject({
      "meta.helm.sh/release-name": "podinfo",
      "meta.helm.sh/release-namespace": suite.namespace,
    });
    await eventsWith("podinfo", "InstallSucceeded");
  });

  it("upgrades on a values change, and runs no Helm action when nothing changed", async () => {
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo", podinfoRelease({ values: { replicaCount: 2 } }));
    await readyWith("podinfo", "UpgradeSucceeded");
    const history = await helmHistory("podinfo");
    expect(history.map((h) => [h.revision, h.status])).toEqual([
      [1, "superseded"],
      [2, "deployed"],
    ]);
    // A reconcile with the same chart and values writes nothing to Helm's storage.
    await suite.plane.queue.enqueue({ key: `HelmRelease/${suite.namespace}/podinfo`, reason: "interval" });
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await helmHistory("podinfo")).length).toBe(2);
  });

  it("corrects drift when driftDetection is enabled, and only reports it in warn mode", async () => {
    const replicas = async () =>
      (
        await suite.admin.client.send<{ spec: { replicas: number } }>({
          method: "GET",
          path: `/apis/apps/v1/namespaces/${suite.namespace}/deployments/podinfo`,
        })
      ).spec.replicas;
    const scaleTo = (n: number) =>
      suite.admin.client.send({
        method: "PATCH",
        path: `/apis/apps/v1/namespaces/${suite.namespace}/deployments/podinfo/scale`,
        contentType: "application/merge-patch+json",
        body: { spec: { replicas: n } },
      });
    const reconcileNow = () =>
      suite.plane.queue.enqueue({ key: `HelmRelease/${suite.namespace}/podinfo`, reason: "interval" });
    const drifted = (reason: string) =>
      until(`Drifted ${reason}`, async () => {
        const s = await releaseStatus("podinfo");
        return condition(s, "Drifted")?.reason === reason && s;
      });

    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "podinfo",
      podinfoRelease({ values: { replicaCount: 2 }, driftDetection: { mode: "warn" } }),
    );
    await drifted("NoDriftDetected");
    await scaleTo(4);
    await reconcileNow();
    const warned = await drifted("DriftDetected");
    expect(condition(warned, "Drifted")?.message).toMatch(
      /has drifted from the desired state:\nDeployment\/.*\/podinfo configured/,
    );
    expect(await replicas()).toBe(4);

    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "podinfo",
      podinfoRelease({ values: { replicaCount: 2 }, driftDetection: { mode: "enabled" } }),
    );
    await until("drift corrected", async () => (await replicas()) === 2);
    await until("a DriftCorrected event", async () =>
      (await events("podinfo")).some((e) => e.reason === "DriftCorrected"),
    );
    expect((await helmHistory("podinfo")).length).toBe(2); // corrected without a Helm upgrade
  });

  it("rolls a failing upgrade back to the last good version, with Flux's events", async () => {
    failing.add("bad");
    try {
      await put(
        "helm.toolkit.fluxcd.io/v2",
        "HelmRelease",
        "podinfo",
        podinfoRelease({
          values: { replicaCount: 2, podAnnotations: { rollout: "bad" } },
          timeout: "3s",
          upgrade: { remediation: { retries: 1 } },
        }),
      );
      let last: Condition[] | undefined;
      const status = await until(
        () => `a rollback: ${JSON.stringify(last)}`,
        async () => {
          const s = await releaseStatus("podinfo");
          last = s.conditions;
          return condition(s, "Remediated")?.reason === "RollbackSucceeded" && s;
        },
        45_000,
      );
      expect(ready(status)?.status).toBe("False");
      const history = await helmHistory("podinfo");
      // The rollback's version; with a retry left the upgrade may already be attempted again on top of it.
      const rolledBack = history.find((h) => h.description.startsWith("Rollback to 2"));
      expect(["deployed", "superseded"]).toContain(rolledBack?.status);
      expect(history.some((h) => h.description.startsWith('Upgrade "podinfo" failed: timeout waiting for'))).toBe(true);
      await eventsWith("podinfo", "UpgradeFailed", "RollbackSucceeded");
    } finally {
      failing.delete("bad");
    }
  });
});

describe("HelmRelease: values and remediation", () => {
  it("upgrade.cleanupOnFail deletes what a failed upgrade created, and keeps what the previous version had", async () => {
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "cleanup", podinfoRelease({ values: { replicaCount: 1 } }));
    await readyWith("cleanup", "InstallSucceeded");
    failing.add("cleanup");
    try {
      // The upgrade brings a ServiceAccount, and a rollout that never becomes ready.
      await put(
        "helm.toolkit.fluxcd.io/v2",
        "HelmRelease",
        "cleanup",
        podinfoRelease({
          values: { replicaCount: 1, serviceAccount: { enabled: true }, podAnnotations: { rollout: "cleanup" } },
          timeout: "3s",
          upgrade: { cleanupOnFail: true, remediation: { retries: 0 } },
        }),
      );
      let last: Condition[] | undefined;
      await until(
        () => `UpgradeFailed: ${JSON.stringify(last)}`,
        async () => {
          const s = await releaseStatus("cleanup");
          last = s.conditions;
          return condition(s, "Released")?.reason === "UpgradeFailed";
        },
        45_000,
      );
      const live = async (kind: string, name: string) =>
        getObject(suite.plane.cluster, (await suite.plane.cluster.discovery.find("v1", kind))!, suite.namespace, name);
      expect(await live("ServiceAccount", "cleanup-podinfo")).toBeUndefined();
      expect(await live("Service", "cleanup-podinfo")).toBeDefined();
      expect((await helmHistory("cleanup")).map((h) => [h.revision, h.status])).toContainEqual([2, "failed"]);
    } finally {
      failing.delete("cleanup");
    }
  });

  it("sets valuesFrom with targetPath over the values, as Helm's --set does", async () => {
    await suite.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${suite.namespace}/secrets`,
      body: { metadata: { name: "team" }, stringData: { name: "payments" } },
    });
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "targeted",
      podinfoRelease({
        values: { replicaCount: 1, podAnnotations: { team: "overridden" } },
        valuesFrom: [{ kind: "Secret", name: "team", valuesKey: "name", targetPath: "podAnnotations.team" }],
      }),
    );
    await readyWith("targeted", "InstallSucceeded");
    const deployment = await suite.admin.client.send<{
      spec: { template: { metadata: { annotations?: Record<string, string> } } };
    }>({ method: "GET", path: `/apis/apps/v1/namespaces/${suite.namespace}/deployments/targeted-podinfo` });
    expect(deployment.spec.template.metadata.annotations?.team).toBe("payments");
  });

  it("upgrade.preserveValues keeps a value the previous release set and the new spec drops", async () => {
    const message = async () => {
      const deployment = await suite.admin.client.send<{
        spec: { template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } };
      }>({ method: "GET", path: `/apis/apps/v1/namespaces/${suite.namespace}/deployments/preserved-podinfo` });
      return deployment.spec.template.spec.containers[0]!.env?.find((e) => e.name === "PODINFO_UI_MESSAGE")?.value;
    };
    const values = { replicaCount: 1, ui: { message: "from revision 1", color: "#112233" } };
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "preserved", podinfoRelease({ values }));
    await readyWith("preserved", "InstallSucceeded");
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "preserved",
      podinfoRelease({
        values: { replicaCount: 2, ui: { color: null } },
        upgrade: { preserveValues: true, remediation: { remediateLastFailure: true } },
      }),
    );
    await readyWith("preserved", "UpgradeSucceeded");
    const stored = JSON.parse(await helm(["get", "values", "preserved", "-n", suite.namespace, "-o", "json"]));
    // ui.message kept; ui.color's null drops the previous value from the values...
    expect(stored).toEqual({ replicaCount: 2, ui: { message: "from revision 1" } });
    expect(await message()).toBe("from revision 1");
    // ...but not from the chart's defaults, which Helm replaces with the previous release's coalesced values.
    const all = JSON.parse(await helm(["get", "values", "preserved", "-n", suite.namespace, "-a", "-o", "json"]));
    expect(all.ui).toEqual({ color: "#112233", logo: "", message: "from revision 1" });
  });

  it("post-renders with kustomize images and patches, and stores the post-rendered manifest", async () => {
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "patched",
      podinfoRelease({
        values: { replicaCount: 1 },
        postRenderers: [
          { kustomize: { images: [{ name: "ghcr.io/stefanprodan/podinfo", newTag: "6.9.9" }] } },
          {
            kustomize: {
              patches: [
                {
                  target: { kind: "Service" },
                  patch: '[{"op": "add", "path": "/metadata/annotations", "value": {"patched": "yes"}}]',
                },
              ],
            },
          },
        ],
      }),
    );
    await readyWith("patched", "InstallSucceeded");
    const deployment = await suite.admin.client.send<{
      spec: { template: { spec: { containers: { image: string }[] } } };
    }>({
      method: "GET",
      path: `/apis/apps/v1/namespaces/${suite.namespace}/deployments/patched-podinfo`,
    });
    expect(deployment.spec.template.spec.containers[0]!.image).toBe("ghcr.io/stefanprodan/podinfo:6.9.9");
    const service = await suite.admin.client.send<KubeObject>({
      method: "GET",
      path: `/api/v1/namespaces/${suite.namespace}/services/patched-podinfo`,
    });
    expect(service.metadata.annotations?.patched).toBe("yes");
    expect(await helm(["get", "manifest", "patched", "-n", suite.namespace])).toContain("podinfo:6.9.9");
  });

  it("retries a failing install after uninstalling it, then (remediateLastFailure) uninstalls the last and stalls", async () => {
    failing.add("never");
    try {
      await put(
        "helm.toolkit.fluxcd.io/v2",
        "HelmRelease",
        "never-ready",
        podinfoRelease({
          values: { replicaCount: 1, podAnnotations: { rollout: "never" } },
          timeout: "2s",
          install: { remediation: { retries: 1, remediateLastFailure: true } },
        }),
      );
      const status = await until(
        "RetriesExceeded",
        async () => {
          const s = await releaseStatus("never-ready");
          return ready(s)?.reason === "RetriesExceeded" && s;
        },
        45_000,
      );
      expect(ready(status)?.message).toBe("Failed to install after 2 attempt(s)");
      expect(condition(status, "Stalled")?.status).toBe("True");
      const reasons = (
        await eventsWith("never-ready", "InstallFailed", "InstallFailed", "UninstallSucceeded", "UninstallSucceeded")
      ).map((e) => e.reason);
      expect(reasons.filter((r) => r === "InstallFailed").length).toBe(2);
      expect(await helm(["list", "-n", suite.namespace, "-q", "--filter", "^never-ready$"])).toBe("");
    } finally {
      failing.delete("never");
    }
  }, 60_000);
});

describe("HelmRelease: install and upgrade strategy RetryOnFailure", () => {
  const retrying = (name: string, action: string) =>
    until(`${name}: ${action} failed, retrying`, async () => {
      const s = await releaseStatus(name);
      const reconciling = condition(s, "Reconciling");
      return ready(s)?.reason === `${action}Failed` && reconciling?.reason === "ProgressingWithRetry" && s;
    });
  const versions = async (name: string, count: number) =>
    until(
      `${name}: ${count} versions`,
      async () => {
        const history = await helmHistory(name);
        return history.length >= count && history;
      },
      45_000,
    );
  const remediationEvents = async (name: string) =>
    (await events(name)).filter((e) => ["UninstallSucceeded", "RollbackSucceeded"].includes(e.reason));

  it("retries a failing install as an upgrade after retryInterval, never uninstalls; fixed values recover it", async () => {
    failing.add("retry-install");
    try {
      const strategy = { name: "RetryOnFailure", retryInterval: "5s" };
      const spec = (rollout: string) =>
        podinfoRelease({
          values: { replicaCount: 1, podAnnotations: { rollout } },
          timeout: "2s",
          install: { strategy },
          upgrade: { strategy },
        });
      await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "retried", spec("retry-install"));
      const failed = await retrying("retried", "Install");
      expect(condition(failed, "Reconciling")?.message).toBe("retrying after 5s");
      expect(condition(failed, "Stalled")).toBeUndefined();
      expect(failed).toMatchObject({ failures: 1, installFailures: 1, lastAttemptedReleaseAction: "install" });
      // The retry is the failed release upgraded, after the interval: no uninstall, no rollback in between.
      const history = await versions("retried", 3);
      // (The newest version may still be pending-upgrade, its rollout being checked.)
      expect(history.slice(0, 2).map((h) => h.status)).toEqual(["failed", "failed"]);
      expect(history[1]!.description).toMatch(/^Upgrade "retried" failed: /);
      expect(await remediationEvents("retried")).toEqual([]);

      await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "retried", spec("fine"));
      const recovered = (await readyWith("retried", "UpgradeSucceeded", 45_000)) as Record<string, unknown>;
      expect(condition(recovered as never, "Reconciling")).toBeUndefined();
      expect(recovered.failures ?? 0).toBe(0);
      expect(recovered.installFailures ?? 0).toBe(0);
      expect(recovered.upgradeFailures ?? 0).toBe(0);
      expect((await helmHistory("retried")).at(-1)!.status).toBe("deployed");
      expect(await remediationEvents("retried")).toEqual([]);
    } finally {
      failing.delete("retry-install");
    }
  }, 90_000);

  it("retries a failing upgrade without rolling back; the attacker's retryInterval of 1ms waits the 5s floor", async () => {
    const spec = (rollout: string) =>
      podinfoRelease({
        values: { replicaCount: 1, podAnnotations: { rollout } },
        timeout: "2s",
        upgrade: { strategy: { name: "RetryOnFailure", retryInterval: "1ms" } },
      });
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "upgraded", spec("fine"));
    await readyWith("upgraded", "InstallSucceeded");
    failing.add("retry-upgrade");
    try {
      await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "upgraded", spec("retry-upgrade"));
      const failed = await retrying("upgraded", "Upgrade");
      expect(condition(failed, "Reconciling")?.message).toBe("retrying after 5s");
      const history = await versions("upgraded", 4);
      expect(history.slice(0, 3).map((h) => h.status)).toEqual(["superseded", "failed", "failed"]);
      // Versions are at least the 5s floor apart: each starts 5s after the previous one failed, and a version's
      // `updated` is stamped when its record is first written, after the render, so its 2s timeout (counted from the
      // reconcile's start) may be only partly in between. No hot loop.
      const updated = history.map((h) => Date.parse(h.updated));
      for (const i of [2, 3]) expect(updated[i]! - updated[i - 1]!).toBeGreaterThanOrEqual(5_000);
      expect(await remediationEvents("upgraded")).toEqual([]);
      expect(history.every((h) => !h.description.startsWith("Rollback"))).toBe(true);
    } finally {
      failing.delete("retry-upgrade");
    }
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "upgraded", spec("fine"));
    await readyWith("upgraded", "UpgradeSucceeded", 45_000);
    expect(await remediationEvents("upgraded")).toEqual([]);
  }, 90_000);
});

describe("HelmRelease: hooks and tests", () => {
  /** A chart with a ConfigMap and a pre-install/pre-upgrade Job hook whose pod carries `rollout: <outcome>`. */
  async function hookedChart(name: string, outcome: string): Promise<void> {
    const dir = await tinyChart(name, "1.0.0");
    await writeFile(
      join(dir, "templates", "migrate.yaml"),
      [
        "apiVersion: batch/v1",
        "kind: Job",
        "metadata:",
        "  name: {{ .Release.Name }}-migrate",
        "  annotations:",
        '    "helm.sh/hook": pre-install,pre-upgrade',
        '    "helm.sh/hook-delete-policy": hook-succeeded',
        "spec:",
        "  backoffLimit: 0",
        "  template:",
        "    metadata:",
        `      annotations: { rollout: ${outcome} }`,
        "    spec:",
        "      restartPolicy: Never",
        "      containers: [{ name: migrate, image: busybox }]",
        "",
      ].join("\n"),
    );
    await publishChart(helmRepo, dir);
  }
  beforeAll(async () => {
    await hookedChart("hooked-ok", "ok");
    await hookedChart("hooked-bad", "doomed");
    await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "hooks", { interval: "5m", url: helmRepo.url });
  });
  const hooked = (name: string) =>
    podinfoRelease({
      chart: { spec: { chart: name, version: "1.0.0", sourceRef: { kind: "HelmRepository", name: "hooks" } } },
      values: {},
      install: { remediation: { retries: 0 } },
    });

  it("runs a pre-install Job hook to completion before installing, records it in the release, deletes it", async () => {
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "hooked-ok", hooked("hooked-ok"));
    await readyWith("hooked-ok", "InstallSucceeded");
    const manifest = await helm(["get", "hooks", "hooked-ok", "-n", suite.namespace]);
    expect(manifest).toContain("hooked-ok-migrate");
    // With no post-renderer, hooks still get helm-controller's origin labels (its own post-renderer, combined).
    expect(manifest).toContain("helm.toolkit.fluxcd.io/name: hooked-ok");
    const job = await suite.admin.client
      .send({ method: "GET", path: `/apis/batch/v1/namespaces/${suite.namespace}/jobs/hooked-ok-migrate` })
      .catch((e: { status?: number }) => e.status);
    expect(job).toBe(404); // hook-succeeded
  });

  it("fails the install with the hook named when the hook Job fails, and applies nothing of the chart", async () => {
    failing.add("doomed");
    try {
      await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "hooked-bad", hooked("hooked-bad"));
      const status = await until("InstallFailed", async () => {
        const s = await releaseStatus("hooked-bad");
        return condition(s, "Released")?.reason === "InstallFailed" && s;
      });
      expect(condition(status, "Released")?.message).toContain("pre-install hook Job/hooked-bad-migrate failed");
      const configMap = await suite.admin.client
        .send({ method: "GET", path: `/api/v1/namespaces/${suite.namespace}/configmaps/hooked-bad-config` })
        .catch((e: { status?: number }) => e.status);
      expect(configMap).toBe(404);
    } finally {
      failing.delete("doomed");
    }
  });

  it("sends hooks to the post-renderers (postRenderStrategy combined, the default, and separate), never with nohooks", async () => {
    // The failing hook's pod annotation patched to one the kubelet stand-in lets succeed: only a patch that
    // reaches the hook saves the install.
    const fixHook = {
      kustomize: {
        patches: [
          {
            target: { kind: "Job" },
            patch: '[{"op":"replace","path":"/spec/template/metadata/annotations/rollout","value":"ok"}]',
          },
        ],
      },
    };
    failing.add("doomed");
    try {
      for (const [name, strategy] of [
        ["post-combined", undefined],
        ["post-separate", "separate"],
      ] as const) {
        const spec = { ...hooked("hooked-bad"), postRenderers: [fixHook], postRenderStrategy: strategy };
        await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, spec);
        await readyWith(name, "InstallSucceeded");
        const hooks = await helm(["get", "hooks", name, "-n", suite.namespace]);
        expect(hooks).toContain("rollout: ok");
        // helm-controller's origin labels reach the hook through the post-renderer too.
        expect(hooks).toContain(`helm.toolkit.fluxcd.io/name: ${name}`);
      }
      const spec = { ...hooked("hooked-bad"), postRenderers: [fixHook], postRenderStrategy: "nohooks" };
      await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "post-nohooks", spec);
      const status = await until("InstallFailed", async () => {
        const s = await releaseStatus("post-nohooks");
        return condition(s, "Released")?.reason === "InstallFailed" && s;
      });
      expect(condition(status, "Released")?.message).toContain("pre-install hook Job/post-nohooks-migrate failed");
    } finally {
      failing.delete("doomed");
    }
  });

  it("runs podinfo's test hooks when test.enable is set, and reports TestSuccess", async () => {
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "tested",
      podinfoRelease({
        values: { replicaCount: 1 },
        test: { enable: true, filters: [{ name: "tested-podinfo-jwt-test", exclude: true }] },
      }),
    );
    const status = await readyWith("tested", "TestSucceeded");
    expect(ready(status)?.message).toMatch(
      /^Helm test succeeded for release .*\/tested\.v1 with chart podinfo@6\.9\.3: \d+ test hooks completed successfully$/,
    );
    const head = (status as { history?: { testHooks?: Record<string, { phase: string }> }[] }).history?.[0];
    expect(Object.values(head?.testHooks ?? {}).every((h) => h.phase === "Succeeded")).toBe(true);
    expect(Object.keys(head?.testHooks ?? {})).not.toContain("tested-podinfo-jwt-test");
  });
});

describe("HelmRelease: a chart from a GitRepository", () => {
  it("packages the chart folder with its file:// dependency and releases both", async () => {
    const configMap = (name: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-${name}\ndata:\n  from: ${name}\n`;
    const repo = `${suite.namespace}-charts`;
    const url = await createRepo(git, repo);
    await pushTree(git, repo, {
      files: {
        "charts/app/Chart.yaml":
          "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n",
        "charts/app/templates/app.yaml": configMap("app"),
        "charts/lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
        "charts/lib/templates/lib.yaml": configMap("lib"),
      },
    });
    await put("source.toolkit.fluxcd.io/v1", "GitRepository", "charts", {
      interval: "5m",
      url,
      ref: { branch: "main" },
      secretRef: { name: "git-auth" },
    });
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "from-git",
      podinfoRelease({
        chart: { spec: { chart: "./charts/app", sourceRef: { kind: "GitRepository", name: "charts" } } },
        values: {},
      }),
    );
    await readyWith("from-git", "InstallSucceeded");
    for (const name of ["from-git-app", "from-git-lib"]) {
      const cm = await suite.admin.client.send<{ data: Record<string, string> }>({
        method: "GET",
        path: `/api/v1/namespaces/${suite.namespace}/configmaps/${name}`,
      });
      expect(cm.data.from).toBe(name.replace("from-git-", ""));
    }
  });
});

describe("HelmRelease: a chart from an OCIRepository (chartRef)", () => {
  it("releases podinfo pulled from the registry, its version carrying the artifact's digest as helm-controller sets it", async () => {
    await put("source.toolkit.fluxcd.io/v1", "OCIRepository", "podinfo-oci", {
      interval: "5m",
      url: registry.podinfo,
      ref: { tag: PODINFO.version },
      layerSelector: { mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", operation: "copy" },
    });
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "from-oci",
      podinfoRelease({
        chart: undefined,
        chartRef: { kind: "OCIRepository", name: "podinfo-oci" },
        values: { replicaCount: 1 },
      }),
    );
    const status = (await readyWith("from-oci", "InstallSucceeded")) as {
      lastAttemptedRevision?: string;
      lastAttemptedRevisionDigest?: string;
    };
    expect(status.lastAttemptedRevision).toMatch(/^6\.9\.2\+[0-9a-f]{12}$/);
    expect(status.lastAttemptedRevisionDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(status.lastAttemptedRevision!.split("+")[1]).toBe(status.lastAttemptedRevisionDigest!.slice(7, 19));
    const [listed] = JSON.parse(await helm(["list", "-n", suite.namespace, "--filter", "^from-oci$", "-o", "json"]));
    expect(listed.chart).toBe(`podinfo-${status.lastAttemptedRevision}`);
  });
});

describe("HelmRelease: bad input fails clearly and uninstalls nothing", () => {
  it("an unknown chart version waits on the HelmChart, naming it", async () => {
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "missing-version",
      podinfoRelease({
        chart: { spec: { chart: "podinfo", version: "99.x", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
      }),
    );
    const status = await until("SourceNotReady", async () => {
      const s = await releaseStatus("missing-version");
      return ready(s)?.reason === "SourceNotReady" && s;
    });
    expect(ready(status)?.message).toContain(
      `HelmChart '${suite.namespace}/${suite.namespace}-missing-version' is not ready`,
    );
    // Still in progress, as helm-controller leaves it: a Kustomization waiting on it keeps waiting, not failing.
    expect(condition(status, "Reconciling")).toMatchObject({ status: "True", message: "Fulfilling prerequisites" });
  });

  it("a dependsOn on a HelmRelease that does not exist holds it as DependencyNotReady, naming it", async () => {
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "waits",
      podinfoRelease({ dependsOn: [{ name: "nowhere" }] }),
    );
    const status = await until("DependencyNotReady", async () => {
      const s = await releaseStatus("waits");
      return ready(s)?.reason === "DependencyNotReady" && s;
    });
    expect(ready(status)?.message).toBe(`unable to get '${suite.namespace}/nowhere' dependency: not found`);
    expect(await helm(["list", "-n", suite.namespace, "-q", "--filter", "^waits$"])).toBe("");
  });

  it("a missing valuesFrom key is ValuesError naming the reference", async () => {
    await suite.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${suite.namespace}/configmaps`,
      body: { metadata: { name: "podinfo-values" }, data: { other: "a: 1" } },
    });
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "bad-values",
      podinfoRelease({ valuesFrom: [{ kind: "ConfigMap", name: "podinfo-values" }] }),
    );
    const status = await until("ValuesError", async () => {
      const s = await releaseStatus("bad-values");
      return ready(s)?.reason === "ValuesError" && s;
    });
    expect(ready(status)?.message).toContain("podinfo-values");
  });

  it("a chart that fails to render is InstallFailed with helm's message, and nothing is installed", async () => {
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "bad-render",
      podinfoRelease({ values: { replicaCount: { not: "a number" } }, install: { remediation: { retries: 0 } } }),
    );
    const status = await until("InstallFailed", async () => {
      const s = await releaseStatus("bad-render");
      return (condition(s, "Released")?.reason === "InstallFailed" || ready(s)?.reason === "RetriesExceeded") && s;
    });
    expect(condition(status, "Released")?.message).toMatch(
      /^Helm install failed for release .*\/bad-render with chart podinfo@6\.9\.3: /,
    );
    // The failed version stays in Helm's storage, as Flux leaves it; nothing of it was applied.
    const [listed] = JSON.parse(await helm(["list", "-n", suite.namespace, "--filter", "^bad-render$", "-o", "json"]));
    expect(listed).toMatchObject({ name: "bad-render", status: "failed" });
  });
});

describe("HelmRelease: adoption and removal", () => {
  it("with disableTakeOwnership, an object the chart would create that exists without Helm's metadata fails the install, naming it; by default it is adopted", async () => {
    // An existing Service of the name the chart gives its own (`<release>-podinfo`), made by someone else.
    await applyAll(suite.plane.cluster, [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "foreign-podinfo", namespace: suite.namespace },
        spec: { ports: [{ port: 9898 }] },
      },
    ]);
    const strict = podinfoRelease({ install: { disableTakeOwnership: true, remediation: { retries: 0 } } });
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "foreign", strict);
    let last: unknown;
    const refused = await until(
      () => `InstallFailed, last ${JSON.stringify(last)}`,
      async () => {
        const s = await releaseStatus("foreign");
        last = s.conditions;
        return condition(s, "Released")?.reason === "InstallFailed" && s;
      },
    );
    expect(condition(refused, "Released")?.message).toContain(
      `unable to continue with install: Service "foreign-podinfo" in namespace "${suite.namespace}" exists and cannot be imported into the current release: invalid ownership metadata; ` +
        `label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; ` +
        `annotation validation error: missing key "meta.helm.sh/release-name": must be set to "foreign"; ` +
        `annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "${suite.namespace}"`,
    );
    // Nothing was recorded or applied, as Helm checks before it starts.
    await expect(helmHistory("foreign")).rejects.toThrow(/release: not found/);

    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "foreign", podinfoRelease({ timeout: "1m" }));
    await readyWith("foreign", "InstallSucceeded");
    const service = await getObject(
      suite.plane.cluster,
      (await suite.plane.cluster.discovery.find("v1", "Service"))!,
      suite.namespace,
      "foreign-podinfo",
    );
    expect(service?.metadata.annotations?.["meta.helm.sh/release-name"]).toBe("foreign");
  });

  it("adopts a release installed by `helm install` with an upgrade to revision 2, never a reinstall", async () => {
    await helm([
      "install",
      "adopted",
      `${helmRepo.dir}/podinfo-${PODINFO.version}.tgz`,
      "-n",
      suite.namespace,
      "--set",
      "replicaCount=1",
    ]);
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "adopted", podinfoRelease({ values: { replicaCount: 1 } }));
    await readyWith("adopted", "UpgradeSucceeded");
    const history = await helmHistory("adopted");
    expect(history.map((h) => [h.revision, h.status])).toEqual([
      [1, "superseded"],
      [2, "deployed"],
    ]);
  });

  it("uninstalls the old release when the release name changes, then installs the new one", async () => {
    await put(
      "helm.toolkit.fluxcd.io/v2",
      "HelmRelease",
      "adopted",
      podinfoRelease({ values: { replicaCount: 1 }, releaseName: "renamed" }),
    );
    await readyWith("adopted", "InstallSucceeded");
    expect(await helm(["list", "-n", suite.namespace, "-q", "--filter", "^(adopted|renamed)$"])).toBe("renamed\n");
  });

  it("uninstalls when the HelmRelease is deleted", async () => {
    await requestDeletion(
      suite.plane.runtime.store,
      { kind: "HelmRelease", namespace: suite.namespace, name: "adopted" },
      new Date(),
    );
    await until(
      "the release gone",
      async () => (await helm(["list", "-n", suite.namespace, "-q", "--filter", "^renamed$"])) === "",
    );
    await until(
      "the HelmRelease gone",
      async () =>
        !(await suite.plane.runtime.store.get({ kind: "HelmRelease", namespace: suite.namespace, name: "adopted" })),
    );
  });

  it("reinstalls over a kept, uninstalled history only with install.replace, as Helm reuses a name", async () => {
    const spec = (install: Record<string, unknown>) =>
      podinfoRelease({ values: { replicaCount: 1 }, uninstall: { keepHistory: true }, install });
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "reused", spec({}));
    await readyWith("reused", "InstallSucceeded");
    const key = { kind: "HelmRelease", namespace: suite.namespace, name: "reused" };
    await requestDeletion(suite.plane.runtime.store, key, new Date());
    await until("the HelmRelease gone", async () => !(await suite.plane.runtime.store.get(key)));
    expect((await helmHistory("reused")).map((h) => h.status)).toEqual(["uninstalled"]);

    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "reused", spec({ remediation: { retries: 0 } }));
    let last: Condition[] | undefined;
    const refused = await until(
      () => `InstallFailed: ${JSON.stringify(last)}`,
      async () => {
        const s = await releaseStatus("reused");
        last = s.conditions;
        return condition(s, "Released")?.reason === "InstallFailed" && s;
      },
    );
    expect(condition(refused, "Released")?.message).toBe(
      `Helm install failed for release ${suite.namespace}/reused with chart podinfo@6.9.3: cannot reuse a name that is still in use`,
    );

    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "reused", spec({ replace: true }));
    await readyWith("reused", "InstallSucceeded");
    expect((await helmHistory("reused")).map((h) => [h.revision, h.status])).toEqual([
      [1, "superseded"],
      [2, "deployed"],
    ]);
  }, 120_000);
});
