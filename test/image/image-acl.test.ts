import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ImagePolicy } from "../../src/api/imagepolicy.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { applyToStore } from "../../src/store/objects.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";
import { sourceRuntime } from "../security/source-helpers.js";
import { pushTags } from "./registry-tags.js";

// Flux's ACL for an ImagePolicy naming an ImageRepository in another namespace: the repository's accessFrom
// selects the policy's namespace by the labels it has in the cluster (the test bed's kube-apiserver).

const { host } = inject("testbed").registry;
const { kube } = inject("testbed");
let ports: ReconcilerPorts;
const namespaces: { name: string; remove(): Promise<void> }[] = [];

beforeAll(async () => {
  ({ rt: ports } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
  const admin = await adminCluster(kube);
  ports.cluster = async () => admin;
});
afterAll(async () => {
  for (const ns of namespaces) await ns.remove();
});

async function namespace(labels: Record<string, string>): Promise<string> {
  const ns = await freshNamespace(kube, "image-acl");
  namespaces.push(ns);
  const admin = await ports.cluster({ namespace: ns.name });
  await admin.client.send({
    method: "PATCH",
    path: `/api/v1/namespaces/${ns.name}`,
    contentType: "application/merge-patch+json",
    body: { metadata: { labels } },
  });
  return ns.name;
}

async function reconcilePolicy(namespace: string, repo: { namespace: string; name: string }) {
  await applyToStore(ports.store, {
    apiVersion: "image.toolkit.fluxcd.io/v1",
    kind: "ImagePolicy",
    metadata: { name: "app", namespace, generation: 1 },
    spec: { imageRepositoryRef: repo, policy: { semver: { range: ">=1.0.0" } } },
  });
  const outcome = await dispatch(ports, { key: `ImagePolicy/${namespace}/app`, reason: "interval" });
  const status = outcome!.status as NonNullable<ImagePolicy["status"]>;
  return { status, ready: status.conditions?.find((c) => c.type === "Ready") };
}

describe("ImagePolicy in another namespace than its ImageRepository", () => {
  it("is allowed when accessFrom selects its namespace's labels, denied naming the namespace when not", async () => {
    // Prepare
    const shared = { namespace: "images", name: "shared" };
    await pushTags(host, "acl/shared", ["1.0.0", "1.1.0"]);
    await applyToStore(ports.store, {
      apiVersion: "image.toolkit.fluxcd.io/v1",
      kind: "ImageRepository",
      metadata: { ...shared, generation: 1 },
      spec: {
        image: `${host}/acl/shared`,
        interval: "5m",
        accessFrom: { namespaceSelectors: [{ matchLabels: { "images.example/access": "yes" } }] },
      },
    });
    await dispatch(ports, { key: "ImageRepository/images/shared", reason: "interval" });
    const allowed = await namespace({ "images.example/access": "yes", team: "a" });
    const other = await namespace({ team: "b" });
    // Act
    const picked = await reconcilePolicy(allowed, shared);
    const denied = await reconcilePolicy(other, shared);
    // Assess
    expect(picked.status.latestRef).toEqual({ name: `${host}/acl/shared`, tag: "1.1.0" });
    expect(denied.ready).toMatchObject({
      status: "False",
      reason: "AccessDenied",
      message: `failed to get the referred ImageRepository: access denied: 'images/shared' can't be accessed due to ACL labels mismatch on namespace '${other}'`,
    });
    expect(denied.status.latestRef).toBeUndefined();
  });
});
