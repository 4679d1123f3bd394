import { parseDuration } from "../src/api/duration.js";
import type { Price, Prices } from "./aws-prices.js";

// What Sluice's serverless shape costs a month, from measured figures (bench/aws-cost-measure.ts) and AWS's prices
// (bench/aws-prices.ts). Pure: the unit test checks the sums. A month is AWS's 730 hours.

export const MONTH_HOURS = 730;
const MONTH_MINUTES = MONTH_HOURS * 60;
const MONTH_DAYS = MONTH_HOURS / 24;
const GB = 1024 ** 3;

/** Each function's memory (MB), as infra/stack.ts configures it (the unit test reads them from there). */
export const FUNCTION_MEMORY_MB = { worker: 2048, tick: 1024, webhook: 1024 } as const;
/** The event sources' batch size (infra/stack.ts): at most this many messages per invocation. */
export const EVENT_SOURCE_BATCH = 10;
/** SQS's longest per-message delay: a requeue within it goes through the Delayed queue, a later one the due index. */
const MAX_DELAY_MINUTES = 15;

/** One operation, measured: median wall time and, per operation, the AWS requests and bytes it caused. */
export interface OperationCost {
  ms: number;
  /** Billable requests by "Service:Operation" (SQS counted per 64 KiB chunk; "SQS-FIFO:" for FIFO queues). */
  requests: Record<string, number>;
  /** Bytes written to stdout (structured logs and EMF): what CloudWatch Logs ingests. */
  logBytes: number;
  /** Bytes written to S3 (the bucket is versioned: each overwrite keeps its predecessor 30 days). */
  putBytes: number;
}

export const WORKER_OPERATIONS = [
  "gitNoop",
  "gitNewCommit",
  "kustomizationNoop",
  "kustomizationApply",
  "helmRepositoryNoop",
  "helmChartNoop",
  "helmReleaseNoop",
] as const;
export type WorkerOperation = (typeof WORKER_OPERATIONS)[number];

export interface Measured {
  measuredOn: string;
  machine: string;
  iterations: number;
  worker: Record<WorkerOperation, OperationCost>;
  /** The scheduled tick (every minute) with nothing due. */
  tickIdle: OperationCost;
  /** Per request due in the S3 due index (requeues beyond 15 minutes), over an idle tick. */
  tickPerDue: OperationCost;
  /** Per delayed requeue the tick forwards from the Delayed queue (requeues within 15 minutes). */
  tickPerDelayed: OperationCost;
  /** One accepted Receiver delivery. */
  webhook: OperationCost;
  /** Distinct CloudWatch metrics (name × dimension values) the EMF records of the run define. */
  customMetrics: MetricCount;
  /** Mean size of a Store object in S3, and of a GitRepository's artifact. */
  storeObjectBytes: number;
  artifactBytes: number;
  /** A cold start's INIT (process start + import of the function's bundle), from bench/coldstart. */
  initMs: Record<keyof typeof FUNCTION_MEMORY_MB, number>;
}

/** CloudWatch metrics by the kind they count (a `kind` dimension), and those for no one kind. */
export interface MetricCount {
  shared: number;
  byKind: Record<string, number>;
}

export interface Fleet {
  kustomizations: number;
  /** GitRepositories; each push lands on one of them and changes the Kustomizations it feeds. */
  gitRepositories: number;
  /** HelmReleases (each with its HelmChart) and the HelmRepositories they install from. */
  helmReleases: number;
  helmRepositories: number;
  intervalMinutes: number;
  /** Pushes a day across the fleet, each announced by a Receiver webhook. */
  pushesPerDay: number;
  /** Secrets Manager secrets (Git credentials, a kubeconfig). */
  secrets: number;
  /** Cold starts a day of each function in use (Lambda does not publish how long it keeps an environment). */
  coldStartsPerDay: number;
  /** Messages per worker and Delayed-queue invocation (1 = the worst case; the event sources take up to 10). */
  batchSize: number;
  /** Multiplies every measured duration (moto answers on loopback; S3 and SQS take longer). */
  durationFactor: number;
}

export const DEFAULT_FLEET: Fleet = {
  kustomizations: 100,
  gitRepositories: 100,
  helmReleases: 0,
  helmRepositories: 0,
  intervalMinutes: 10,
  pushesPerDay: 0,
  secrets: 1,
  coldStartsPerDay: 24,
  batchSize: 1,
  durationFactor: 1,
};

/**
 * Assumptions no measurement here gives, each printed with the table. Idle polling: Lambda's SQS event source
 * long-polls (20 s) with five pollers, about 15 empty receives a minute per queue (getlift/lift#132); SQS with a
 * KMS key asks KMS for a data key once per reuse period (300 s by default) per queue and principal; Lambda writes
 * START/END/REPORT lines per invocation.
 */
export const ASSUMPTIONS = {
  idleReceivesPerMinutePerEventSource: 15,
  /** Jobs (webhook, tick, worker, its event source), Delayed (worker, tick), Notifications (worker, notify). */
  kmsQueuePrincipalPairs: 8,
  /** The State bucket's S3 Bucket Key, per function role. */
  kmsBucketKeyPrincipals: 4,
  kmsDataKeysPerHourPerPair: 12,
  platformLogBytesPerInvocation: 600,
  /** FailingReconciles and the three dead-letter alarms (infra/stack.ts, infra/monitoring.ts). */
  alarms: 4,
  dashboards: 1,
} as const;

export interface LineItem {
  service: string;
  item: string;
  quantity: number;
  price: Price;
  monthlyUsd: number;
  /** Paid whatever the fleet's size and activity. */
  fixed?: boolean;
}

/** The fleet from command-line flags (absent ones take the defaults; GitRepositories default to one each). */
export function fleetFromFlags(flags: Partial<Record<FleetFlag, string>>): Fleet {
  const number = (flag: FleetFlag, fallback: number, min = 0) => {
    const text = flags[flag];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value) || value < min)
      throw new Error(`--${flag} must be a number ≥ ${min}, not '${text}'`);
    return value;
  };
  const kustomizations = number("kustomizations", DEFAULT_FLEET.kustomizations);
  const helmReleases = number("helm-releases", DEFAULT_FLEET.helmReleases);
  const intervalMs =
    flags.interval === undefined ? DEFAULT_FLEET.intervalMinutes * 60_000 : parseDuration(flags.interval);
  // The tick runs once a minute: a shorter interval cannot be honoured.
  if (intervalMs < 60_000) throw new Error(`--interval must be at least 1m, not '${flags.interval}'`);
  return {
    kustomizations,
    gitRepositories: number("git-repositories", kustomizations),
    helmReleases,
    helmRepositories: number("helm-repositories", Math.min(helmReleases, 1)),
    intervalMinutes: intervalMs / 60_000,
    pushesPerDay: number("pushes-per-day", DEFAULT_FLEET.pushesPerDay),
    secrets: number("secrets", DEFAULT_FLEET.secrets),
    coldStartsPerDay: number("cold-starts-per-day", DEFAULT_FLEET.coldStartsPerDay),
    batchSize: number("batch-size", DEFAULT_FLEET.batchSize, 1),
    durationFactor: number("duration-factor", DEFAULT_FLEET.durationFactor),
  };
}

export const FLEET_FLAGS = [
  "kustomizations",
  "git-repositories",
  "helm-releases",
  "helm-repositories",
  "interval",
  "pushes-per-day",
  "secrets",
  "cold-starts-per-day",
  "batch-size",
  "duration-factor",
] as const;
export type FleetFlag = (typeof FLEET_FLAGS)[number];

/** How many of each operation a month brings. */
export function monthlyOperations(fleet: Fleet): Record<WorkerOperation, number> & {
  tickIdle: number;
  tickPerDue: number;
  tickPerDelayed: number;
  webhook: number;
} {
  const intervals = MONTH_MINUTES / fleet.intervalMinutes;
  const pushes = fleet.pushesPerDay * MONTH_DAYS;
  const kustomizationsPerRepository = fleet.gitRepositories > 0 ? fleet.kustomizations / fleet.gitRepositories : 0;
  // Every reconcile requeues itself one interval on; pushes add reconciles without removing interval ones.
  const objects = fleet.kustomizations + fleet.gitRepositories + 2 * fleet.helmReleases + fleet.helmRepositories;
  const scheduled = objects * intervals;
  const delayed = fleet.intervalMinutes <= MAX_DELAY_MINUTES;
  return {
    gitNoop: fleet.gitRepositories * intervals,
    gitNewCommit: pushes,
    kustomizationNoop: fleet.kustomizations * intervals,
    kustomizationApply: pushes * kustomizationsPerRepository,
    helmRepositoryNoop: fleet.helmRepositories * intervals,
    helmChartNoop: fleet.helmReleases * intervals,
    helmReleaseNoop: fleet.helmReleases * intervals,
    tickIdle: MONTH_MINUTES,
    tickPerDue: delayed ? 0 : scheduled,
    tickPerDelayed: delayed ? scheduled : 0,
    webhook: pushes,
  };
}

/** The month's line items for a fleet, from measured figures and prices. */
export function monthlyCost(fleet: Fleet, measured: Measured, prices: Prices): LineItem[] {
  const counts = monthlyOperations(fleet);
  const items: LineItem[] = [];
  const add = (service: string, item: string, quantity: number, price: Price, fixed = false) =>
    items.push({ service, item, quantity, price, monthlyUsd: quantity * price.usd, ...(fixed && { fixed }) });

  // Lambda: billed per 1 ms of each invocation at the function's memory; a cold start's INIT is billed too.
  const gbSeconds = (operation: OperationCost, memoryMb: number, n: number) =>
    (n * Math.ceil(operation.ms * fleet.durationFactor) * memoryMb) / 1024 / 1000;
  const workerMessages = WORKER_OPERATIONS.reduce((n, op) => n + counts[op], 0);
  const workerGbS = WORKER_OPERATIONS.reduce(
    (sum, op) => sum + gbSeconds(measured.worker[op], FUNCTION_MEMORY_MB.worker, counts[op]),
    0,
  );
  const tickGbS =
    gbSeconds(measured.tickIdle, FUNCTION_MEMORY_MB.tick, counts.tickIdle) +
    gbSeconds(measured.tickPerDue, FUNCTION_MEMORY_MB.tick, counts.tickPerDue) +
    gbSeconds(measured.tickPerDelayed, FUNCTION_MEMORY_MB.tick, counts.tickPerDelayed);
  const webhookGbS = gbSeconds(measured.webhook, FUNCTION_MEMORY_MB.webhook, counts.webhook);
  add("Lambda", "worker duration (GB-s)", workerGbS, prices.lambdaGbSecond);
  add("Lambda", "tick duration (GB-s)", tickGbS, prices.lambdaGbSecond);
  add("Lambda", "webhook duration (GB-s)", webhookGbS, prices.lambdaGbSecond);
  const inUse = { worker: workerMessages > 0, tick: true, webhook: counts.webhook > 0 };
  const initGbS = (Object.keys(FUNCTION_MEMORY_MB) as (keyof typeof FUNCTION_MEMORY_MB)[])
    .filter((fn) => inUse[fn])
    .reduce(
      (sum, fn) => sum + (fleet.coldStartsPerDay * MONTH_DAYS * measured.initMs[fn] * FUNCTION_MEMORY_MB[fn]) / 1024e3,
      0,
    );
  add("Lambda", `cold-start INIT (GB-s, ${fleet.coldStartsPerDay} a day per function)`, initGbS, prices.lambdaGbSecond);
  const invocations = {
    worker: workerMessages / fleet.batchSize,
    tick: counts.tickIdle + counts.tickPerDelayed / fleet.batchSize,
    webhook: counts.webhook,
  };
  const allInvocations = invocations.worker + invocations.tick + invocations.webhook;
  add("Lambda", "requests (invocations)", allInvocations, prices.lambdaRequest);

  // The requests each measured operation made, by operation, for the month.
  const requests: Record<string, number> = {};
  const count = (operation: OperationCost, n: number) => {
    for (const [name, perOperation] of Object.entries(operation.requests))
      requests[name] = (requests[name] ?? 0) + perOperation * n;
  };
  for (const op of WORKER_OPERATIONS) count(measured.worker[op], counts[op]);
  count(measured.tickIdle, counts.tickIdle);
  count(measured.tickPerDue, counts.tickPerDue);
  count(measured.tickPerDelayed, counts.tickPerDelayed);
  count(measured.webhook, counts.webhook);
  const sum = (pattern: RegExp) =>
    Object.entries(requests)
      .filter(([name]) => pattern.test(name))
      .reduce((n, [, v]) => n + v, 0);

  // SQS: what the functions send, plus what Lambda's event sources receive and delete for them, plus idle polling.
  const eventSourceFifo = (2 * workerMessages) / fleet.batchSize;
  const eventSourceStandard = (2 * counts.tickPerDelayed) / fleet.batchSize;
  const idlePolls = ASSUMPTIONS.idleReceivesPerMinutePerEventSource * MONTH_MINUTES;
  add("SQS", "FIFO requests sent by the functions", sum(/^SQS-FIFO:/), prices.sqsFifoRequest);
  add("SQS", "standard requests sent by the functions", sum(/^SQS:/), prices.sqsStandardRequest);
  add("SQS", "FIFO receive + delete by the worker's event source", eventSourceFifo, prices.sqsFifoRequest);
  add("SQS", "standard receive + delete by the tick's event source", eventSourceStandard, prices.sqsStandardRequest);
  add("SQS", "idle long polls, Jobs + Notifications (FIFO, assumption)", 2 * idlePolls, prices.sqsFifoRequest, true);
  add("SQS", "idle long polls, Delayed (standard, assumption)", idlePolls, prices.sqsStandardRequest, true);

  // S3: requests by price class; storage is the Store and artifacts, plus a month of overwritten versions.
  add("S3", "PUT/COPY/POST/LIST requests", sum(/^S3:(Put|Copy|Post|List)/), prices.s3PutClassRequest);
  add("S3", "GET and other requests", sum(/^S3:(?!Put|Copy|Post|List|Delete)/), prices.s3GetClassRequest);
  const putBytes =
    WORKER_OPERATIONS.reduce((n, op) => n + measured.worker[op].putBytes * counts[op], 0) +
    measured.tickIdle.putBytes * counts.tickIdle +
    measured.tickPerDue.putBytes * counts.tickPerDue +
    measured.tickPerDelayed.putBytes * counts.tickPerDelayed +
    measured.webhook.putBytes * counts.webhook;
  const liveBytes =
    (fleet.kustomizations + fleet.gitRepositories + 2 * fleet.helmReleases + fleet.helmRepositories) *
      measured.storeObjectBytes +
    fleet.gitRepositories * measured.artifactBytes;
  add(
    "S3",
    "storage (GB-month: live objects + 30 days of versions)",
    (liveBytes + putBytes) / GB,
    prices.s3StorageGbMonth,
  );

  add("Secrets Manager", "secrets", fleet.secrets, prices.secretMonth, true);
  add("Secrets Manager", "API calls", sum(/^SecretsManager:/), prices.secretsManagerCall);

  add("KMS", "customer managed key (State bucket, queues)", 1, prices.kmsKeyMonth, true);
  const sseDataKeys =
    (ASSUMPTIONS.kmsQueuePrincipalPairs + ASSUMPTIONS.kmsBucketKeyPrincipals) *
    ASSUMPTIONS.kmsDataKeysPerHourPerPair *
    MONTH_HOURS;
  add("KMS", "requests by the functions", sum(/^KMS:/), prices.kmsRequest);
  add("KMS", "SSE data keys for SQS and S3 (assumption)", sseDataKeys, prices.kmsRequest, true);

  add("EventBridge", "scheduled events (every minute)", counts.tickIdle, prices.eventBridgeScheduledEvent);

  const logBytes =
    WORKER_OPERATIONS.reduce((n, op) => n + measured.worker[op].logBytes * counts[op], 0) +
    measured.tickIdle.logBytes * counts.tickIdle +
    measured.tickPerDue.logBytes * counts.tickPerDue +
    measured.tickPerDelayed.logBytes * counts.tickPerDelayed +
    measured.webhook.logBytes * counts.webhook +
    ASSUMPTIONS.platformLogBytesPerInvocation * allInvocations;
  add("CloudWatch", "Logs ingestion (GB)", logBytes / GB, prices.logsIngestionGb);
  add(
    "CloudWatch",
    "custom metrics (EMF)",
    fleetMetrics(fleet, measured.customMetrics),
    prices.customMetricMonth,
    true,
  );
  add("CloudWatch", "alarms", ASSUMPTIONS.alarms, prices.alarmMonth, true);
  add("CloudWatch", "dashboard", ASSUMPTIONS.dashboards, prices.dashboardMonth, true);
  return items;
}

/**
 * Distinct metrics (namespace, name, dimension values) the EMF records define, which CloudWatch bills a month each:
 * those with a `kind` dimension by kind, and the rest (for all kinds, the tick's) as shared.
 */
export function distinctMetrics(records: Record<string, unknown>[]): MetricCount {
  const seen = new Map<string, string | undefined>();
  for (const record of records) {
    const aws = record._aws as {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
    };
    for (const directive of aws.CloudWatchMetrics)
      for (const dimensions of directive.Dimensions)
        for (const metric of directive.Metrics)
          seen.set(
            [directive.Namespace, metric.Name, ...dimensions.map((d) => `${d}=${String(record[d])}`)].join("|"),
            dimensions.includes("kind") ? String(record.kind) : undefined,
          );
  }
  const byKind: Record<string, number> = {};
  let shared = 0;
  for (const kind of seen.values()) {
    if (kind === undefined) shared++;
    else byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { shared, byKind };
}

/** The custom metrics a fleet defines: the shared ones, and each kind's when the fleet has that kind. */
export function fleetMetrics(fleet: Fleet, metrics: MetricCount): number {
  const present: Record<string, boolean> = {
    GitRepository: fleet.gitRepositories > 0,
    Kustomization: fleet.kustomizations > 0,
    HelmRepository: fleet.helmRepositories > 0,
    HelmChart: fleet.helmReleases > 0,
    HelmRelease: fleet.helmReleases > 0,
    Receiver: fleet.pushesPerDay > 0,
  };
  return (
    metrics.shared + Object.entries(metrics.byKind).reduce((n, [kind, count]) => n + (present[kind] ? count : 0), 0)
  );
}

export function total(items: LineItem[]): number {
  return items.reduce((n, item) => n + item.monthlyUsd, 0);
}

/**
 * Flux's four controllers (source, kustomize, helm, notification) as their deployments request them (v1.9.4,
 * v1.9.4, v1.6.3, v1.9.3: config/manager/deployment.yaml; flux2 v2.9.5 installs those deployments): 50m / 100m /
 * 100m / 100m CPU and 64 MiB each, limits 1 CPU and 1 GiB each.
 */
export const FLUX_CONTROLLERS = [
  { name: "source-controller", cpuRequest: 0.05, memoryRequestMiB: 64 },
  { name: "kustomize-controller", cpuRequest: 0.1, memoryRequestMiB: 64 },
  { name: "helm-controller", cpuRequest: 0.1, memoryRequestMiB: 64 },
  { name: "notification-controller", cpuRequest: 0.1, memoryRequestMiB: 64 },
] as const;

/** The smallest Fargate pod size (0.25 vCPU, 0.5 GB): each controller's requests plus Fargate's 256 MB fit in it. */
const FARGATE_SMALLEST = { vcpu: 0.25, gb: 0.5 };

/**
 * The smallest always-on capacity that runs Flux's controllers in the cluster they deploy to: one Fargate pod each
 * at the smallest size, or one t3.small node (2 vCPU, 2 GiB: the four requests, 350m and 256 MiB, plus the node's
 * own pods) with a 20 GB root volume. The cluster itself is the same one Sluice applies to, so its control plane is
 * left out of both sides (listed apart, for a dedicated management cluster).
 */
export function fluxFootprint(prices: Prices): { fargate: LineItem[]; ec2: LineItem[]; eksControlPlane: LineItem } {
  const pods = FLUX_CONTROLLERS.length;
  const item = (service: string, name: string, quantity: number, price: Price): LineItem => ({
    service,
    item: name,
    quantity,
    price,
    monthlyUsd: quantity * price.usd,
  });
  return {
    fargate: [
      item(
        "Fargate",
        `${pods} pods × 0.25 vCPU (vCPU-hours)`,
        pods * FARGATE_SMALLEST.vcpu * MONTH_HOURS,
        prices.fargateVcpuHour,
      ),
      item(
        "Fargate",
        `${pods} pods × 0.5 GB (GB-hours)`,
        pods * FARGATE_SMALLEST.gb * MONTH_HOURS,
        prices.fargateGbHour,
      ),
    ],
    ec2: [
      item("EC2", "t3.small node (hours)", MONTH_HOURS, prices.ec2T3SmallHour),
      item("EBS", "20 GB gp3 root volume (GB-month)", 20, prices.ebsGp3GbMonth),
    ],
    eksControlPlane: item(
      "EKS",
      "control plane (hours), only for a dedicated cluster",
      MONTH_HOURS,
      prices.eksClusterHour,
    ),
  };
}
