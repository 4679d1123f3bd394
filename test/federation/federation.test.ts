import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import { getObject } from "../../src/apply/objects-api.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import type { LocalControlPlane } from "../../src/runtime/local.js";
import { applyToStore } from "../../src/store/objects.js";
import {
  adminCluster,
  closedPort,
  configMapSource,
  controlPlane,
  extraCluster,
  kubeconfigFor,
  kustomization,
  readyOf,
  registerCluster,
  silentServer,
  until,
} from "./clusters.js";

const { kube, git, helmRepo } = inject("testbed");

/** The ConfigMap a Kustomization applied on a cluster, if it is there. */
/** Waits until a Kustomization's Ready condition has `status`, and returns it. */
async function readyWith(
  lp: LocalControlPlane,
  namespace: string,
  name: string,
  status: "True" | "False",
  timeoutMs?: number,
) {
  return until(
    `${name} Ready=${status}`,
    async () => ((await readyOf(lp, namespace, name))?.status === status ? readyOf(lp, namespace, name) : undefined),
    timeoutMs,
  );
}

async function appliedConfigMap(cluster: Cluster, namespace: string) {
  const info = await cluster.discovery.find("v1", "ConfigMap");
  return getObject(cluster, info!, namespace, "app");
}

describe(`federation: one control plane, several real kube-apiservers (${kube.version})`, () => {
  const extras: Awaited<ReturnType<typeof extraCluster>>[] = [];
  let east: Cluster;
  let west: Cluster;
  let lp: LocalControlPlane;
  const id = randomBytes(3).toString("hex");
  const ns = `fed-${id}`;

  beforeAll(async () => {
    extras.push(...(await Promise.all([extraCluster("east"), extraCluster("west")])));
    [east, west] = await Promise.all([adminCluster(extras[0]!.info), adminCluster(extras[1]!.info)]);
    lp = await controlPlane(kube);
    await applyAll(lp.cluster, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }]);
    await configMapSource(lp, git, ns, "app");
    await registerCluster(lp, "east", extras[0]!.info.kubeconfig);
    await registerCluster(lp, "west", extras[1]!.info.kubeconfig);
  });
  afterAll(async () => {
    await lp?.stop();
    await Promise.all(extras.map((e) => e.stop()));
  });

  it("applies each Kustomization to the cluster its annotation names, and the unannotated one to the control plane's", async () => {
    // Prepare: a namespace per target, each existing on its own cluster only
    await applyAll(east, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: `${ns}-east` } }]);
    await applyAll(west, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: `${ns}-west` } }]);
    await applyAll(lp.cluster, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: `${ns}-home` } }]);
    // Act
    await applyToStore(lp.runtime.store, kustomization("app-east", ns, "app", `${ns}-east`, "east"));
    await applyToStore(lp.runtime.store, kustomization("app-west", ns, "app", `${ns}-west`, "west"));
    await applyToStore(lp.runtime.store, kustomization("app-home", ns, "app", `${ns}-home`));
    // Assess
    for (const name of ["app-east", "app-west", "app-home"]) {
      const ready = await readyWith(lp, ns, name, "True");
      expect(ready.message).toMatch(/^Applied revision: main@sha1:/);
    }
    expect((await appliedConfigMap(east, `${ns}-east`))?.data).toEqual({ greeting: "hello" });
    expect(await appliedConfigMap(west, `${ns}-west`)).toBeDefined();
    expect(await appliedConfigMap(lp.cluster, `${ns}-home`)).toBeDefined();
    // Nothing leaked to the other clusters.
    expect(await appliedConfigMap(west, `${ns}-east`)).toBeUndefined();
    expect(await appliedConfigMap(lp.cluster, `${ns}-east`)).toBeUndefined();
    expect(await appliedConfigMap(east, `${ns}-west`)).toBeUndefined();
  });

  it("fails the Kustomizations of a refused and of a silent cluster alone, fast, naming the cluster, while a reachable one converges", async () => {
    // Prepare: one cluster whose port is closed, one that accepts connections and never answers
    const silent = await silentServer();
    const refused = await closedPort();
    await registerCluster(lp, "refused", kubeconfigFor(refused, kube));
    await registerCluster(lp, "silent", kubeconfigFor(silent.server, kube));
    await applyAll(east, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: `${ns}-late` } }]);
    const started = Date.now();
    // Act: more Kustomizations on the dead clusters than the control plane has workers (4)
    for (let i = 0; i < 6; i++)
      await applyToStore(lp.runtime.store, kustomization(`silent-${i}`, ns, "app", ns, "silent"));
    for (let i = 0; i < 3; i++)
      await applyToStore(lp.runtime.store, kustomization(`refused-${i}`, ns, "app", ns, "refused"));
    await applyToStore(lp.runtime.store, kustomization("late-east", ns, "app", `${ns}-late`, "east"));
    // Assess: the reachable cluster converges before the silent one's first connection has even timed out (5 s)
    await until("late-east Ready", async () => (await readyOf(lp, ns, "late-east"))?.status === "True");
    const eastReadyMs = Date.now() - started;
    expect(eastReadyMs).toBeLessThan(5_000);
    for (let i = 0; i < 3; i++) {
      const ready = await readyWith(lp, ns, `refused-${i}`, "False");
      expect(ready.reason).toBe("ReconciliationFailed");
      expect(ready.message).toMatch(
        new RegExp(
          `^cluster 'refused' is unreachable at ${refused}: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+ \\(next attempt after `,
        ),
      );
    }
    for (let i = 0; i < 6; i++) {
      const ready = await readyWith(lp, ns, `silent-${i}`, "False", 20_000);
      expect(ready.message).toMatch(
        new RegExp(
          `^cluster 'silent' is unreachable at ${silent.server}: no TLS handshake within 5s \\(next attempt after `,
        ),
      );
    }
    const allFailedMs = Date.now() - started;
    // One connection attempt answered for all six (not one 5 s timeout each, which would take 8 s with 4 workers), and no worker sat on it.
    expect(silent.connections()).toBe(1);
    expect(allFailedMs).toBeLessThan(9_000);
    await silent.close();
  });

  it("refuses a Kustomization's own kubeConfig when its registered cluster says how to reach it", async () => {
    // Prepare
    const ks = kustomization("both", ns, "app", ns, "east");
    (ks.spec as Record<string, unknown>).kubeConfig = { secretRef: { name: "elsewhere" } };
    // Act
    await applyToStore(lp.runtime.store, ks);
    // Assess
    const ready = await readyWith(lp, ns, "both", "False");
    expect(ready.message).toBe(
      "spec.kubeConfig: not used for cluster 'east' (its registration says how to reach it); remove it or the sluice.dev/cluster annotation",
    );
  });

  it("releases a HelmRelease into the registered cluster its annotation names, with Helm's storage there only", async () => {
    // Prepare
    const store = lp.runtime.store;
    const meta = (name: string, extra = {}) => ({ name, namespace: ns, ...extra });
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmRepository",
      metadata: meta("podinfo"),
      spec: { interval: "5m", url: helmRepo.url },
    });
    // Act: no node runs pods there, so the release does not wait for the rollout.
    await applyToStore(store, {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: meta("podinfo", { annotations: { "sluice.dev/cluster": "east" } }),
      spec: {
        interval: "5m",
        targetNamespace: `${ns}-east-helm`,
        storageNamespace: `${ns}-east-helm`,
        chart: { spec: { chart: "podinfo", version: "6.9.x", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
        install: { createNamespace: true, disableWait: true },
      },
    });
    // Assess
    const ready = await until("HelmRelease podinfo Ready", async () => {
      const status = (await store.get({ kind: "HelmRelease", namespace: ns, name: "podinfo" }))?.object.status as
        { conditions?: { type: string; status: string; message: string }[] } | undefined;
      const condition = status?.conditions?.find((c) => c.type === "Ready");
      return condition?.status === "True" ? condition : undefined;
    });
    // With targetNamespace, Flux names the release <targetNamespace>-<name>.
    const release = `${ns}-east-helm-podinfo`;
    expect(ready.message).toBe(
      `Helm install succeeded for release ${ns}-east-helm/${release}.v1 with chart podinfo@6.9.3`,
    );
    const storage = async (cluster: Cluster) =>
      getObject(
        cluster,
        (await cluster.discovery.find("v1", "Secret"))!,
        `${ns}-east-helm`,
        `sh.helm.release.v1.${release}.v1`,
      );
    expect((await storage(east))?.metadata.labels).toMatchObject({ owner: "helm", status: "deployed" });
    expect(await storage(lp.cluster)).toBeUndefined();
    expect(await storage(west)).toBeUndefined();
  });
});
