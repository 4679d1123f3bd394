import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { applyToStore } from "../../src/store/objects.js";
import { requestReconcile } from "../../src/store/reconcile-requests.js";
import { configMap } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { ageKey, sopsEncrypt } from "../env/sops.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

// The drift report a Kustomization's correction event carries: the fields reverted per object, and for an object
// SOPS decrypted not one value (the plaintext would otherwise sit in the events log and the web UI).

const { kube, git } = inject("testbed");
const events: FluxEvent[] = [];
const local = planeSuite(kube, git, { namespace: "drift", onEvent: (e) => events.push(e) });
const ns = () => local.namespace;
const PLAINTEXT = "decrypted-api-key-plaintext";
const PLANTED = "attacker-planted-api-key";

describe(`drift correction report (kube-apiserver ${kube.version})`, () => {
  it("names each reverted field before → after; a SOPS-decrypted object's fields are named, their values hidden", async () => {
    // Arrange: a plain ConfigMap and a SOPS-encrypted one (its namespace in the file: the MAC covers it), applied
    const key = await ageKey();
    await local.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns()}/secrets`,
      body: { metadata: { name: "sops-age" }, stringData: { "age.agekey": key.identity } },
    });
    const sealed = await sopsEncrypt(configMap("sealed", { apiKey: PLAINTEXT }, { namespace: ns() }), [
      ...["--age", key.recipient, "--encrypted-regex", "^data$"],
    ]);
    const url = await createRepo(git, `${ns()}-fleet`);
    await pushTree(git, `${ns()}-fleet`, {
      files: {
        "deploy/app.yaml": [configMap("open", { level: "info" }, { namespace: ns() }), sealed]
          .map((o) => stringify(o))
          .join("---\n"),
      },
    });
    const store = local.plane.runtime.store;
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "fleet", namespace: ns() },
      spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    const ks = { kind: "Kustomization", namespace: ns(), name: "apps" };
    await applyToStore(store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "apps", namespace: ns() },
      spec: {
        interval: "10m",
        path: "./deploy",
        prune: true,
        sourceRef: { kind: "GitRepository", name: "fleet" },
        decryption: { provider: "sops", secretRef: { name: "sops-age" } },
      },
    } as KubeObject);
    const isReady = async () =>
      ready(await storedStatus(local.plane, ks.kind, ks.namespace, ks.name))?.status === "True";
    let last = {};
    await until(
      () => `apps Ready (status: ${JSON.stringify(last)})`,
      async () => ((last = await storedStatus(local.plane, ks.kind, ks.namespace, ks.name)), isReady()),
      60_000,
    );
    // Someone edits both in the cluster (as kubectl edit does: another field manager's update)
    for (const [name, data] of [
      ["open", { level: "debug" }],
      ["sealed", { apiKey: PLANTED }],
    ] as const)
      await local.admin.client.send({
        method: "PATCH",
        path: `/api/v1/namespaces/${ns()}/configmaps/${name}`,
        query: { fieldManager: "kubectl-edit" },
        contentType: "application/merge-patch+json",
        body: { data },
      });
    // Act
    await requestReconcile(store, ks, new Date());
    const corrected = await until("the drift correction's event", async () =>
      events.find((e) => e.involvedObject.name === "apps" && e.drift),
    );
    // Assert
    expect(corrected.message).toBe(
      `drift corrected:\nConfigMap/${ns()}/open configured\nConfigMap/${ns()}/sealed configured`,
    );
    expect(corrected.drift).toEqual({
      objects: [
        {
          subject: `ConfigMap/${ns()}/open`,
          diff: { changes: [{ path: "data.level", before: '"debug"', after: '"info"' }], omitted: 0 },
        },
        {
          subject: `ConfigMap/${ns()}/sealed`,
          diff: { changes: [{ path: "data.apiKey", before: "(hidden)", after: "(hidden)" }], omitted: 0 },
        },
      ],
      omitted: 0,
    });
    const recorded = JSON.stringify(events) + JSON.stringify(await store.list());
    expect(recorded).not.toContain(PLAINTEXT);
    expect(recorded).not.toContain(PLANTED);
  }, 120_000);
});
