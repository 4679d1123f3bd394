import { beforeAll, describe, expect, inject, it } from "vitest";
import { publishChart, testHelm, tinyChart } from "../env/charts.js";
import { planeSuite, storedStatus, until } from "./helpers.js";

// A HelmRelease whose target changes (helm-controller's ReleaseTargetChanged): a new chart name reinstalls the
// release unless `upgrade.chartNameChangeStrategy: InPlaceUpdate`, a new release name always does. Read back with
// the real helm from Helm's storage.

const { kube, git, helmRepo } = inject("testbed");
const suite = planeSuite(kube, git, { namespace: "hr-target" });

beforeAll(async () => {
  for (const name of ["target-alpha", "target-beta"]) await publishChart(helmRepo, await tinyChart(name, "1.0.0"));
  await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "charts", { interval: "5m", url: helmRepo.url });
});

const { put } = suite;

function release(name: string, chart: string, extra: Record<string, unknown> = {}) {
  return put("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, {
    interval: "5m",
    chart: { spec: { chart, version: "1.0.0", sourceRef: { kind: "HelmRepository", name: "charts" } } },
    values: { greeting: chart },
    ...extra,
  });
}

/** The release's newest history entry once it is Ready with that chart. */
async function releasedWith(name: string, chart: string) {
  return until(`HelmRelease ${name} released with ${chart}`, async () => {
    const status = await storedStatus(suite.plane, "HelmRelease", suite.namespace, name);
    const ready = status.conditions?.find((c) => c.type === "Ready");
    const latest = status.history?.[0] as { chartName?: string; version?: number } | undefined;
    return ready?.status === "True" && latest?.chartName === chart && latest;
  });
}

/** helm history of a release: revision, chart and status of each version. */
async function helmHistory(releaseName: string): Promise<{ revision: number; chart: string; status: string }[]> {
  const { stdout } = await testHelm([
    ...["history", releaseName, "-n", suite.namespace, "-o", "json"],
    ...["--kubeconfig", kube.kubeconfigPath],
  ]);
  return (JSON.parse(stdout) as { revision: number; chart: string; status: string }[]).map(
    ({ revision, chart, status }) => ({ revision, chart, status }),
  );
}

async function configMapUid(name: string): Promise<string | undefined> {
  const path = `/api/v1/namespaces/${suite.namespace}/configmaps/${name}`;
  const live = await suite.admin.client
    .send<{ metadata: { uid: string } }>({ method: "GET", path })
    .catch(() => undefined);
  return live?.metadata.uid;
}

describe("HelmRelease release target changes", () => {
  it("reinstalls a release whose chart is renamed, by default", async () => {
    // Arrange
    await release("renamed", "target-alpha");
    await releasedWith("renamed", "target-alpha");
    const before = await configMapUid("renamed-config");
    // Act
    await release("renamed", "target-beta");
    // Assess: uninstalled, then installed afresh: one version, a new object.
    expect(await releasedWith("renamed", "target-beta")).toMatchObject({ version: 1 });
    expect(await helmHistory("renamed")).toEqual([{ revision: 1, chart: "target-beta-1.0.0", status: "deployed" }]);
    expect(await configMapUid("renamed-config")).not.toBe(before);
  });

  it("upgrades in place with chartNameChangeStrategy InPlaceUpdate, keeping the release's objects", async () => {
    // Arrange
    const inPlace = { upgrade: { chartNameChangeStrategy: "InPlaceUpdate" } };
    await release("in-place", "target-alpha", inPlace);
    await releasedWith("in-place", "target-alpha");
    const before = await configMapUid("in-place-config");
    // Act
    await release("in-place", "target-beta", inPlace);
    // Assess
    expect(await releasedWith("in-place", "target-beta")).toMatchObject({ version: 2 });
    expect(await helmHistory("in-place")).toEqual([
      { revision: 1, chart: "target-alpha-1.0.0", status: "superseded" },
      { revision: 2, chart: "target-beta-1.0.0", status: "deployed" },
    ]);
    expect(await configMapUid("in-place-config")).toBe(before);
  });

  it("uninstalls the old release when the release name changes, whatever the chart strategy", async () => {
    // Arrange
    const inPlace = { upgrade: { chartNameChangeStrategy: "InPlaceUpdate" } };
    await release("moved", "target-alpha", { ...inPlace, releaseName: "moved-one" });
    await releasedWith("moved", "target-alpha");
    // Act
    await release("moved", "target-alpha", { ...inPlace, releaseName: "moved-two" });
    // Assess
    await until("the new release", async () => (await configMapUid("moved-two-config")) !== undefined);
    expect(await configMapUid("moved-one-config")).toBeUndefined();
    await expect(helmHistory("moved-one")).rejects.toThrow(/not found/);
  });
});
