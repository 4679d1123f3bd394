import { Metrics } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { emfMetrics } from "../../src/runtime/lambda/worker.js";

// The worker's EMF record of a failed reconcile, as CloudWatch would ingest it from stdout.

afterEach(() => vi.restoreAllMocks());

describe("the worker's EMF for a reconcile", () => {
  it("counts a failure in ReconcileErrors, by kind and result and for all kinds, the object as metadata only", () => {
    // Arrange
    const lines: string[] = [];
    const warnings: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(chunk.toString());
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      warnings.push(chunk.toString());
      return true;
    });
    const metrics = new Metrics({ namespace: "Sluice", serviceName: "sluice-worker" });
    // Act
    emfMetrics(metrics).reconciled({
      object: {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata: { name: "app", namespace: "team-a" },
      },
      durationMs: 1234,
      result: "error",
    });
    metrics.publishStoredMetrics();
    // Assess
    const records = lines.filter((l) => l.startsWith('{"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      service: "sluice-worker",
      kind: "GitRepository",
      result: "error",
      name: "app",
      namespace: "team-a",
      Reconciles: 1,
      ReconcileErrors: 1,
      ReconcileDuration: 1234,
    });
    const directive = (records[0]!._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] })
      .CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe("Sluice");
    // name and namespace never become dimensions: a metric per object would be billed per object.
    expect(directive.Dimensions).toEqual([["service", "kind", "result"], ["service"]]);
    // Powertools warns on every record when a key sits in two dimension sets; this shape draws no warning.
    expect([...lines, ...warnings].join("")).not.toContain("is defined as both");
  });
});
