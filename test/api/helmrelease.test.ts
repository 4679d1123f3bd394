import { describe, expect, it } from "vitest";
import {
  actionTimeoutMsOf,
  helmChartOf,
  maxHistoryOf,
  releaseNameOf,
  releaseNamespaceOf,
  remediationOf,
  retryIntervalMsOf,
  shortenReleaseName,
  storageNamespaceOf,
  timeoutMsOf,
  type HelmRelease,
} from "../../src/api/helmrelease.js";
import { admitFluxObject, InvalidObjectError } from "../../src/api/parse.js";
import { unsupportedFields } from "../../src/api/unsupported.js";

// The HelmRelease rules of helm-controller v1.6.3's Go API (GetReleaseName, release.ShortenName,
// GetReleaseNamespace, GetStorageNamespace, GetHelmChartName, the Get*Timeout defaults), with Flux's
// own test vectors where its tests have them; and admission as its CRD admits.

const hr = (spec: Partial<HelmRelease["spec"]> = {}, name = "podinfo", namespace: string | null = "apps") =>
  ({
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    kind: "HelmRelease",
    metadata: { name, ...(namespace !== null && { namespace }) },
    spec: { interval: "10m", chartRef: { kind: "HelmChart", name: "podinfo" }, ...spec },
  }) as HelmRelease;

const problemsOf = (input: unknown) => {
  try {
    admitFluxObject(input);
    return [];
  } catch (error) {
    if (error instanceof InvalidObjectError) return error.problems;
    throw error;
  }
};

describe("HelmRelease (helm-controller v1.6.3's API)", () => {
  it("shortens release names as release.ShortenName does (Flux's TestShortName vectors)", () => {
    const vectors = {
      "release-name": "release-name",
      "release-name-with-very-long-name-which-is-longer-than-53-characters":
        "release-name-with-very-long-name-which-i-788ca0d0d7b0",
      "another-release-name-with-very-long-name-which-is-longer-than-53-characters":
        "another-release-name-with-very-long-name-7e72150d5a36",
      "": "",
    };
    for (const [name, short] of Object.entries(vectors)) {
      expect(shortenReleaseName(name)).toBe(short);
      expect(shortenReleaseName(name).length).toBeLessThanOrEqual(53);
    }
    // 53 exactly stays as it is; 54 is hashed.
    expect(shortenReleaseName("a".repeat(53))).toBe("a".repeat(53));
    expect(shortenReleaseName("a".repeat(54))).toMatch(/^a{40}-[0-9a-f]{12}$/);
  });

  it("names the release releaseName, else [targetNamespace-]name, shortened past 53 characters", () => {
    expect(releaseNameOf(hr())).toBe("podinfo");
    expect(releaseNameOf(hr({ targetNamespace: "prod" }))).toBe("prod-podinfo");
    expect(releaseNameOf(hr({ targetNamespace: "prod", releaseName: "web" }))).toBe("web");
    const long = releaseNameOf(hr({ targetNamespace: "a-namespace-with-a-rather-long-name" }, "and-a-long-release"));
    expect(long).toBe(shortenReleaseName("a-namespace-with-a-rather-long-name-and-a-long-release"));
    expect(long).toHaveLength(53);
  });

  it("puts the release in targetNamespace, its storage in storageNamespace, each else the HelmRelease's namespace", () => {
    expect(releaseNamespaceOf(hr())).toBe("apps");
    expect(storageNamespaceOf(hr({ targetNamespace: "prod" }))).toBe("apps");
    expect(releaseNamespaceOf(hr({ targetNamespace: "prod", storageNamespace: "helm" }))).toBe("prod");
    expect(storageNamespaceOf(hr({ targetNamespace: "prod", storageNamespace: "helm" }))).toBe("helm");
    expect(releaseNamespaceOf(hr({}, "podinfo", null))).toBe("default");
  });

  it("names the templated HelmChart <namespace>-<name>, in the namespace of its source", () => {
    const chart = { chart: "podinfo", sourceRef: { kind: "HelmRepository" as const, name: "podinfo" } };
    expect(helmChartOf(hr({ chartRef: undefined, chart: { spec: chart } }))).toEqual({
      namespace: "apps",
      name: "apps-podinfo",
    });
    const elsewhere = { ...chart, sourceRef: { ...chart.sourceRef, namespace: "flux-system" } };
    expect(helmChartOf(hr({ chartRef: undefined, chart: { spec: elsewhere } }))).toEqual({
      namespace: "flux-system",
      name: "apps-podinfo",
    });
  });

  it("takes each action's timeout, else spec.timeout, else 5 minutes; keeps 5 versions unless told", () => {
    expect(timeoutMsOf(hr())).toBe(300_000);
    expect(actionTimeoutMsOf(hr(), "uninstall")).toBe(300_000);
    expect(actionTimeoutMsOf(hr({ timeout: "1m" }), "install")).toBe(60_000);
    expect(actionTimeoutMsOf(hr({ timeout: "1m", upgrade: { timeout: "90s" } }), "upgrade")).toBe(90_000);
    expect(actionTimeoutMsOf(hr({ timeout: "1m", upgrade: { timeout: "90s" } }), "rollback")).toBe(60_000);
    expect(maxHistoryOf(hr())).toBe(5);
    expect(maxHistoryOf(hr({ maxHistory: 0 }))).toBe(0);
  });

  it("remediates as the Go API's defaults say: installs uninstall, upgrades roll back, the last failure only with retries", () => {
    expect(remediationOf(hr(), "install")).toEqual({
      retries: 0,
      ignoreTestFailures: false,
      remediateLastFailure: false,
      strategy: "uninstall",
    });
    expect(remediationOf(hr({ install: { remediation: { retries: 3 } } }), "install").remediateLastFailure).toBe(false);
    expect(remediationOf(hr({ upgrade: { remediation: { retries: 3 } } }), "upgrade")).toEqual({
      retries: 3,
      ignoreTestFailures: false,
      remediateLastFailure: true,
      strategy: "rollback",
    });
    const told = hr({
      test: { ignoreFailures: true },
      upgrade: { remediation: { retries: 3, remediateLastFailure: false, strategy: "uninstall" } },
    });
    expect(remediationOf(told, "upgrade")).toEqual({
      retries: 3,
      ignoreTestFailures: true,
      remediateLastFailure: false,
      strategy: "uninstall",
    });
  });

  it("retries only under RetryOnFailure, after 5m unless retryInterval says (GetRetry, GetRetryInterval)", () => {
    expect(retryIntervalMsOf(hr(), "install")).toBeUndefined();
    expect(retryIntervalMsOf(hr({ install: { strategy: { name: "RemediateOnFailure" } } }), "install")).toBeUndefined();
    expect(retryIntervalMsOf(hr({ install: { strategy: { name: "RetryOnFailure" } } }), "install")).toBe(300_000);
    // Each action has its own strategy: an install's does not make upgrades retry.
    expect(retryIntervalMsOf(hr({ install: { strategy: { name: "RetryOnFailure" } } }), "upgrade")).toBeUndefined();
    const upgrade = { strategy: { name: "RetryOnFailure" as const, retryInterval: "1m30s" } };
    expect(retryIntervalMsOf(hr({ upgrade }), "upgrade")).toBe(90_000);
  });

  it("admits as the CRD does: defaults filled in, chart xor chartRef, a retry interval only to retry", () => {
    const chart = { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" } } };
    const admitted = admitFluxObject({
      ...hr({ chartRef: undefined }),
      spec: { interval: "5m", chart, uninstall: {} },
    });
    expect(admitted.object.spec).toMatchObject({
      chart: { spec: { version: "*", reconcileStrategy: "ChartVersion" } },
      uninstall: { deletionPropagation: "background" },
    });
    expect(problemsOf({ ...hr(), spec: { interval: "5m" } })).toEqual(["spec: either chart or chartRef must be set"]);
    expect(problemsOf(hr({ chart: chart as never }))).toEqual(["spec: either chart or chartRef must be set"]);
    expect(problemsOf(hr({ install: { strategy: { name: "RemediateOnFailure", retryInterval: "1m" } } }))).toEqual([
      "spec.install.strategy: .retryInterval cannot be set when .name is 'RemediateOnFailure'",
    ]);
  });

  it("refuses a values document that is not a map, a release name Helm cannot take, a hostile targetPath", () => {
    expect(problemsOf(hr({ values: "replicaCount: 2" as never })).join()).toContain("spec.values: ");
    expect(problemsOf(hr({ values: [1, 2] as never })).join()).toContain("spec.values: ");
    expect(problemsOf(hr({ releaseName: "r".repeat(54) })).join()).toContain("spec.releaseName: ");
    const from = (targetPath: string) => hr({ valuesFrom: [{ kind: "Secret", name: "s", targetPath }] });
    expect(problemsOf(from("a.b[0].c\\.d"))).toEqual([]);
    for (const hostile of ["a=b", "a,b", "a b", "a[1x]", "a[123456]", "{a}", "x".repeat(251)])
      expect(problemsOf(from(hostile)).join(), hostile).toContain("spec.valuesFrom[0].targetPath: ");
    expect(problemsOf(hr({ valuesFrom: [{ kind: "Secret", name: "s", valuesKey: "../etc" }] })).join()).toContain(
      "spec.valuesFrom[0].valuesKey: ",
    );
  });

  it("refuses by name what Sluice does not implement, and accepts what it does", () => {
    const refused = unsupportedFields(
      admitFluxObject(
        hr({
          kubeConfig: { configMapRef: { name: "cloud" } },
        }),
      ).object,
    );
    expect(refused.map((r) => r.slice(0, r.indexOf(":")))).toEqual(["spec.kubeConfig.configMapRef"]);
    const accepted = hr({
      driftDetection: { mode: "enabled", ignore: [{ paths: ["/spec/replicas"] }] },
      install: {
        strategy: { name: "RetryOnFailure", retryInterval: "1m" },
        crds: "CreateReplace",
        createNamespace: true,
        replace: true,
        disableTakeOwnership: true,
        serverSideApply: false,
      },
      upgrade: {
        strategy: { name: "RetryOnFailure" },
        chartNameChangeStrategy: "InPlaceUpdate",
        remediation: { retries: -1, strategy: "uninstall" },
        cleanupOnFail: true,
        preserveValues: true,
        serverSideApply: "auto",
      },
      rollback: { serverSideApply: "disabled" },
      postRenderStrategy: "separate",
      waitStrategy: { name: "legacy" },
      valuesFrom: [{ kind: "ConfigMap", name: "values", optional: true, targetPath: "a.b" }],
      values: { replicaCount: 2 },
    });
    expect(unsupportedFields(admitFluxObject(accepted).object)).toEqual([]);
  });
});
