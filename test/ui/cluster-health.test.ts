import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Cluster } from "../../src/cluster/cluster.js";
import type { Stored } from "../../src/store/store.js";
import { clusterHealth } from "../../src/ui/cluster-health.js";
import { adminCluster } from "../apply/helpers.js";
import { startTestPlane, type TestPlane } from "../controllers/helpers.js";
import { freshNamespace } from "../env/kube-client.js";

// `sluice run`'s inventory health reader against kube-apiserver: it reads as the identity the Kustomization applies
// as, so a tenant's page shows no more than the tenant could read, and of what it reads only kstatus and a message.

const { kube } = inject("testbed");
let plane: TestPlane;
let admin: Cluster;
let tenantNs: { name: string; remove(): Promise<void> };
let otherNs: { name: string; remove(): Promise<void> };
const VALUE = "tenant-config-value";

const kustomization = (spec: object, annotations?: Record<string, string>): Stored =>
  ({
    object: {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "apps", namespace: tenantNs.name, generation: 1, annotations },
      spec: { interval: "1m", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" }, ...spec },
    },
  }) as unknown as Stored;
const entry = (namespace: string, name: string) => ({ id: `${namespace}_${name}__ConfigMap`, v: "v1" });

beforeAll(async () => {
  admin = await adminCluster(kube);
  tenantNs = await freshNamespace(kube, "ui-tenant");
  otherNs = await freshNamespace(kube, "ui-other");
  const post = (path: string, body: object) => admin.client.send({ method: "POST", path, body });
  for (const ns of [tenantNs.name, otherNs.name])
    await post(`/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: "settings" }, data: { level: VALUE } });
  // The tenant may read ConfigMaps in its own namespace only.
  await post(`/api/v1/namespaces/${tenantNs.name}/serviceaccounts`, { metadata: { name: "tenant" } });
  await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${tenantNs.name}/roles`, {
    metadata: { name: "read-configmaps" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
  });
  await post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${tenantNs.name}/rolebindings`, {
    metadata: { name: "tenant-reads" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-configmaps" },
    subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: tenantNs.name }],
  });
  plane = await startTestPlane(kube, { statePrefix: "sluice-ui-health-" });
  await plane.runtime.store.create({
    apiVersion: "sluice.dev/v1alpha1",
    kind: "Cluster",
    metadata: { name: "edge", namespace: "sluice-system" },
    spec: { mode: "agent" },
  });
}, 120_000);

afterAll(async () => {
  await plane?.stop();
  await tenantNs?.remove();
  await otherNs?.remove();
});

describe(`inventory health read from the cluster (kube-apiserver ${kube.version})`, () => {
  it("reads as the Kustomization's service account: its own objects' kstatus, another namespace's refused, no content", async () => {
    // Arrange: an inventory naming an object in a namespace the tenant cannot read, and one that does not exist
    const read = clusterHealth(plane.runtime);
    const entries = [entry(tenantNs.name, "settings"), entry(otherNs.name, "settings"), entry(tenantNs.name, "gone")];
    // Act
    const reading = await read(kustomization({ serviceAccountName: "tenant" }), entries);
    // Assert
    expect(reading).toMatchObject({ identity: `user system:serviceaccount:${tenantNs.name}:tenant` });
    const objects = "objects" in reading ? reading.objects : {};
    expect(objects[entries[0]!.id]?.status).toBe("Current");
    expect(objects[entries[1]!.id]).toMatchObject({ status: "Unknown", message: expect.stringMatching(/forbidden/i) });
    expect(objects[entries[2]!.id]?.status).toBe("NotFound");
    expect(JSON.stringify(reading)).not.toContain(VALUE);
  });

  it("says why it read nothing: an agent cluster's objects, a kubeConfig secret that is missing, a kind without an inventory of its own", async () => {
    // Arrange
    const read = clusterHealth(plane.runtime);
    const entries = [entry(tenantNs.name, "settings")];
    // Act
    const agent = await read(kustomization({}, { "sluice.dev/cluster": "edge" }), entries);
    const kubeConfig = await read(
      kustomization({ kubeConfig: { secretRef: { name: "no-such-kubeconfig" } } }),
      entries,
    );
    const helmRelease = await read({ object: { kind: "HelmRelease", metadata: { name: "x" } } } as Stored, entries);
    // Assert
    expect(agent).toEqual({ notChecked: expect.stringContaining("agent cluster 'edge'") });
    expect(kubeConfig).toEqual({ notChecked: expect.stringContaining("no-such-kubeconfig") });
    expect(helmRelease).toEqual({ notChecked: expect.stringContaining("HelmRelease") });
  });
});
