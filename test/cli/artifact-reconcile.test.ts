import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { applyToStore } from "../../src/store/objects.js";
import { planeSuite, ready, storedStatus, until } from "../controllers/helpers.js";
import { runCli } from "./in-process.js";

// What `sluice push artifact` uploads is what Flux's OCIRepository consumes: pushed from a folder, reconciled by a
// local control plane's OCIRepository and Kustomization into the test bed's kube-apiserver.

const { kube, git, registry } = inject("testbed");
const local = planeSuite(kube, git, { namespace: "push-artifact" });
const ns = () => local.namespace;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sluice-push-reconcile-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("an artifact pushed with sluice push artifact, reconciled end to end", () => {
  it("applies the pushed folder with the pushed revision as the origin revision", async () => {
    // Prepare
    const dir = join(work, "app");
    await mkdir(join(dir, "deploy"), { recursive: true });
    await writeFile(
      join(dir, "deploy", "cm.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\ndata:\n  from: sluice-push\n",
    );
    const origin = "main@sha1:89abcdef0123456789abcdef0123456789abcdef";
    const url = `oci://${registry.host}/${ns()}/app`;
    // Act
    const pushed = await runCli(
      ["push", "artifact", `${url}:v1`, "--path", dir, "--source", "https://git.example/app", "--revision", origin],
      { HOME: work },
    );
    const store = local.plane.runtime.store;
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "OCIRepository",
      metadata: { name: "app", namespace: ns() },
      spec: { interval: "10m", url, ref: { tag: "v1" } },
    });
    await applyToStore(store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: ns() },
      spec: {
        interval: "10m",
        path: "./deploy",
        prune: true,
        targetNamespace: ns(),
        sourceRef: { kind: "OCIRepository", name: "app" },
      },
    });
    const applied = await until("the pushed artifact applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "app");
      return ready(status)?.status === "True" && status;
    });
    // Assess
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = /@(sha256:[a-f0-9]{64})\n$/.exec(pushed.stderr)?.[1];
    expect(applied.lastAppliedRevision).toBe(`v1@${digest}`);
    expect(applied.lastAppliedOriginRevision).toBe(origin);
    const info = (await local.admin.discovery.find("v1", "ConfigMap"))!;
    const found: KubeObject | undefined = await getObject(local.admin, info, ns(), "pushed");
    expect(found?.data).toEqual({ from: "sluice-push" });
  });
});
