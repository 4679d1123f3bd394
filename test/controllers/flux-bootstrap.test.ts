import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { getObject } from "../../src/apply/objects-api.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { applyToStore } from "../../src/store/objects.js";
import { configMap } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

const { kube, git } = inject("testbed");
const events: FluxEvent[] = [];
const local = planeSuite(kube, git, { namespace: "bootstrapped", onEvent: (e) => events.push(e) });
const fixture = join(import.meta.dirname, "../fixtures/flux-bootstrap/gotk-components.yaml");

/**
 * The repo `flux bootstrap git --namespace <ns> --path clusters/dev` leaves: Flux's installation and
 * its sync objects in clusters/dev/flux-system, plus an apps Kustomization the team added.
 */
async function bootstrappedRepo(ns: string, url: string): Promise<Record<string, string>> {
  const components = (await readFile(fixture, "utf8")).replaceAll("flux-system", ns);
  const sync = [
    {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "flux-system", namespace: ns },
      spec: { interval: "1m0s", ref: { branch: "main" }, secretRef: { name: "git-auth" }, url },
    },
    {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "flux-system", namespace: ns },
      spec: {
        interval: "10m0s",
        path: "./clusters/dev",
        prune: true,
        sourceRef: { kind: "GitRepository", name: "flux-system" },
      },
    },
  ];
  const apps = {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: "apps", namespace: ns },
    spec: {
      interval: "10m",
      path: "./apps",
      prune: true,
      targetNamespace: ns,
      sourceRef: { kind: "GitRepository", name: "flux-system" },
    },
  };
  return {
    "clusters/dev/flux-system/gotk-components.yaml": components,
    "clusters/dev/flux-system/gotk-sync.yaml": sync.map((o) => stringify(o)).join("---\n"),
    "clusters/dev/flux-system/kustomization.yaml": stringify({
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: ["gotk-components.yaml", "gotk-sync.yaml"],
    }),
    "clusters/dev/apps.yaml": stringify(apps),
    "apps/settings.yaml": stringify(configMap("settings", { team: "platform" })),
  };
}

describe(`a fleet bootstrapped by Flux v2.9.4 (kube-apiserver ${kube.version})`, () => {
  it("moves to Sluice unchanged: Flux's own installation is left out with one event, everything else reconciles", async () => {
    // Arrange
    const ns = local.namespace;
    const url = await createRepo(git, `${ns}-fleet`);
    const files = await bootstrappedRepo(ns, url);
    await pushTree(git, `${ns}-fleet`, { files });
    // Act: register what gotk-sync.yaml holds, as `sluice bootstrap` does
    for (const doc of parseAllDocuments(files["clusters/dev/flux-system/gotk-sync.yaml"]!))
      await applyToStore(local.plane.runtime.store, doc.toJS());
    // Both are waited for: the root writes its status after it applied apps, which may be Ready first.
    const readyStatus = (name: string) =>
      until(`${name} Ready`, async () => {
        const status = await storedStatus(local.plane, "Kustomization", ns, name);
        return ready(status)?.status === "True" && status;
      });
    const apps = await readyStatus("apps");
    const root = await readyStatus("flux-system");
    // Assess
    expect(apps.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_settings__ConfigMap`]);
    expect(ready(root)).toMatchObject({ status: "True", reason: "ReconciliationSucceeded" });
    const ids = root.inventory?.entries.map((e) => e.id).sort();
    expect(ids).toEqual(
      [
        `${ns}_apps_kustomize.toolkit.fluxcd.io_Kustomization`,
        `${ns}_flux-system_kustomize.toolkit.fluxcd.io_Kustomization`,
        `${ns}_flux-system_source.toolkit.fluxcd.io_GitRepository`,
      ].sort(),
    );
    const deployments = (await local.admin.discovery.find("apps/v1", "Deployment"))!;
    for (const name of ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"])
      expect(await getObject(local.admin, deployments, ns, name)).toBeUndefined();
    const notices = events.filter(
      (e) => e.involvedObject.name === "flux-system" && e.message.includes("Flux's own installation"),
    );
    expect(notices).toHaveLength(1);
    expect(notices[0]!.message).toContain(
      `skipped 32 objects of Flux's own installation (app.kubernetes.io/instance=${ns}, Flux v2.9.4)`,
    );
  });
});
