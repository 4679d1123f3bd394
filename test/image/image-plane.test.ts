import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ImagePolicy } from "../../src/api/imagepolicy.js";
import { REQUESTED_AT } from "../../src/api/meta.js";
import { applyToStore, updateObject } from "../../src/store/objects.js";
import { startTestPlane, until, type TestPlane } from "../controllers/helpers.js";
import { pushTags } from "./registry-tags.js";

// The local control plane (`sluice run`'s) with the test bed's registry: objects registered in its Store are
// scanned and picked with no call from the test, and `flux reconcile image repository` after a push carries the
// new tag through to the ImagePolicy's latestRef, the policy woken by the scan's new revision.

const { kube, registry } = inject("testbed");
let plane: TestPlane;
beforeAll(async () => void (plane = await startTestPlane(kube, { settings: { allowPrivateNetworks: true } })));
afterAll(() => plane?.stop());

const latestRef = async () =>
  (
    (await plane.runtime.store.get({ kind: "ImagePolicy", namespace: "apps", name: "podinfo" }))?.object.status as
      ImagePolicy["status"] | undefined
  )?.latestRef;

describe("image scanning in the local control plane", () => {
  it("scans, picks, and after a push and a requested scan, picks the new tag with the old one as observedPreviousRef", async () => {
    // Prepare
    const image = `${registry.host}/apps/plane-podinfo`;
    await pushTags(registry.host, "apps/plane-podinfo", ["6.0.0", "6.1.0", "7.0.0-rc.1"]);
    await applyToStore(plane.runtime.store, {
      apiVersion: "image.toolkit.fluxcd.io/v1beta2",
      kind: "ImageRepository",
      metadata: { name: "podinfo", namespace: "apps", generation: 1 },
      spec: { image, interval: "1h" },
    });
    await applyToStore(plane.runtime.store, {
      apiVersion: "image.toolkit.fluxcd.io/v1beta2",
      kind: "ImagePolicy",
      metadata: { name: "podinfo", namespace: "apps", generation: 1 },
      spec: { imageRepositoryRef: { name: "podinfo" }, policy: { semver: { range: ">=6.0.0 <7.0.0" } } },
    });
    const first = await until("the first pick", async () => (await latestRef())?.tag === "6.1.0" && latestRef());
    // Act: a new tag, then `sluice reconcile image repository` (requestedAt); nothing asks the policy
    await pushTags(registry.host, "apps/plane-podinfo", ["6.2.0"]);
    const pushed = Date.now();
    await updateObject(plane.runtime.store, { kind: "ImageRepository", namespace: "apps", name: "podinfo" }, (o) => {
      o.metadata.annotations = { [REQUESTED_AT]: new Date().toISOString() };
    });
    const second = await until("the new tag picked", async () => (await latestRef())?.tag === "6.2.0" && latestRef());
    const elapsed = Date.now() - pushed;
    // Assess
    expect(first).toEqual({ name: image, tag: "6.1.0" });
    expect(second).toEqual({ name: image, tag: "6.2.0" });
    const policy = await plane.runtime.store.get({ kind: "ImagePolicy", namespace: "apps", name: "podinfo" });
    expect((policy?.object.status as ImagePolicy["status"])?.observedPreviousRef).toEqual(first);
    expect(elapsed).toBeLessThan(5_000);
  });
});
