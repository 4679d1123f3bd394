import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { applyToStore } from "../../src/store/objects.js";
import { configMap } from "../apply/helpers.js";
import { planeSuite, ready, storedStatus, until } from "../controllers/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";

// Fleet repos written for Flux, reconciled by a local control plane against the test bed's
// kube-apiserver and Git server: fields Flux's CRDs drop are dropped with a warning, fields Sluice
// does not implement are refused before anything is applied, and post-build substitution runs
// exactly when Flux runs it.

const { kube, git } = inject("testbed");
const events: FluxEvent[] = [];
const local = planeSuite(kube, git, { namespace: "flux-fields", onEvent: (e) => events.push(e) });
const ns = () => local.namespace;
let serial = 0;

const yamlOf = (...objects: object[]) => objects.map((o) => stringify(o)).join("---\n");

/** A repo with `files` and its GitRepository (plus `spec`) in the Store. */
async function source(files: Record<string, string>, spec: Record<string, unknown> = {}): Promise<string> {
  const name = `repo-${serial++}`;
  const url = await createRepo(git, `${ns()}-${name}`);
  await pushTree(git, `${ns()}-${name}`, { files });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "1m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" }, ...spec },
  });
  return name;
}

function kustomization(name: string, sourceName: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns() },
    spec: {
      interval: "10m",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name: sourceName },
      ...spec,
    },
  };
}

const untilReady = (kind: string, name: string, reason: string) =>
  until(`${kind} ${name} Ready (${reason})`, async () => {
    const status = await storedStatus(local.plane, kind, ns(), name);
    return ready(status)?.reason === reason && status;
  });
const liveConfigMap = async (name: string) =>
  getObject(local.admin, (await local.admin.discovery.find("v1", "ConfigMap"))!, ns(), name);
const warnings = (kind: string, name: string) =>
  events.filter(
    (e) => e.reason === "UnknownFields" && e.involvedObject.kind === kind && e.involvedObject.name === name,
  );

describe(`Flux fields in a fleet repo, reconciled against kube-apiserver ${kube.version}`, () => {
  it("drops fields Flux's CRDs do not define (validation: client, gitImplementation, accessFrom) with one warning event per generation, and reconciles the objects", async () => {
    // Prepare: the getting-started guide's Kustomization and a GitRepository and Receiver of older Flux versions
    const repo = await source(
      { "app/cm.yaml": yamlOf(configMap("dropped-fields", { a: "1" })) },
      { gitImplementation: "go-git" },
    );
    await local.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns()}/secrets`,
      body: { metadata: { name: "webhook-token" }, stringData: { token: "s3cr3t-t0ken" } },
    });
    // Act
    await applyToStore(
      local.plane.runtime.store,
      kustomization("getting-started", repo, { path: "./app", validation: "client" }),
    );
    await applyToStore(local.plane.runtime.store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1",
      kind: "Receiver",
      metadata: { name: "github", namespace: ns() },
      spec: {
        type: "github",
        secretRef: { name: "webhook-token" },
        resources: [{ kind: "GitRepository", name: repo }],
        accessFrom: { namespaceSelectors: [{ matchLabels: { team: "a" } }] },
      },
    });
    // Assess: reconciled as if the fields were not there
    await untilReady("Kustomization", "getting-started", "ReconciliationSucceeded");
    await untilReady("Receiver", "github", "Succeeded");
    expect((await liveConfigMap("dropped-fields"))?.data).toEqual({ a: "1" });
    const key = `${ns()}/getting-started`;
    expect(warnings("Kustomization", "getting-started").map((e) => [e.severity, e.message])).toEqual([
      ["error", "unknown fields dropped, as Flux's API server drops fields its CRD does not define: spec.validation"],
    ]);
    expect(warnings("GitRepository", repo).map((e) => e.message)).toEqual([
      "unknown fields dropped, as Flux's API server drops fields its CRD does not define: spec.gitImplementation",
    ]);
    expect(warnings("Receiver", "github")).toHaveLength(1);

    // Act: the next interval of the same generation, then a new generation that keeps the field
    await dispatch(local.plane.runtime, { key: `Kustomization/${key}`, reason: "interval" });
    const before = warnings("Kustomization", "getting-started").length;
    await applyToStore(
      local.plane.runtime.store,
      kustomization("getting-started", repo, { path: "./app", validation: "client", wait: true }),
    );
    // Assess
    expect(before).toBe(1);
    await until("a warning for generation 2", async () => warnings("Kustomization", "getting-started").length === 2);
  });

  it.each([
    [
      "a kubeconfig from a ConfigMap (it would otherwise apply to the wrong cluster)",
      { kubeConfig: { configMapRef: { name: "remote" } } },
      "spec.kubeConfig.configMapRef: reaching a remote cluster with a cloud identity is not supported by Sluice yet; use kubeConfig.secretRef",
    ],
  ])("refuses %s naming the field, and applies nothing", async (_case, spec, refusal) => {
    // Prepare
    const name = `refused-${serial}`;
    const repo = await source({ "app/cm.yaml": yamlOf(configMap(name, { a: "1" })) });
    // Act
    await applyToStore(local.plane.runtime.store, kustomization(name, repo, { path: "./app", ...spec }));
    const status = await untilReady("Kustomization", name, "UnsupportedField");
    // Assess
    expect(ready(status)?.message).toBe(`Kustomization/${ns()}/${name} is refused: ${refusal}`);
    expect(status.conditions?.find((c) => c.type === "Stalled")?.status).toBe("True");
    expect(await liveConfigMap(name)).toBeUndefined();
  });

  it("refuses a GitRepository that asks for signature verification: no artifact, so its Kustomization applies nothing", async () => {
    // Prepare
    const repo = await source(
      { "app/cm.yaml": yamlOf(configMap("unverified", { a: "1" })) },
      {
        verify: { mode: "HEAD", secretRef: { name: "pgp-public-keys" } },
      },
    );
    // Act
    await applyToStore(local.plane.runtime.store, kustomization("unverified", repo, { path: "./app" }));
    const status = await untilReady("GitRepository", repo, "UnsupportedField");
    await untilReady("Kustomization", "unverified", "ArtifactFailed");
    // Assess
    expect(ready(status)?.message).toContain(
      "spec.verify: commit signature verification is not supported by Sluice yet",
    );
    expect((status as { artifact?: unknown }).artifact).toBeUndefined();
    expect(await liveConfigMap("unverified")).toBeUndefined();
  });

  it("substitutes only when a variable is defined or substituteStrategy is Always, as Flux does", async () => {
    // Prepare: a script with a shell variable, a template, and a default
    const cm = (name: string, data: Record<string, string>) => configMap(name, data);
    const repo = await source({
      "script/cm.yaml": yamlOf(cm("script", { "run.sh": "echo ${HOME}" })),
      "template/cm.yaml": yamlOf(cm("template", { greeting: "${greeting}", region: "${region:=eu-west-1}" })),
      "defaults/cm.yaml": yamlOf(cm("defaults", { region: "${region:=eu-west-1}" })),
    });
    // Act
    const optionalMissing = { substituteFrom: [{ kind: "ConfigMap", name: "absent", optional: true }] };
    await applyToStore(
      local.plane.runtime.store,
      kustomization("script", repo, { path: "./script", postBuild: optionalMissing }),
    );
    await applyToStore(
      local.plane.runtime.store,
      kustomization("template", repo, { path: "./template", postBuild: { substitute: { greeting: "hi\n" } } }),
    );
    await applyToStore(
      local.plane.runtime.store,
      kustomization("defaults", repo, { path: "./defaults", postBuild: { substituteStrategy: "Always" } }),
    );
    for (const name of ["script", "template", "defaults"])
      await untilReady("Kustomization", name, "ReconciliationSucceeded");
    // Assess: no variable defined, so the script is left alone (a strict render would have failed on ${HOME})
    expect((await liveConfigMap("script"))?.data).toEqual({ "run.sh": "echo ${HOME}" });
    expect((await liveConfigMap("template"))?.data).toEqual({ greeting: "hi", region: "eu-west-1" });
    expect((await liveConfigMap("defaults"))?.data).toEqual({ region: "eu-west-1" });
  });
});
