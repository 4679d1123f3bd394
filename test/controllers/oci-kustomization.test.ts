import { describe, expect, inject, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { applyToStore, updateObject } from "../../src/store/objects.js";
import { cosignKeyPair, cosignSign } from "../env/cosign.js";
import { FLUX_MEDIA_TYPES, pushLayers, pushOciArtifact, rawTarGz } from "../env/oci.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

// A Kustomization whose source is an OCIRepository, end to end in a local control plane: artifacts
// pushed to the test bed's registry, applied to its kube-apiserver.

const { kube, git, registry } = inject("testbed");
const local = planeSuite(kube, git, { namespace: "oci" });
const ns = () => local.namespace;

const configMap = (greeting: string, name = "greeting") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  greeting: ${greeting}\n`;

async function register(name: string, verify?: { secretRef: { name: string } }) {
  const store = local.plane.runtime.store;
  await applyToStore(store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "OCIRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "10m", url: `oci://${registry.host}/${ns()}/${name}`, ref: { tag: "latest" }, verify },
  });
  await applyToStore(store, {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns() },
    spec: {
      interval: "10m",
      path: "./deploy",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "OCIRepository", name },
    },
  });
}

async function greeting(name = "greeting"): Promise<string | undefined> {
  const info = (await local.admin.discovery.find("v1", "ConfigMap"))!;
  const found: KubeObject | undefined = await getObject(local.admin, info, ns(), name);
  return (found?.data as Record<string, string> | undefined)?.greeting;
}

describe("Kustomization from an OCIRepository (local control plane, test bed registry and kube-apiserver)", () => {
  it("applies a pushed artifact with its origin revision, then the next push once the source is reconciled", async () => {
    // Prepare
    const origin = "main@sha1:0123456789abcdef0123456789abcdef01234567";
    const first = await pushOciArtifact(
      registry.host,
      `${ns()}/app`,
      "latest",
      { "deploy/cm.yaml": configMap("one") },
      {
        "org.opencontainers.image.source": "https://git.example/org/app",
        "org.opencontainers.image.revision": origin,
      },
    );
    // Act
    await register("app");
    const applied = await until("the first artifact applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "app");
      return ready(status)?.status === "True" && status;
    });
    const second = await pushOciArtifact(registry.host, `${ns()}/app`, "latest", {
      "deploy/cm.yaml": configMap("two"),
    });
    await updateObject(local.plane.runtime.store, { kind: "OCIRepository", namespace: ns(), name: "app" }, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: new Date().toISOString() };
    });
    const rolled = await until("the second artifact applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "app");
      return status.lastAppliedRevision === `latest@${second}` && status;
    });
    // Assess
    expect(applied.lastAppliedRevision).toBe(`latest@${first}`);
    expect(applied.lastAppliedOriginRevision).toBe(origin);
    expect(ready(rolled)?.status).toBe("True");
    expect(await greeting()).toBe("two");
  });

  it("applies nothing from an artifact whose layer escapes with '..': the source fails, the Kustomization waits", async () => {
    // Prepare
    const layer = rawTarGz([
      { path: "deploy/cm.yaml", body: configMap("hostile") },
      { path: "../../outside.yaml", body: "kind: Escaped\n" },
    ]);
    await pushLayers(registry.host, `${ns()}/hostile`, "latest", [
      { data: layer, mediaType: FLUX_MEDIA_TYPES.content },
    ]);
    // Act
    await register("hostile");
    const source = await until("the OCIRepository refused", async () => {
      const status = await storedStatus(local.plane, "OCIRepository", ns(), "hostile");
      return ready(status)?.status === "False" && status;
    });
    const waiting = await until("the Kustomization without an artifact", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "hostile");
      return ready(status)?.status === "False" && status;
    });
    // Assess
    expect(ready(source)).toMatchObject({ reason: "OCIArtifactLayerOperationFailed" });
    expect(ready(source)?.message).toContain("'..' is not allowed");
    expect(ready(waiting)).toMatchObject({ reason: "ArtifactFailed" });
    expect(waiting.lastAppliedRevision).toBeUndefined();
    expect(await greeting()).not.toBe("hostile");
  });

  it("verify: applies a cosign-signed artifact; a push of an unsigned one is refused and nothing of it is applied", async () => {
    // Prepare: the public key in a Secret of the cluster, an artifact signed with the real cosign
    const keys = await cosignKeyPair();
    await local.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns()}/secrets`,
      body: { metadata: { name: "cosign-keys" }, stringData: { "cosign.pub": keys.publicKey } },
    });
    const signed = await pushOciArtifact(registry.host, `${ns()}/signed`, "latest", {
      "deploy/cm.yaml": configMap("signed", "signed"),
    });
    await cosignSign(keys, `${registry.host}/${ns()}/signed@${signed}`);
    // Act
    await register("signed", { secretRef: { name: "cosign-keys" } });
    const applied = await until("the signed artifact applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "signed");
      return ready(status)?.status === "True" && status;
    });
    const greetingOfSigned = await greeting("signed");
    const unsigned = await pushOciArtifact(registry.host, `${ns()}/signed`, "latest", {
      "deploy/cm.yaml": configMap("unsigned", "signed"),
    });
    await updateObject(local.plane.runtime.store, { kind: "OCIRepository", namespace: ns(), name: "signed" }, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: new Date().toISOString() };
    });
    const refused = await until("the unsigned artifact refused", async () => {
      const status = await storedStatus(local.plane, "OCIRepository", ns(), "signed");
      return ready(status)?.reason === "VerificationError" && status;
    });
    const kustomization = await storedStatus(local.plane, "Kustomization", ns(), "signed");
    // Assess
    expect(applied.lastAppliedRevision).toBe(`latest@${signed}`);
    expect(greetingOfSigned).toBe("signed");
    expect(ready(refused)).toMatchObject({
      status: "False",
      message: `failed to verify the signature using provider 'cosign': no matching signatures were found for '${registry.host}/${ns()}/signed@${unsigned}'`,
    });
    expect(refused.conditions?.find((c) => c.type === "SourceVerified")?.status).toBe("False");
    expect(kustomization.lastAppliedRevision).toBe(`latest@${signed}`);
    expect(await greeting("signed")).toBe("signed");
  });
});
