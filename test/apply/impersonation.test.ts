import { RbacAuthorizationV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import { ApplyFailedError } from "../../src/apply/errors.js";
import type { KubeObject } from "../../src/apply/object.js";
import { serviceAccount } from "../../src/cluster/cluster.js";
import { adminKubeConfig, freshNamespace, objectApi } from "../env/kube-client.js";
import { adminCluster, configMap, rejection } from "./helpers.js";

const kube = inject("testbed").kube;
const owner = { name: "tenant", namespace: "tenants" };

describe(`apply engine: impersonating a tenant's service account (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;

  beforeAll(async () => {
    ns = await freshNamespace(kube, "tenant");
    const rbac = adminKubeConfig(kube).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: {
        metadata: { name: "configmaps" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "patch", "update"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: "configmaps" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmaps" },
        subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: ns.name }],
      },
    });
  });
  afterAll(() => ns.remove());

  it("applies what the service account may write", async () => {
    // Prepare
    const tenant = await adminCluster(kube, serviceAccount(ns.name, "deployer"));
    // Act
    const changeSet = await applyAll(tenant, [configMap("allowed", { a: "1" }, { namespace: ns.name })], { owner });
    // Assess
    expect(changeSet.map((e) => e.action)).toEqual(["created"]);
    const live = await objectApi(kube).read<V1ConfigMap>({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "allowed", namespace: ns.name },
    });
    expect(live.metadata?.managedFields?.find((f) => f.manager === "sluice")?.operation).toBe("Apply");
  });

  it("surfaces a 403 naming the object, the verb and the identity, and applies nothing else in the set", async () => {
    // Prepare
    const tenant = await adminCluster(kube, serviceAccount(ns.name, "deployer"));
    const secret: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "forbidden", namespace: ns.name },
      stringData: { token: "s3cr3t-value" },
    };
    const sibling = configMap("sibling", { a: "1" }, { namespace: ns.name });
    // Act
    const error = await rejection(applyAll(tenant, [sibling, secret], { owner }));
    // Assess
    expect(error).toBeInstanceOf(ApplyFailedError);
    expect(error.errors.map((e) => e.status)).toEqual([403]);
    expect(error.message).toMatch(
      new RegExp(
        `^Secret/${ns.name}/forbidden list failed: forbidden for user system:serviceaccount:${ns.name}:deployer`,
      ),
    );
    expect(error.message).not.toContain("s3cr3t-value");
    expect(error.changeSet).toEqual([]);
    await expect(
      objectApi(kube).read({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "sibling", namespace: ns.name } }),
    ).rejects.toThrow();
  });
});
