import { describe, expect, it } from "vitest";
import { driftReport, fieldDiff, HIDDEN } from "../../src/apply/field-diff.js";
import type { KubeObject } from "../../src/apply/object.js";
import { fluxEventJson, requestFor } from "../../src/notify/payloads.js";

// What a drift correction records of the fields it reverted: before → after per field, never a Secret's values or
// a SOPS-decrypted object's, bounded in size.

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const configMap = (data: Record<string, string>, meta: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "settings", namespace: "apps", resourceVersion: "7", ...meta },
  data,
});
const secret = (data: Record<string, string>, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "db", namespace: "apps", annotations },
  type: "Opaque",
  data,
});
const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("fieldDiff", () => {
  it("names each changed field with its JSON before and after; metadata other than labels and annotations and status are left out", () => {
    // Arrange
    const live = configMap(
      { level: "debug", extra: "x" },
      { labels: { app: "web", "app.kubernetes.io/name": "old" }, resourceVersion: "8" },
    );
    const restored = configMap({ level: "info" }, { labels: { app: "web", "app.kubernetes.io/name": "new" } });
    live.status = { a: 1 };
    // Act
    const diff = fieldDiff(live, restored);
    // Assert
    expect(diff).toEqual({
      changes: [
        { path: 'metadata.labels["app.kubernetes.io/name"]', before: '"old"', after: '"new"' },
        { path: "data.level", before: '"debug"', after: '"info"' },
        { path: "data.extra", before: '"x"' },
      ],
      omitted: 0,
    });
  });

  it("walks into lists of the same length by index, and shows a list whose length changed whole", () => {
    // Arrange
    const deployment = (image: string, ports: number[]): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: { template: { spec: { containers: [{ name: "web", image, ports }] } } },
    });
    // Act
    const diff = fieldDiff(deployment("evil:latest", [80, 443]), deployment("web:1.2", [80]));
    // Assert
    expect(diff.changes).toEqual([
      { path: "spec.template.spec.containers[0].image", before: '"evil:latest"', after: '"web:1.2"' },
      { path: "spec.template.spec.containers[0].ports", before: "[80,443]", after: "[80]" },
    ]);
  });

  it("never shows a Secret's values, nor its last-applied annotation (which holds them again), only that they changed", () => {
    // Arrange: an attacker changed the password and copied the old one into kubectl's annotation
    const live = secret(
      { password: b64("hijacked"), added: b64("planted") },
      { [LAST_APPLIED]: JSON.stringify({ data: { password: b64("s3cr3t") } }), team: "red" },
    );
    const restored = secret({ password: b64("s3cr3t") }, { team: "blue" });
    // Act
    const diff = fieldDiff(live, restored);
    // Assert
    expect(diff.changes).toEqual([
      { path: `metadata.annotations["${LAST_APPLIED}"]`, before: HIDDEN },
      { path: "metadata.annotations.team", before: '"red"', after: '"blue"' },
      { path: "data.password", before: HIDDEN, after: HIDDEN },
      { path: "data.added", before: HIDDEN },
    ]);
    const text = JSON.stringify(diff);
    for (const value of ["hijacked", "planted", "s3cr3t"]) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(b64(value));
    }
  });

  it("hides every value of an object whose values are hidden (SOPS-decrypted), labels included", () => {
    // Act
    const diff = fieldDiff(
      configMap({ token: "decrypted-plaintext" }, { labels: { tier: "a" } }),
      configMap({ token: "other-plaintext" }, { labels: { tier: "b" } }),
      true,
    );
    // Assert
    expect(diff.changes).toEqual([
      { path: "metadata.labels.tier", before: HIDDEN, after: HIDDEN },
      { path: "data.token", before: HIDDEN, after: HIDDEN },
    ]);
  });

  it("bounds what it records: values clipped, fields counted past 30, a report past its size counted, not kept", () => {
    // Arrange: an attacker floods a ConfigMap with huge, numerous values
    const huge = "A".repeat(100_000);
    const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, huge]));
    // Act
    const diff = fieldDiff(configMap(many), configMap({}));
    const report = driftReport(
      Array.from({ length: 100 }, (_, i) => ({ subject: `ConfigMap/apps/c${i}`, action: "configured", diff })),
    );
    // Assert
    expect(diff.changes).toHaveLength(30);
    expect(diff.omitted).toBe(470);
    expect(diff.changes[0]!.before!.length).toBeLessThanOrEqual(201);
    expect(JSON.stringify(report).length).toBeLessThan(40_000);
    expect(report.objects.length + report.omitted).toBe(100);
    expect(report.omitted).toBeGreaterThan(0);
  });

  it("the report stays out of what Alerts send (Flux's event JSON, a chat message): it is the UI's", () => {
    // Arrange
    const event = {
      involvedObject: {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        namespace: "apps",
        name: "a",
      },
      severity: "info" as const,
      reason: "ReconciliationSucceeded",
      message: "drift corrected:\nConfigMap/apps/settings configured",
      metadata: {},
      reportingController: "kustomize-controller",
      timestamp: "2026-12-02T05:00:00Z",
      drift: driftReport([
        {
          subject: "ConfigMap/apps/settings",
          action: "configured",
          diff: fieldDiff(configMap({ level: "drifted-value" }), configMap({ level: "info" })),
        },
      ]),
    };
    const endpoint = (type: string) => ({ type, url: new URL("https://hooks.example/x"), headers: {} }) as never;
    // Act
    const sent = [
      JSON.stringify(fluxEventJson(event)),
      requestFor(endpoint("generic"), event).body.toString(),
      requestFor(endpoint("slack"), event).body.toString(),
    ];
    // Assert
    for (const body of sent) expect(body).not.toContain("drifted-value");
    expect(sent[0]).toContain("drift corrected");
  });

  it("a report holds only configured objects with a diff", () => {
    // Act
    const report = driftReport([
      { subject: "ConfigMap/apps/a", action: "created" },
      { subject: "ConfigMap/apps/b", action: "unchanged" },
      { subject: "ConfigMap/apps/c", action: "configured", diff: { changes: [{ path: "data.x" }], omitted: 0 } },
    ]);
    // Assert
    expect(report).toEqual({
      objects: [{ subject: "ConfigMap/apps/c", diff: { changes: [{ path: "data.x" }], omitted: 0 } }],
      omitted: 0,
    });
  });
});
