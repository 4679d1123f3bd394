import { describe, expect, it } from "vitest";
import { RESOURCE_INFO_LABELS, resourceInfoLabels } from "../../src/api/resource-info.js";
import { parseListenAddress } from "../../src/cli/run.js";

// gotk_resource_info's labels, as flux2-monitoring-example's kube-state-metrics configuration reads them.

describe("gotk_resource_info labels", () => {
  it("reads a HelmRelease's chart from its newest history entry and its chart source", () => {
    const labels = resourceInfoLabels({
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "podinfo", namespace: "apps" },
      spec: { chart: { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "charts" } } } },
      status: {
        conditions: [{ type: "Ready", status: "False" }],
        history: [
          { chartName: "podinfo", chartVersion: "6.7.1", appVersion: "6.7.1" },
          { chartName: "podinfo", chartVersion: "6.7.0", appVersion: "6.7.0" },
        ],
      },
    });
    expect(labels).toEqual({
      customresource_group: "helm.toolkit.fluxcd.io",
      customresource_version: "v2",
      customresource_kind: "HelmRelease",
      exported_namespace: "apps",
      name: "podinfo",
      ready: "False",
      revision: "6.7.1",
      chart_name: "podinfo",
      chart_app_version: "6.7.1",
      chart_source_name: "charts",
    });
    expect(Object.keys(labels).every((label) => RESOURCE_INFO_LABELS.includes(label))).toBe(true);
  });

  it("gives Alerts and Providers no ready label (their API has no conditions), and suspended when set", () => {
    expect(
      resourceInfoLabels({
        apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
        kind: "Alert",
        metadata: { name: "slack", namespace: "apps" },
        spec: { suspend: false },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      }),
    ).toEqual({
      customresource_group: "notification.toolkit.fluxcd.io",
      customresource_version: "v1beta3",
      customresource_kind: "Alert",
      exported_namespace: "apps",
      name: "slack",
      suspended: "false",
    });
  });

  it("drops the user info of every URL scheme, and ignores fields of the wrong type", () => {
    const url = (value: unknown) =>
      resourceInfoLabels({
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata: { name: "x", namespace: "y" },
        spec: { url: value, suspend: { not: "a boolean" } },
        status: { conditions: "not a list", artifact: { revision: ["not", "a", "string"] } },
      });
    expect(url("https://user:pa%40ss@git.example.com/org/repo.git").url).toBe("https://git.example.com/org/repo.git");
    expect(url("ssh://git@github.com/org/repo").url).toBe("ssh://github.com/org/repo");
    expect(url("HTTP://token@host:8080/x?y=z@w").url).toBe("HTTP://host:8080/x?y=z@w");
    expect(url(["https://a:b@c"])).not.toHaveProperty("url");
    expect(url("https://host/x")).not.toHaveProperty("suspended");
    expect(url("https://host/x")).not.toHaveProperty("ready");
    expect(url("https://host/x")).not.toHaveProperty("revision");
  });
});

describe("--metrics-addr", () => {
  it("takes host:port as Flux's --metrics-addr does", () => {
    expect(parseListenAddress("127.0.0.1:9293", "--metrics-addr")).toEqual({ host: "127.0.0.1", port: 9293 });
    expect(parseListenAddress(":8080", "--metrics-addr")).toEqual({ host: undefined, port: 8080 });
    expect(parseListenAddress("[::1]:0", "--metrics-addr")).toEqual({ host: "::1", port: 0 });
  });

  it("refuses anything else, naming the flag", () => {
    for (const bad of ["9293", "localhost", "host:99999", "a:b:80", "[::1]", "host:-1", ""])
      expect(() => parseListenAddress(bad, "--metrics-addr")).toThrow(`--metrics-addr '${bad}': expected host:port`);
  });
});
