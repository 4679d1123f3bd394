import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Artifact } from "../../src/api/meta.js";
import { readArchive } from "../../src/artifacts/extract.js";
import { applyToStore } from "../../src/store/objects.js";
import { CERT_MANAGER, ENVOY_GATEWAY, pushFleetCharts } from "../env/fleet-charts.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { adminKubeConfig } from "../env/kube-client.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";
import { ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { ready, startTestPlane, storedStatus, until, type TestPlane } from "./helpers.js";

// Flux's reference fleet (test/fixtures/flux2-kustomize-helm-example) bootstrapped on clusters/staging in a local
// control plane, driven to Ready: its ArtifactGenerator splits the monorepo into the `infrastructure` and `apps`
// ExternalArtifacts its Kustomizations read; infra-controllers installs cert-manager and Envoy Gateway (HelmReleases
// from OCIRepositories, RetryOnFailure), infra-configs then applies the ClusterIssuer and Gateway their CRDs define,
// and apps installs podinfo from its HelmRepository. The fleet is pushed as published except for its three chart
// URLs, pointed at the test bed's mirror (stand-ins of the same names and versions, see fleet-charts.ts). A commit
// that does not touch an artifact's files changes neither its revision nor wakes the Kustomizations reading it.

const { kube, git, registry, helmRepo } = inject("testbed");
const FIXTURE = join(import.meta.dirname, "../fixtures/flux2-kustomize-helm-example");
const NS = "flux-system";
const logs: { object?: string; msg?: string; reason?: string }[] = [];
const config = adminKubeConfig(kube);
const core = config.makeApiClient(CoreV1Api);
const appsApi = config.makeApiClient(AppsV1Api);
const custom = config.makeApiClient(CustomObjectsApi);
const crds = config.makeApiClient(ApiextensionsV1Api);
const RELEASE_NAMESPACES = ["cert-manager", "envoy-gateway-system", "podinfo"];
const CRDS = [
  "clusterissuers.cert-manager.io",
  "gatewayclasses.gateway.networking.k8s.io",
  "gateways.gateway.networking.k8s.io",
  "httproutes.gateway.networking.k8s.io",
];
const suffix = Math.random().toString(16).slice(2, 8);
const secretName = `reference-fleet-${suffix}`;
let plane: TestPlane | undefined;
let kubelet: Kubelet | undefined;

afterAll(async () => {
  await plane?.stop();
  await kubelet?.stop();
  await core.deleteNamespacedSecret({ namespace: NS, name: secretName }).catch(() => undefined);
  for (const name of RELEASE_NAMESPACES) await core.deleteNamespace({ name }).catch(() => undefined);
  for (const name of CRDS) await crds.deleteCustomResourceDefinition({ name }).catch(() => undefined);
});

/** The fleet's chart sources pointed at the test bed, as a user mirroring the charts would change them. */
async function mirrorCharts(work: string): Promise<void> {
  const oci = (chart: typeof CERT_MANAGER) => `oci://${registry.host}/${chart.repository}/${chart.name}`;
  const mirrors: [string, string, string][] = [
    ["infrastructure/controllers/cert-manager.yaml", "oci://quay.io/jetstack/charts/cert-manager", oci(CERT_MANAGER)],
    ["infrastructure/controllers/envoy-gateway.yaml", "oci://docker.io/envoyproxy/gateway-helm", oci(ENVOY_GATEWAY)],
    ["apps/base/podinfo/repository.yaml", "https://stefanprodan.github.io/podinfo", helmRepo.url],
  ];
  for (const [path, from, to] of mirrors) {
    const text = await readFile(join(work, path), "utf8");
    expect(text, path).toContain(`url: ${from}\n`);
    await writeFile(join(work, path), text.replace(`url: ${from}\n`, `url: ${to}\n`));
  }
}

/** The port of the configs layer's Gateway, as the cluster has it. */
const gatewayPort = async (): Promise<number> => {
  const gateway = await custom.getNamespacedCustomObject({
    group: "gateway.networking.k8s.io",
    version: "v1",
    namespace: "envoy-gateway-system",
    plural: "gateways",
    name: "envoy",
  });
  return gateway.spec.listeners[0].port;
};

const readyIn = async (kind: string, namespace: string, name: string) => {
  let last: unknown;
  return until(
    () => `${kind} ${namespace}/${name} Ready, last ${JSON.stringify(last)}`,
    async () => {
      const status = await storedStatus(plane!, kind, namespace, name);
      last = ready(status);
      return ready(status)?.status === "True" && status;
    },
    180_000,
  );
};

/** The files of a stored ExternalArtifact's artifact. */
async function filesOf(artifact: Artifact): Promise<string[]> {
  const data = (await plane!.runtime.artifacts.get(artifact.path, artifact.digest))!;
  const { tree } = await readArchive(data);
  const files: string[] = [];
  const walk = async (folder: string) => {
    for (const entry of await tree.list(folder)) {
      const path = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.directory) await walk(path);
      else files.push(path);
    }
  };
  await walk("");
  return files.sort();
}

const artifactOf = async (name: string) =>
  (
    (await plane!.runtime.store.get({ kind: "ExternalArtifact", namespace: NS, name }))?.object.status as
      { artifact?: Artifact } | undefined
  )?.artifact;
/** Reconciles of a Kustomization that a source woke (reason "source"). */
const wakes = (name: string) =>
  logs.filter((l) => l.object === `Kustomization/${NS}/${name}` && l.msg === "reconciled" && l.reason === "source")
    .length;

describe("Flux's reference fleet (flux2-kustomize-helm-example) on a local control plane", () => {
  it("reconciles to Ready: controllers, configs, apps; an unrelated commit changes no artifact revision and wakes no Kustomization", async () => {
    // Prepare: the fleet pushed as published, bootstrapped as `flux bootstrap` would (clusters/staging).
    await core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: secretName }, stringData: { username: git.username, password: git.password } },
    });
    const repo = `reference-fleet-${suffix}`;
    const url = await createRepo(git, repo);
    const work = await mkdtemp(join(tmpdir(), "sluice-reference-fleet-"));
    await cp(FIXTURE, work, { recursive: true });
    await mirrorCharts(work);
    await pushFleetCharts(registry.host);
    kubelet = await startKubelet(kube, { namespaces: RELEASE_NAMESPACES });
    const first = await pushTree(git, repo, { folder: work });
    plane = await startTestPlane(kube, {
      log: pino(
        { level: "info" },
        new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(JSON.parse(chunk.toString())), done()) }),
      ),
    });
    const store = plane.runtime.store;
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "flux-system", namespace: NS },
      spec: { interval: "1h", url, ref: { branch: "main" }, secretRef: { name: secretName } },
    });
    await applyToStore(store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "flux-system", namespace: NS },
      spec: { interval: "1h", path: "./clusters/staging", prune: true, sourceRef: { kind: "GitRepository", name: NS } },
    });
    const push = async (path: string, change: (text: string) => string) => {
      await writeFile(join(work, path), change(await readFile(join(work, path), "utf8")));
      const commit = await pushTree(git, repo, { folder: work });
      await plane!.runtime.queue.enqueue({ key: `GitRepository/${NS}/flux-system`, reason: "webhook" });
      await until(`commit ${commit} in both ExternalArtifacts`, async () => {
        const [infra, apps] = [await artifactOf("infrastructure"), await artifactOf("apps")];
        const origin = `main@sha1:${commit}`;
        const key = "org.opencontainers.image.revision";
        return infra?.metadata?.[key] === origin && apps?.metadata?.[key] === origin;
      });
      return commit;
    };

    // Act
    const generated = await until("the ArtifactGenerator Ready", async () => {
      const status = await storedStatus(plane!, "ArtifactGenerator", NS, "flux-system");
      return ready(status)?.status === "True" && status;
    });
    const infrastructure = (await artifactOf("infrastructure"))!;
    const apps = (await artifactOf("apps"))!;
    const kustomizations = [];
    for (const name of ["flux-system", "infra-controllers", "infra-configs", "apps"])
      kustomizations.push(await readyIn("Kustomization", NS, name));
    const releases = [
      await readyIn("HelmRelease", "cert-manager", "cert-manager"),
      await readyIn("HelmRelease", "envoy-gateway-system", "envoy-gateway"),
      await readyIn("HelmRelease", "podinfo", "podinfo"),
    ];
    const portBefore = await gatewayPort();
    const [infraWakes, appsWakes] = [wakes("infra-controllers"), wakes("apps")];
    const unrelated = await push("clusters/production/apps.yaml", (t) => t.replace("interval: 1h", "interval: 2h"));
    const afterUnrelated = { infrastructure: (await artifactOf("infrastructure"))!, apps: (await artifactOf("apps"))! };
    const wakesAfterUnrelated = [wakes("infra-controllers"), wakes("apps")];
    await push("infrastructure/configs/gateway.yaml", (t) => t.replace("port: 80", "port: 8080"));
    const afterInfra = { infrastructure: (await artifactOf("infrastructure"))!, apps: (await artifactOf("apps"))! };
    await until("infra-controllers woken by its new artifact", async () => wakes("infra-controllers") > infraWakes);

    // Assess: the split, as source-watcher makes it.
    expect(ready(generated)?.message).toBe("reconciliation succeeded, generated 2 artifact(s)");
    expect(await filesOf(infrastructure)).toEqual([
      "configs/cluster-issuers.yaml",
      "configs/gateway.yaml",
      "configs/kustomization.yaml",
      "controllers/cert-manager.yaml",
      "controllers/envoy-gateway.yaml",
      "controllers/kustomization.yaml",
    ]);
    expect(await filesOf(apps)).toEqual([
      "base/podinfo/kustomization.yaml",
      "base/podinfo/namespace.yaml",
      "base/podinfo/release.yaml",
      "base/podinfo/repository.yaml",
      "staging/kustomization.yaml",
      "staging/podinfo-values.yaml",
    ]);
    expect(apps.revision).toBe(`latest@${apps.digest}`);
    expect(apps.metadata).toEqual({ "org.opencontainers.image.revision": `main@sha1:${first}` });
    // Each layer Ready at the artifact it read, each release installed from its (mirrored) chart.
    expect(kustomizations.map((k) => k.lastAppliedRevision)).toEqual([
      `main@sha1:${first}`,
      infrastructure.revision,
      infrastructure.revision,
      apps.revision,
    ]);
    expect(
      releases.map((r) => [ready(r)?.reason, (r.history as unknown as { chartName: string }[])[0]?.chartName]),
    ).toEqual([
      ["InstallSucceeded", "cert-manager"],
      ["InstallSucceeded", "gateway-helm"],
      ["InstallSucceeded", "podinfo"],
    ]);
    expect(releases.map((r) => r.lastAttemptedRevision as string)).toEqual([
      expect.stringMatching(/^1\.19\.1\+[0-9a-f]{12}$/),
      expect.stringMatching(/^1\.8\.0\+[0-9a-f]{12}$/),
      "6.9.3",
    ]);
    // What they made, in the cluster: the controllers rolled out, cert-manager's values, the CRDs, and the configs
    // layer's objects (the ClusterIssuer with the staging cluster's patch).
    const controllers: [string, string][] = [
      ["cert-manager", "cert-manager"],
      ["envoy-gateway-system", "envoy-gateway"],
      ["podinfo", "podinfo"],
      ["podinfo", "podinfo-redis"],
    ];
    for (const [namespace, name] of controllers)
      expect((await appsApi.readNamespacedDeployment({ namespace, name })).status?.readyReplicas, name).toBe(1);
    const certManagerConfig = await core.readNamespacedConfigMap({ namespace: "cert-manager", name: "cert-manager" });
    expect(JSON.parse(certManagerConfig.data!["config.json"]!)).toEqual({ enableGatewayAPI: true });
    for (const name of CRDS) expect((await crds.readCustomResourceDefinition({ name })).metadata?.name).toBe(name);
    const issuer = await custom.getClusterCustomObject({
      group: "cert-manager.io",
      version: "v1",
      plural: "clusterissuers",
      name: "letsencrypt",
    });
    expect(issuer.spec.acme.server).toBe("https://acme-staging-v02.api.letsencrypt.org/directory");
    expect(portBefore).toBe(80);
    // The unrelated commit: same revisions (only the origin revision moved), nobody woken.
    expect(afterUnrelated.infrastructure.revision).toBe(infrastructure.revision);
    expect(afterUnrelated.apps.revision).toBe(apps.revision);
    expect(afterUnrelated.apps.metadata).toEqual({ "org.opencontainers.image.revision": `main@sha1:${unrelated}` });
    expect(wakesAfterUnrelated).toEqual([infraWakes, appsWakes]);
    // A commit to infrastructure/: its artifact changes, the apps artifact does not, and apps is not woken.
    expect(afterInfra.infrastructure.revision).not.toBe(infrastructure.revision);
    expect(afterInfra.apps.revision).toBe(apps.revision);
    expect(wakes("apps")).toBe(appsWakes);
    // ...and infra-configs applies it.
    await until("the Gateway on port 8080", async () => (await gatewayPort()) === 8080);
  }, 300_000);
});
