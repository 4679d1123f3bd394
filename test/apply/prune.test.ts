import { PatchStrategy, RbacAuthorizationV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import { EmptySetPruneError } from "../../src/apply/errors.js";
import { fromChangeSet, merge } from "../../src/apply/inventory.js";
import { deleteInventory, prune } from "../../src/apply/prune.js";
import { serviceAccount, type Cluster } from "../../src/cluster/cluster.js";
import { adminKubeConfig, freshNamespace, objectApi } from "../env/kube-client.js";
import { adminCluster, configMap } from "./helpers.js";

const kube = inject("testbed").kube;
const owner = { name: "apps", namespace: "flux-system" };

describe(`apply engine: prune and deletion (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let cluster: Cluster;
  const api = objectApi(kube);
  const exists = (name: string) =>
    api.read({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns.name } }).then(
      () => true,
      () => false,
    );
  const cm = (name: string, annotations?: Record<string, string>) =>
    configMap(name, { n: name }, { namespace: ns.name, ...(annotations ? { annotations } : {}) });

  beforeAll(async () => {
    ns = await freshNamespace(kube, "prune");
    cluster = await adminCluster(kube);
  });
  afterAll(() => ns.remove());

  it("deletes what Git no longer has, skips opted-out and moved objects, after a successful apply", async () => {
    // Prepare
    const first = fromChangeSet(
      await applyAll(
        cluster,
        [cm("keep"), cm("gone"), cm("optout", { "kustomize.toolkit.fluxcd.io/prune": "Disabled" }), cm("moved")],
        { owner },
      ),
    );
    // "moved" now belongs to another Kustomization (its labels say so)
    await api.patch(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "moved", namespace: ns.name, labels: { "kustomize.toolkit.fluxcd.io/name": "other" } },
      },
      undefined,
      undefined,
      "sluice-test",
      undefined,
      PatchStrategy.MergePatch,
    );
    const second = fromChangeSet(await applyAll(cluster, [cm("keep")], { owner }));
    // Act
    const result = await prune(cluster, first, second, { owner });
    // Assess
    expect(result.changeSet.map((e) => [e.subject, e.action]).sort()).toEqual([
      [`ConfigMap/${ns.name}/gone`, "deleted"],
      [`ConfigMap/${ns.name}/moved`, "skipped"],
      [`ConfigMap/${ns.name}/optout`, "skipped"],
    ]);
    expect(result.errors).toEqual([]);
    expect(await exists("gone")).toBe(false);
    expect(await exists("optout")).toBe(true);
    expect(await exists("moved")).toBe(true);
    expect(await exists("keep")).toBe(true);
  });

  it("refuses to prune everything when the new set is empty, unless allowed", async () => {
    // Prepare
    const previous = fromChangeSet(await applyAll(cluster, [cm("guarded")], { owner }));
    // Act
    const refused = prune(cluster, previous, { entries: [] }, { owner });
    // Assess
    await expect(refused).rejects.toBeInstanceOf(EmptySetPruneError);
    await expect(refused).rejects.toThrow(/refusing to prune all 1 objects of flux-system\/apps: the new set is empty/);
    expect(await exists("guarded")).toBe(true);
    const allowed = await prune(cluster, previous, { entries: [] }, { owner, allowEmpty: true });
    expect(allowed.changeSet.map((e) => e.action)).toEqual(["deleted"]);
    expect(await exists("guarded")).toBe(false);
  });

  it("keeps an entry whose delete was forbidden, so the delete is retried, and names the identity", async () => {
    // Prepare: a service account that may read ConfigMaps but not delete them
    const rbac = adminKubeConfig(kube).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: "reader" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: "reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns.name }],
      },
    });
    const previous = fromChangeSet(await applyAll(cluster, [cm("stuck"), cm("kept")], { owner }));
    const next = fromChangeSet(await applyAll(cluster, [cm("kept")], { owner }));
    const tenant = await adminCluster(kube, serviceAccount(ns.name, "reader"));
    // Act
    const result = await prune(tenant, previous, next, { owner });
    // Assess
    expect(result.retained.map((e) => e.id)).toEqual([`${ns.name}_stuck__ConfigMap`]);
    expect(result.errors[0]?.message).toMatch(
      new RegExp(
        `^ConfigMap/${ns.name}/stuck delete failed: forbidden for user system:serviceaccount:${ns.name}:reader`,
      ),
    );
    expect(merge(next, result.retained).entries.map((e) => e.id)).toEqual([
      `${ns.name}_kept__ConfigMap`,
      `${ns.name}_stuck__ConfigMap`,
    ]);
    expect(await exists("stuck")).toBe(true);
    // and the retry with enough rights deletes it
    const retried = await prune(cluster, merge(next, result.retained), next, { owner });
    expect(retried.changeSet.map((e) => e.action)).toEqual(["deleted"]);
  });

  it("honours deletion policies: Orphan keeps, MirrorPrune follows prune, Delete removes", async () => {
    // Prepare
    const inventory = fromChangeSet(await applyAll(cluster, [cm("policy")], { owner }));
    // Act + Assess
    await deleteInventory(cluster, inventory, { owner, policy: "Orphan", prune: true });
    expect(await exists("policy")).toBe(true);
    await deleteInventory(cluster, inventory, { owner, policy: "MirrorPrune", prune: false });
    expect(await exists("policy")).toBe(true);
    const deleted = await deleteInventory(cluster, inventory, { owner, policy: "Delete", prune: false });
    expect(deleted.changeSet.map((e) => e.action)).toEqual(["deleted"]);
    expect(await exists("policy")).toBe(false);
  });

  it("WaitForTermination reports objects still terminating (held by a finalizer) for the caller to requeue", async () => {
    // Prepare
    const held = configMap("held", { a: "1" }, { namespace: ns.name, finalizers: ["sluice.test/hold"] });
    const inventory = fromChangeSet(await applyAll(cluster, [held], { owner }));
    // Act
    const result = await deleteInventory(cluster, inventory, { owner, policy: "WaitForTermination", prune: false });
    // Assess
    expect(result.remaining).toEqual([`ConfigMap/${ns.name}/held`]);
    const live = await api.read<V1ConfigMap>({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "held", namespace: ns.name },
    });
    expect(live.metadata?.deletionTimestamp).toBeDefined();
    await api.patch(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "held", namespace: ns.name, finalizers: null },
      } as never,
      undefined,
      undefined,
      "sluice-test",
      undefined,
      PatchStrategy.MergePatch,
    );
    const again = await deleteInventory(cluster, inventory, { owner, policy: "WaitForTermination", prune: false });
    expect(again.remaining).toEqual([]);
  });
});
