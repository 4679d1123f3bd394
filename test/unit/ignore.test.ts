import { describe, expect, it } from "vitest";
import { matchesSelector, withoutIgnoredFields } from "../../src/apply/ignore.js";
import type { KubeObject } from "../../src/apply/object.js";

const webhook: KubeObject = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "MutatingWebhookConfiguration",
  metadata: {
    name: "injector",
    labels: { app: "injector", tier: "platform" },
    annotations: { "cert-manager.io/inject-ca-from": "x/y" },
  },
  webhooks: [
    { name: "a", clientConfig: { caBundle: "AAA", service: { name: "svc" } } },
    { name: "b", clientConfig: { caBundle: "BBB" } },
  ],
  data: { "a/b": 1, "c~d": 2, keep: 3 },
};

describe("driftIgnoreRules (pure)", () => {
  it("removes RFC 6901 pointers, with ~1 and ~0 escapes and array indices, leaving the input untouched", () => {
    const stripped = withoutIgnoredFields(webhook, [
      { paths: ["/webhooks/0/clientConfig/caBundle", "/data/a~1b", "/data/c~0d", "/spec/absent"] },
    ]);
    expect(stripped.webhooks).toEqual([
      { name: "a", clientConfig: { service: { name: "svc" } } },
      { name: "b", clientConfig: { caBundle: "BBB" } },
    ]);
    expect(stripped.data).toEqual({ keep: 3 });
    expect((webhook.data as Record<string, number>)["a/b"]).toBe(1);
  });

  it("applies a rule only to targets matching every field: whole-value regexes, label and annotation selectors", () => {
    const strip = (target: Record<string, string>) =>
      withoutIgnoredFields(webhook, [{ paths: ["/data"], target }]).data;
    expect(strip({ group: "admissionregistration\\.k8s\\.io", version: "v1", kind: "Mutating.*" })).toBeUndefined();
    expect(strip({ kind: "Mutating" })).toBeDefined();
    expect(strip({ name: "inj" })).toBeDefined();
    expect(strip({ labelSelector: "app=injector,tier in (platform, infra)" })).toBeUndefined();
    expect(strip({ labelSelector: "app=injector,tier notin (platform)" })).toBeDefined();
    expect(strip({ annotationSelector: "cert-manager.io/inject-ca-from" })).toBeUndefined();
  });

  it("label selectors: equality, inequality, set, existence and absence", () => {
    const labels = { app: "web", env: "prod" };
    expect(matchesSelector("app=web", labels)).toBe(true);
    expect(matchesSelector("app==web,env!=dev", labels)).toBe(true);
    expect(matchesSelector("env in (dev,stage)", labels)).toBe(false);
    expect(matchesSelector("env notin (dev,stage),app", labels)).toBe(true);
    expect(matchesSelector("!team", labels)).toBe(true);
    expect(matchesSelector("team", labels)).toBe(false);
  });
});
