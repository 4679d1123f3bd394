import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { checkHealth } from "../../src/apply/wait.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";
import { FLAGGER_VERSION, flaggerWrites, installFlaggerCrds, kustomizeBuild } from "./flagger.js";

const { kube } = inject("testbed");
let admin: Cluster;
let namespace: { name: string; remove(): Promise<void> };
let app: KubeObject[];

beforeAll(async () => {
  namespace = await freshNamespace(kube, "canary-example");
  admin = await adminCluster(kube);
  await installFlaggerCrds(admin);
  app = await kustomizeBuild("examples/canary/apps/podinfo");
});

afterAll(async () => {
  await namespace?.remove();
});

const named = (kind: string, name: string) => app.find((o) => o.kind === kind && o.metadata.name === name);

describe(`examples/canary with Flagger ${FLAGGER_VERSION}'s CRD, kube-apiserver ${kube.version}`, () => {
  it("leaves the target's replicas and its Service to Flagger, so Sluice never fights Flagger over them", () => {
    // Assess
    expect(named("Deployment", "podinfo")?.spec).not.toHaveProperty("replicas");
    expect(named("Service", "podinfo")).toBeUndefined();
    expect(named("Canary", "podinfo")?.spec).toMatchObject({
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      analysis: { interval: "30s", threshold: 2 },
    });
  });

  it("applies against Flagger's CRD schema, and its Canary waits for Flagger, then is Current once Flagger initializes it", async () => {
    // Arrange: the app in a fresh namespace instead of its own
    const objects = app
      .filter((o) => o.kind !== "Namespace")
      .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: namespace.name } }));
    const ref = {
      apiVersion: "flagger.app/v1beta1",
      kind: "Canary",
      metadata: { name: "podinfo", namespace: namespace.name },
    };
    // Act
    const changes = await applyAll(admin, objects);
    const before = (await checkHealth(admin, [ref])).objects[0];
    await flaggerWrites(admin, namespace.name, "podinfo", "Initializing");
    await flaggerWrites(admin, namespace.name, "podinfo", "Initialized");
    const after = (await checkHealth(admin, [ref])).objects[0];
    // Assess
    expect(changes.map((c) => `${c.subject} ${c.action}`)).toContain(`Canary/${namespace.name}/podinfo created`);
    expect(before).toMatchObject({ status: "InProgress", message: "Canary is waiting for Flagger to initialize it" });
    expect(after).toMatchObject({
      subject: `Canary/${namespace.name}/podinfo`,
      status: "Current",
      message: "Deployment initialization completed.",
    });
  });
});
