import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ASSUMPTIONS,
  DEFAULT_FLEET,
  distinctMetrics,
  fleetFromFlags,
  fleetMetrics,
  fluxFootprint,
  FUNCTION_MEMORY_MB,
  MONTH_HOURS,
  monthlyCost,
  monthlyOperations,
  total,
  type Fleet,
  type LineItem,
  type Measured,
  type OperationCost,
} from "../../bench/aws-cost-model.js";
import { prices } from "../../bench/aws-prices.js";

const operation = (ms: number, requests: Record<string, number> = {}, logBytes = 0, putBytes = 0): OperationCost => ({
  ms,
  requests,
  logBytes,
  putBytes,
});
const nothing = operation(0);
/** Every figure zero, so each test sets only what it checks. */
const zero: Measured = {
  measuredOn: "2026-12-02",
  machine: "test",
  iterations: 1,
  worker: {
    gitNoop: nothing,
    gitNewCommit: nothing,
    kustomizationNoop: nothing,
    kustomizationApply: nothing,
    helmRepositoryNoop: nothing,
    helmChartNoop: nothing,
    helmReleaseNoop: nothing,
  },
  tickIdle: nothing,
  tickPerDue: nothing,
  tickPerDelayed: nothing,
  webhook: nothing,
  customMetrics: { shared: 0, byKind: {} },
  storeObjectBytes: 0,
  artifactBytes: 0,
  initMs: { worker: 0, tick: 0, webhook: 0 },
};
const fleet = (overrides: Partial<Fleet>): Fleet => ({ ...DEFAULT_FLEET, coldStartsPerDay: 0, ...overrides });
const line = (items: LineItem[], item: string | RegExp) => {
  const found = items.find((i) => (typeof item === "string" ? i.item === item : item.test(i.item)));
  if (!found) throw new Error(`no line item ${String(item)}`);
  return found;
};
const MONTH_MINUTES = MONTH_HOURS * 60;

describe("AWS monthly cost model (bench/aws-cost-model.ts)", () => {
  it("counts a month of interval reconciles, pushes and ticks", () => {
    const counts = monthlyOperations(
      fleet({ kustomizations: 100, gitRepositories: 10, intervalMinutes: 10, pushesPerDay: 24 }),
    );
    expect(counts.gitNoop).toBe(10 * 4380);
    expect(counts.kustomizationNoop).toBe(100 * 4380);
    expect(counts.gitNewCommit).toBeCloseTo(24 * (MONTH_HOURS / 24));
    // Each push changes the ten Kustomizations its repository feeds.
    expect(counts.kustomizationApply).toBeCloseTo(730 * 10);
    expect(counts.webhook).toBeCloseTo(730);
    expect(counts.tickIdle).toBe(MONTH_MINUTES);
    // A 10-minute requeue goes through the Delayed queue, never the S3 due index.
    expect(counts.tickPerDelayed).toBe(110 * 4380);
    expect(counts.tickPerDue).toBe(0);
  });

  it("counts each HelmRelease's own, its HelmChart's and its HelmRepository's interval reconciles", () => {
    const counts = monthlyOperations(
      fleet({ kustomizations: 0, gitRepositories: 0, helmReleases: 50, helmRepositories: 2 }),
    );
    expect(counts.helmReleaseNoop).toBe(50 * 4380);
    expect(counts.helmChartNoop).toBe(50 * 4380);
    expect(counts.helmRepositoryNoop).toBe(2 * 4380);
    expect(counts.tickPerDelayed).toBe(102 * 4380);
    expect(fleetFromFlags({ "helm-releases": "50" }).helmRepositories).toBe(1);
  });

  it("sends requeues beyond SQS's 15-minute delay through the due index", () => {
    const counts = monthlyOperations(fleet({ kustomizations: 5, gitRepositories: 5, intervalMinutes: 60 }));
    expect(counts.tickPerDue).toBe(10 * 730);
    expect(counts.tickPerDelayed).toBe(0);
  });

  it("bills the worker's GB-seconds at 2 GiB, rounded up to the millisecond per reconcile", () => {
    const measured = { ...zero, worker: { ...zero.worker, kustomizationNoop: operation(99.2) } };
    const items = monthlyCost(fleet({ kustomizations: 1, gitRepositories: 0 }), measured, prices);
    const gbS = line(items, "worker duration (GB-s)");
    expect(gbS.quantity).toBeCloseTo(4380 * 0.1 * 2); // 100 ms × 2 GB each
    expect(gbS.monthlyUsd).toBeCloseTo(876 * 0.0000166667);
  });

  it("scales durations by --duration-factor and bills cold starts at each function's memory", () => {
    const measured = {
      ...zero,
      worker: { ...zero.worker, gitNoop: operation(10) },
      initMs: { worker: 500, tick: 300, webhook: 200 },
    };
    const items = monthlyCost(
      fleet({ kustomizations: 0, gitRepositories: 1, durationFactor: 3, coldStartsPerDay: 2 }),
      measured,
      prices,
    );
    expect(line(items, "worker duration (GB-s)").quantity).toBeCloseTo(4380 * 0.03 * 2);
    // No pushes: the webhook never starts, so only the worker and the tick pay INIT.
    const days = MONTH_HOURS / 24;
    expect(line(items, /^cold-start INIT/).quantity).toBeCloseTo(2 * days * (0.5 * 2 + 0.3 * 1));
  });

  it("prices S3 requests by class, SQS per queue type, and DELETE as free", () => {
    const measured = {
      ...zero,
      worker: {
        ...zero.worker,
        kustomizationNoop: operation(1, {
          "S3:GetObject": 3,
          "S3:HeadObject": 1,
          "S3:PutObject": 2,
          "S3:ListObjectsV2": 1,
          "S3:DeleteObjects": 5,
          "SQS:SendMessage": 1,
          "SQS-FIFO:SendMessageBatch": 2,
          "SecretsManager:GetSecretValue": 1,
          "KMS:Decrypt": 1,
        }),
      },
    };
    const n = 4380;
    const items = monthlyCost(fleet({ kustomizations: 1, gitRepositories: 0 }), measured, prices);
    expect(line(items, "PUT/COPY/POST/LIST requests").quantity).toBe(3 * n);
    expect(line(items, "GET and other requests").quantity).toBe(4 * n);
    expect(line(items, "standard requests sent by the functions").quantity).toBe(n);
    expect(line(items, "FIFO requests sent by the functions").quantity).toBe(2 * n);
    expect(line(items, "API calls").monthlyUsd).toBeCloseTo((n * 0.05) / 10_000);
    expect(line(items, "requests by the functions").quantity).toBe(n);
    // The event sources: Jobs receive + delete per reconcile (batch of 1), the Delayed queue per forwarded requeue.
    expect(line(items, "FIFO receive + delete by the worker's event source").quantity).toBe(2 * n);
    expect(line(items, "standard receive + delete by the tick's event source").quantity).toBe(2 * n);
  });

  it("adds the fixed floor: idle polling, the KMS key, alarms, the dashboard, metrics and secrets", () => {
    const items = monthlyCost(
      fleet({ kustomizations: 0, gitRepositories: 0, secrets: 3 }),
      { ...zero, customMetrics: { shared: 9, byKind: { Kustomization: 4, HelmRelease: 5 } } },
      prices,
    );
    const polls = ASSUMPTIONS.idleReceivesPerMinutePerEventSource * MONTH_MINUTES;
    expect(line(items, /^idle long polls, Jobs/).monthlyUsd).toBeCloseTo(2 * polls * 0.5e-6);
    expect(line(items, /^idle long polls, Delayed/).monthlyUsd).toBeCloseTo(polls * 0.4e-6);
    expect(line(items, "custom metrics (EMF)").monthlyUsd).toBeCloseTo(2.7);
    expect(line(items, "secrets").monthlyUsd).toBeCloseTo(1.2);
    expect(line(items, "dashboard").monthlyUsd).toBe(3);
    expect(line(items, "alarms").monthlyUsd).toBeCloseTo(0.4);
    expect(line(items, "customer managed key (State bucket, queues)").monthlyUsd).toBe(1);
    expect(line(items, "scheduled events (every minute)").monthlyUsd).toBe(0);
    expect(total(items)).toBeCloseTo(items.reduce((n, i) => n + i.monthlyUsd, 0));
    // With no objects, only the per-minute tick's invocations and their platform log lines cost beyond the fixed lines.
    const fixed = items.filter((i) => i.fixed);
    expect(fixed.map((i) => i.service).sort()).toEqual(
      ["CloudWatch", "CloudWatch", "CloudWatch", "KMS", "KMS", "SQS", "SQS", "Secrets Manager"].sort(),
    );
    expect(items.filter((i) => !i.fixed && i.monthlyUsd > 0).map((i) => i.item)).toEqual([
      "requests (invocations)",
      "Logs ingestion (GB)",
    ]);
    expect(line(items, "requests (invocations)").quantity).toBe(MONTH_MINUTES);
  });

  it("keeps a month of overwritten versions in S3 storage and ingests every log byte", () => {
    const measured = {
      ...zero,
      worker: { ...zero.worker, gitNoop: operation(1, {}, 1024, 2048) },
      storeObjectBytes: 4096,
      artifactBytes: 1 << 20,
    };
    const items = monthlyCost(fleet({ kustomizations: 0, gitRepositories: 10 }), measured, prices);
    const GB = 1024 ** 3;
    const reconciles = 10 * 4380;
    expect(line(items, /^storage/).quantity).toBeCloseTo((10 * 4096 + 10 * (1 << 20) + reconciles * 2048) / GB);
    const invocations = reconciles + MONTH_MINUTES + reconciles; // worker, scheduled ticks, Delayed batches of 1
    expect(line(items, "Logs ingestion (GB)").quantity).toBeCloseTo(
      (reconciles * 1024 + invocations * ASSUMPTIONS.platformLogBytesPerInvocation) / GB,
    );
  });

  it("prices Flux's four controllers on the smallest Fargate size and on a t3.small", () => {
    const flux = fluxFootprint(prices);
    expect(total(flux.fargate)).toBeCloseTo(4 * (0.25 * 0.04048 + 0.5 * 0.004445) * 730);
    expect(total(flux.ec2)).toBeCloseTo(0.0208 * 730 + 20 * 0.08);
    expect(flux.eksControlPlane.monthlyUsd).toBeCloseTo(73);
  });

  it("uses the memory sizes infra/stack.ts gives the functions", async () => {
    const stack = await readFile(join(import.meta.dirname, "../../infra/stack.ts"), "utf8");
    const defaultMb = Number(/memorySize: (\d+),\n\s+environment,/.exec(stack)?.[1]);
    const worker = Number(/fn\("Worker", \{[^}]*memorySize: (\d+)/.exec(stack)?.[1]);
    expect(FUNCTION_MEMORY_MB.worker).toBe(worker);
    expect(stack).toMatch(/fn\("Tick", \{ timeout: TICK_TIMEOUT \}\)/);
    expect(stack).toMatch(/fn\("Webhook", \{ timeout: Duration\.seconds\(10\) \}\)/);
    expect(FUNCTION_MEMORY_MB.tick).toBe(defaultMb);
    expect(FUNCTION_MEMORY_MB.webhook).toBe(defaultMb);
  });

  it("counts each metric once per dimension values, as CloudWatch bills them", () => {
    const record = (kind: string) => ({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: "Sluice",
            Dimensions: [["service", "kind", "result"], ["service"]],
            Metrics: [{ Name: "Reconciles" }, { Name: "ReconcileDuration" }],
          },
        ],
      },
      service: "sluice-worker",
      kind,
      result: "success",
    });
    // Two kinds: 2 metrics × (2 kind sets + the one without kind) = 6; a repeat adds none.
    const metrics = distinctMetrics([record("GitRepository"), record("Kustomization"), record("Kustomization")]);
    expect(metrics).toEqual({ shared: 2, byKind: { GitRepository: 2, Kustomization: 2 } });
    // A fleet pays for the kinds it has.
    expect(fleetMetrics(fleet({ kustomizations: 5, gitRepositories: 0 }), metrics)).toBe(4);
    expect(fleetMetrics(fleet({ kustomizations: 5, gitRepositories: 5 }), metrics)).toBe(6);
  });

  it("refuses flags an attacker or a typo would give, naming the flag", () => {
    expect(fleetFromFlags({})).toEqual({ ...DEFAULT_FLEET });
    expect(fleetFromFlags({ kustomizations: "250" }).gitRepositories).toBe(250);
    expect(fleetFromFlags({ interval: "1h30m" }).intervalMinutes).toBe(90);
    expect(() => fleetFromFlags({ kustomizations: "-1" })).toThrow(/--kustomizations must be a number ≥ 0, not '-1'/);
    expect(() => fleetFromFlags({ "pushes-per-day": "1e400" })).toThrow(/--pushes-per-day/);
    expect(() => fleetFromFlags({ secrets: "" })).toThrow(/--secrets/);
    expect(() => fleetFromFlags({ "batch-size": "0" })).toThrow(/--batch-size must be a number ≥ 1/);
    expect(() => fleetFromFlags({ interval: "30s" })).toThrow(/--interval must be at least 1m/);
    expect(() => fleetFromFlags({ interval: "ten minutes" })).toThrow(/not a duration/);
  });
});
