import { describe, expect, inject, it } from "vitest";
import type { Artifact } from "../../src/api/meta.js";
import { applyToStore } from "../../src/store/objects.js";
import { testHelm } from "../env/charts.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

// A HelmRelease whose chartRef is an ExternalArtifact an ArtifactGenerator cut out of a Git repository, released by a
// local control plane into the test bed's kube-apiserver with the real helm (helm-controller v1.6.3's chartRef kind).

const { kube, git } = inject("testbed");
const suite = planeSuite(kube, git, { namespace: "hr-external" });
const ns = () => suite.namespace;

/** A repository holding one chart (a ConfigMap) under charts/app, and an unrelated README. */
const repository = (greeting: string, readme: string) => ({
  "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
  "charts/app/values.yaml": `greeting: ${greeting}\n`,
  "charts/app/templates/configmap.yaml":
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
  "README.md": readme,
});

type ReleaseStatus = {
  lastAttemptedRevision?: string;
  lastAttemptedRevisionDigest?: string;
  history?: { version: number }[];
};

describe("HelmRelease: a chart from an ExternalArtifact (chartRef)", () => {
  it("releases the generated chart with the artifact's digest in its version, upgrades only when its files change", async () => {
    // Prepare
    const repo = `${ns()}-charts`;
    const url = await createRepo(git, repo);
    await pushTree(git, repo, { files: repository("hello", "v1") });
    const store = suite.plane.runtime.store;
    const put = (apiVersion: string, kind: string, name: string, spec: Record<string, unknown>) =>
      applyToStore(store, { apiVersion, kind, metadata: { name, namespace: ns() }, spec });
    await put("source.toolkit.fluxcd.io/v1", "GitRepository", "charts", {
      interval: "1h",
      url,
      ref: { branch: "main" },
      secretRef: { name: "git-auth" },
    });
    await put("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator", "charts", {
      sources: [{ alias: "repo", kind: "GitRepository", name: "charts" }],
      artifacts: [{ name: "app-chart", copy: [{ from: "@repo/charts/app", to: "@artifact/" }] }],
    });
    await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", "app", {
      interval: "1h",
      chartRef: { kind: "ExternalArtifact", name: "app-chart" },
      timeout: "30s",
    });
    const released = (reason: string, revision?: string) =>
      until(`app ${reason}`, async () => {
        const status = (await storedStatus(suite.plane, "HelmRelease", ns(), "app")) as ReleaseStatus;
        const condition = ready(status as never);
        return condition?.status === "True" &&
          condition.reason === reason &&
          (!revision || status.lastAttemptedRevisionDigest === revision)
          ? status
          : undefined;
      });
    const artifactOf = async () =>
      (
        (await store.get({ kind: "ExternalArtifact", namespace: ns(), name: "app-chart" }))?.object.status as {
          artifact: Artifact;
        }
      ).artifact;
    const poke = () => suite.plane.runtime.queue.enqueue({ key: `GitRepository/${ns()}/charts`, reason: "webhook" });
    const helmHistory = async () =>
      JSON.parse(
        (await testHelm(["history", "app", "-n", ns(), "-o", "json", "--kubeconfig", kube.kubeconfigPath])).stdout,
      ) as { revision: number }[];

    // Act
    const installed = await released("InstallSucceeded");
    const first = await artifactOf();
    const sourcesDigest = async () =>
      ((await storedStatus(suite.plane, "ArtifactGenerator", ns(), "charts")) as { observedSourcesDigest?: string })
        .observedSourcesDigest;
    const before = await sourcesDigest();
    await pushTree(git, repo, { files: repository("hello", "v2") });
    await poke();
    await until("the README commit seen by the generator", async () => (await sourcesDigest()) !== before);
    const afterReadme = await artifactOf();
    const historyAfterReadme = await helmHistory();
    await pushTree(git, repo, { files: repository("bonjour", "v2") });
    await poke();
    const upgraded = await until("a new chart artifact", async () => {
      const artifact = await artifactOf();
      return artifact.revision !== first.revision && artifact;
    }).then((artifact) => released("UpgradeSucceeded", artifact.revision));
    const config = await suite.admin.client.send<{ data: Record<string, string> }>({
      method: "GET",
      path: `/api/v1/namespaces/${ns()}/configmaps/app-config`,
    });

    // Assess: helm-controller's mutateChartWithSourceRevision for a `latest@sha256:…` revision.
    expect(first.revision).toMatch(/^latest@sha256:[0-9a-f]{64}$/);
    expect(installed.lastAttemptedRevisionDigest).toBe(first.revision);
    expect(installed.lastAttemptedRevision).toBe(`0.1.0+${first.revision.slice("latest@sha256:".length, -52)}`);
    expect(afterReadme).toEqual(first);
    expect(historyAfterReadme.map((h) => h.revision)).toEqual([1]);
    expect(upgraded.lastAttemptedRevision).not.toBe(installed.lastAttemptedRevision);
    expect((await helmHistory()).map((h) => h.revision)).toEqual([1, 2]);
    expect(config.data.greeting).toBe("bonjour");
  });
});
