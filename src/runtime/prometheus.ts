import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { collectDefaultMetrics, Counter, exponentialBuckets, Gauge, Histogram, Registry } from "prom-client";
import { RESOURCE_INFO_LABELS, resourceInfoLabels } from "../api/resource-info.js";
import type { Clock } from "../ports/clock.js";
import type { MeasuredObject, QueueObserver, ReconcileMetrics, ReconcileRecord } from "../ports/metrics.js";

// Prometheus metrics with the names and labels Flux's controllers expose, so that Flux's Grafana dashboards
// (fluxcd/flux2-monitoring-example) and alerting rules work on Sluice unchanged:
//   gotk_reconcile_duration_seconds, gotk_reconcile_condition, gotk_suspend_status   fluxcd/pkg runtime/metrics
//   controller_runtime_reconcile_{total,errors_total,time_seconds}, controller_runtime_active_workers,
//   workqueue_{depth,adds_total,queue_duration_seconds,work_duration_seconds,unfinished_work_seconds,
//   longest_running_processor_seconds}                                               controller-runtime v0.24
//   gotk_resource_info                                     kube-state-metrics in Flux (see api/resource-info.ts)
// A controller, in controller-runtime's labels, is the kind in lower case (`kustomization`), as Flux names them.

/** prometheus.ExponentialBucketsRange(min, max, count), which Flux's duration histogram uses. */
export function exponentialBucketsRange(min: number, max: number, count: number): number[] {
  const factor = (max / min) ** (1 / (count - 1));
  return Array.from({ length: count }, (_, i) => min * factor ** i);
}

/** controller-runtime's buckets for controller_runtime_reconcile_time_seconds. */
const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
const CONDITION_TYPES = ["Ready", "Reconciling", "Stalled"];
const CONDITION_STATUSES = ["True", "False", "Unknown"];

export interface PrometheusOptions {
  clock: Clock;
  /**
   * Export each object's state (gotk_resource_info, gotk_reconcile_condition, gotk_suspend_status): the control
   * plane's part, which knows every object. The agent leaves it out, or dashboards would count its Kustomizations
   * twice.
   */
  objectState: boolean;
}

/** The metrics of one process (`sluice run` or the agent), in a registry of its own. */
export class PrometheusMetrics implements ReconcileMetrics, QueueObserver {
  readonly registry = new Registry();
  private readonly duration = new Histogram({
    name: "gotk_reconcile_duration_seconds",
    help: "The duration in seconds of a GitOps Toolkit resource reconciliation.",
    labelNames: ["kind", "name", "namespace"],
    buckets: exponentialBucketsRange(10e-3, 1800, 10),
    registers: [this.registry],
  });
  private readonly conditions = new Gauge({
    name: "gotk_reconcile_condition",
    help: "The current condition status of a GitOps Toolkit resource reconciliation.",
    labelNames: ["kind", "name", "namespace", "type", "status"],
    registers: [this.registry],
  });
  private readonly suspend = new Gauge({
    name: "gotk_suspend_status",
    help: "The current suspend status of a GitOps Toolkit resource.",
    labelNames: ["kind", "name", "namespace"],
    registers: [this.registry],
  });
  private readonly info = new Gauge({
    name: "gotk_resource_info",
    help: "The current state of a Flux resource.",
    labelNames: RESOURCE_INFO_LABELS,
    registers: [this.registry],
  });
  private readonly total = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Total number of reconciliations per controller",
    labelNames: ["controller", "result"],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Total number of reconciliation errors per controller",
    labelNames: ["controller"],
    registers: [this.registry],
  });
  private readonly time = new Histogram({
    name: "controller_runtime_reconcile_time_seconds",
    help: "Length of time per reconciliation per controller",
    labelNames: ["controller"],
    buckets: RECONCILE_TIME_BUCKETS,
    registers: [this.registry],
  });
  private readonly adds = new Counter({
    name: "workqueue_adds_total",
    help: "Total number of adds handled by workqueue",
    labelNames: ["name", "controller"],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: "workqueue_queue_duration_seconds",
    help: "How long in seconds an item stays in workqueue before being requested",
    labelNames: ["name", "controller"],
    buckets: exponentialBuckets(10e-9, 10, 12),
    registers: [this.registry],
  });
  private readonly work = new Histogram({
    name: "workqueue_work_duration_seconds",
    help: "How long in seconds processing an item from workqueue takes.",
    labelNames: ["name", "controller"],
    buckets: exponentialBuckets(10e-9, 10, 12),
    registers: [this.registry],
  });
  /** Due time of each waiting request, by key. */
  private readonly dueAt = new Map<string, number>();
  /** Start of each running request, by key. */
  private readonly runningSince = new Map<string, number>();
  /** What each object's state series say, to skip rewriting them unchanged and to drop the old info series. */
  private readonly stateOf = new Map<string, { fingerprint: string; info: Record<string, string> }>();
  private readonly controllers = new Set<string>();

  constructor(private readonly options: PrometheusOptions) {
    collectDefaultMetrics({ register: this.registry });
    // Gauges read when scraped, from what the queue told.
    const perController = (
      name: string,
      help: string,
      labelNames: string[],
      value: (c: string, now: number) => number,
    ) => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect: () => {
          const now = this.options.clock.now();
          for (const controller of this.controllers)
            gauge.set(
              labelNames.length === 1 ? { controller } : { name: controller, controller },
              value(controller, now),
            );
        },
      });
    };
    const queue = ["name", "controller"];
    perController("workqueue_depth", "Current depth of workqueue", queue, (controller, now) =>
      count(this.dueAt, (key, due) => controllerOf(key) === controller && due <= now),
    );
    perController(
      "workqueue_unfinished_work_seconds",
      "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
      queue,
      (controller, now) => sum(this.running(controller).map((since) => (now - since) / 1000)),
    );
    perController(
      "workqueue_longest_running_processor_seconds",
      "How many seconds has the longest running processor for workqueue been running.",
      queue,
      (controller, now) => Math.max(0, ...this.running(controller).map((since) => (now - since) / 1000)),
    );
    perController(
      "controller_runtime_active_workers",
      "Number of currently used workers per controller",
      ["controller"],
      (controller) => this.running(controller).length,
    );
  }

  reconciled({ object, durationMs, result, removed }: ReconcileRecord): void {
    const ref = { kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace ?? "" };
    const controller = this.controller(object.kind);
    this.total.inc({ controller, result });
    if (result === "error") this.errors.inc({ controller });
    this.time.observe({ controller }, durationMs / 1000);
    // As Flux's Metrics helper: a deleted object's series are dropped rather than recorded.
    if (removed) return this.forget(ref);
    this.duration.observe(ref, durationMs / 1000);
    if (this.options.objectState) this.recordState(ref, object);
  }

  waiting(key: string, dueAt: number): void {
    const controller = this.controller(key.split("/")[0]!);
    if (!this.dueAt.has(key)) this.adds.inc({ name: controller, controller });
    this.dueAt.set(key, dueAt);
  }

  started(key: string): void {
    const now = this.options.clock.now();
    const controller = this.controller(key.split("/")[0]!);
    const due = this.dueAt.get(key) ?? now;
    this.dueAt.delete(key);
    this.latency.observe({ name: controller, controller }, Math.max(0, now - due) / 1000);
    this.runningSince.set(key, now);
  }

  finished(key: string): void {
    const since = this.runningSince.get(key);
    this.runningSince.delete(key);
    if (since === undefined) return;
    const controller = this.controller(key.split("/")[0]!);
    this.work.observe({ name: controller, controller }, (this.options.clock.now() - since) / 1000);
  }

  /** The exposition, in Prometheus' text format. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /** A controller's name; the first time it is seen, its counters start at zero, as controller-runtime's do. */
  private controller(kind: string): string {
    const controller = kind.toLowerCase();
    if (!this.controllers.has(controller)) {
      this.controllers.add(controller);
      for (const result of ["success", "error", "requeue_after"]) this.total.inc({ controller, result }, 0);
      this.errors.inc({ controller }, 0);
    }
    return controller;
  }

  private running(controller: string): number[] {
    return [...this.runningSince].filter(([key]) => controllerOf(key) === controller).map(([, since]) => since);
  }

  /** Rewrites an object's state series when they changed: most reconciles leave them as they were. */
  private recordState(ref: { kind: string; name: string; namespace: string }, object: MeasuredObject): void {
    const conditions = (object.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
    const statuses = CONDITION_TYPES.map((type) => conditions?.find((c) => c.type === type)?.status ?? "Unknown");
    const suspended = (object.spec as { suspend?: unknown } | undefined)?.suspend === true ? 1 : 0;
    const info = resourceInfoLabels(object);
    const fingerprint = JSON.stringify([statuses, suspended, info]);
    const key = refKey(ref);
    const previous = this.stateOf.get(key);
    if (previous?.fingerprint === fingerprint) return;
    CONDITION_TYPES.forEach((type, i) => {
      for (const status of CONDITION_STATUSES)
        this.conditions.set({ ...ref, type, status }, status === statuses[i] ? 1 : 0);
    });
    this.suspend.set(ref, suspended);
    if (previous) this.info.remove(previous.info);
    this.info.set(info, 1);
    this.stateOf.set(key, { fingerprint, info });
  }

  private forget(ref: { kind: string; name: string; namespace: string }): void {
    this.duration.remove(ref);
    this.suspend.remove(ref);
    for (const type of CONDITION_TYPES)
      for (const status of CONDITION_STATUSES) this.conditions.remove({ ...ref, type, status });
    const key = refKey(ref);
    const previous = this.stateOf.get(key);
    if (previous) this.info.remove(previous.info);
    this.stateOf.delete(key);
  }
}

function refKey(ref: { kind: string; name: string; namespace: string }): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

function controllerOf(key: string): string {
  return key.split("/")[0]!.toLowerCase();
}

function count(map: Map<string, number>, keep: (key: string, value: number) => boolean): number {
  let n = 0;
  for (const [key, value] of map) if (keep(key, value)) n++;
  return n;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Answers a scrape: `GET /metrics` with the exposition; false when the request is for something else. */
export function answerScrape(metrics: PrometheusMetrics, request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") return false;
  metrics
    .exposition()
    .then((text) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(text))
    .catch(() => response.writeHead(500).end("metrics unavailable\n"));
  return true;
}

/** `sluice run`'s metrics endpoint: `GET /metrics` at `host:port` (no host: every interface), nothing else. */
export async function startMetricsServer(
  metrics: PrometheusMetrics,
  port: number,
  host?: string,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer({ maxHeaderSize: 16 << 10, requestTimeout: 30_000 }, (request, response) => {
    if (!answerScrape(metrics, request, response)) response.writeHead(404).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  const shown = host === undefined ? "" : host.includes(":") ? `[${host}]` : host;
  return {
    server,
    url: `http://${shown || "localhost"}:${bound}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}
