import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { systemClock } from "../../src/ports/clock.js";
import { startLocal, type LocalControlPlane } from "../../src/runtime/local.js";
import { exponentialBucketsRange, PrometheusMetrics, startMetricsServer } from "../../src/runtime/prometheus.js";
import { applyToStore, requestDeletion } from "../../src/store/objects.js";
import { configMap } from "../apply/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { freshNamespace } from "../env/kube-client.js";
import { ready, storedStatus, until } from "../controllers/helpers.js";
import { parseExposition, sample, type Sample } from "./exposition.js";

// `sluice run`'s /metrics, scraped over HTTP after real reconciles against kube-apiserver: the names, labels and
// buckets Flux's controllers and its kube-state-metrics configuration give, so Flux's dashboards work unchanged.

const { kube, git } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };
let plane: LocalControlPlane;
let scrapeUrl: string;
let closeServer: () => Promise<void>;

const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
  const response = await fetch(scrapeUrl);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  const text = await response.text();
  return { text, samples: parseExposition(text) };
};
const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  sample(samples, name, labels)?.value ?? 0;

beforeAll(async () => {
  ns = await freshNamespace(kube, "metrics");
  const metrics = new PrometheusMetrics({ clock: systemClock, objectState: true });
  plane = await startLocal({
    stateDir: await mkdtemp(join(tmpdir(), "sluice-metrics-")),
    kubeconfig: kube.kubeconfig,
    clock: systemClock,
    log: pino({ level: "silent" }),
    settings: { healthPollMs: 200 },
    watchIntervalMs: 200,
    metrics,
  });
  const server = await startMetricsServer(metrics, 0, "127.0.0.1");
  scrapeUrl = server.url;
  closeServer = server.close;
  await plane.cluster.client.send({
    method: "POST",
    path: `/api/v1/namespaces/${ns.name}/secrets`,
    body: { metadata: { name: "git-auth" }, stringData: { username: git.username, password: git.password } },
  });
});

afterAll(async () => {
  await closeServer?.();
  await plane?.stop();
  await ns?.remove();
});

describe(`sluice run's /metrics after reconciles against kube-apiserver ${kube.version}`, () => {
  it("exposes Flux's reconcile duration, resource info, controller-runtime counters and workqueue figures", async () => {
    // Arrange: a Git source and two Kustomizations, one of which fails (its path is not in the repo).
    const url = await createRepo(git, `${ns.name}-fleet`);
    const sha = await pushTree(git, `${ns.name}-fleet`, {
      files: { "deploy/cm.yaml": stringify(configMap("settings", { level: "info" })) },
    });
    const before = (await scrape()).samples;
    const ks = (name: string, path: string) => ({
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name, namespace: ns.name },
      spec: {
        interval: "10m",
        path,
        prune: true,
        targetNamespace: ns.name,
        sourceRef: { kind: "GitRepository", name: "fleet" },
      },
    });
    // Act
    await applyToStore(plane.runtime.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "fleet", namespace: ns.name },
      spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    await applyToStore(plane.runtime.store, ks("app", "./deploy"));
    await applyToStore(plane.runtime.store, ks("broken", "./missing"));
    await until(
      "app Ready",
      async () => ready(await storedStatus(plane, "Kustomization", ns.name, "app"))?.status === "True",
    );
    await until(
      "broken failed",
      async () => ready(await storedStatus(plane, "Kustomization", ns.name, "broken"))?.status === "False",
    );
    const { samples } = await scrape();

    // Assess: gotk_reconcile_duration_seconds, with Flux's labels and buckets.
    const ref = { kind: "Kustomization", name: "app", namespace: ns.name };
    expect(value(samples, "gotk_reconcile_duration_seconds_count", ref)).toBeGreaterThanOrEqual(1);
    expect(value(samples, "gotk_reconcile_duration_seconds_sum", ref)).toBeGreaterThan(0);
    const buckets = samples
      .filter((s) => s.name === "gotk_reconcile_duration_seconds_bucket" && s.labels.name === "app")
      .map((s) => s.labels.le);
    expect(buckets).toHaveLength(11);
    expect(Number(buckets[0])).toBeCloseTo(0.01, 6);
    expect(Number(buckets[9])).toBeCloseTo(1800, 6);
    expect(buckets[10]).toBe("+Inf");
    expect(
      value(samples, "gotk_reconcile_duration_seconds_count", {
        kind: "GitRepository",
        name: "fleet",
        namespace: ns.name,
      }),
    ).toBeGreaterThanOrEqual(1);

    // gotk_resource_info as flux2-monitoring-example's kube-state-metrics configuration labels it.
    expect(
      sample(samples, "gotk_resource_info", {
        customresource_kind: "Kustomization",
        name: "app",
        exported_namespace: ns.name,
      }),
    ).toEqual({
      name: "gotk_resource_info",
      labels: {
        customresource_group: "kustomize.toolkit.fluxcd.io",
        customresource_version: "v1",
        customresource_kind: "Kustomization",
        exported_namespace: ns.name,
        name: "app",
        ready: "True",
        revision: `main@sha1:${sha}`,
        source_name: "fleet",
      },
      value: 1,
    });
    expect(sample(samples, "gotk_resource_info", { name: "broken", exported_namespace: ns.name })?.labels.ready).toBe(
      "False",
    );
    expect(
      sample(samples, "gotk_resource_info", { customresource_kind: "GitRepository", name: "fleet" })?.labels,
    ).toMatchObject({
      customresource_group: "source.toolkit.fluxcd.io",
      revision: `main@sha1:${sha}`,
      url,
      ready: "True",
    });
    expect(value(samples, "gotk_reconcile_condition", { ...ref, type: "Ready", status: "True" })).toBe(1);
    expect(value(samples, "gotk_reconcile_condition", { ...ref, type: "Ready", status: "False" })).toBe(0);
    expect(value(samples, "gotk_suspend_status", ref)).toBe(0);

    // controller-runtime's counters, per controller, grown by these reconciles: the failed one is an error.
    const grew = (name: string, labels: Record<string, string>) =>
      value(samples, name, labels) - value(before, name, labels);
    expect(
      grew("controller_runtime_reconcile_total", { controller: "kustomization", result: "requeue_after" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      grew("controller_runtime_reconcile_total", { controller: "kustomization", result: "error" }),
    ).toBeGreaterThanOrEqual(1);
    expect(grew("controller_runtime_reconcile_errors_total", { controller: "kustomization" })).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      grew("controller_runtime_reconcile_total", { controller: "gitrepository", result: "requeue_after" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(samples, "controller_runtime_reconcile_time_seconds_count", { controller: "kustomization" }),
    ).toBeGreaterThanOrEqual(2);
    // The work queue, named as controller-runtime names it.
    const queue = { name: "kustomization", controller: "kustomization" };
    expect(value(samples, "workqueue_adds_total", queue)).toBeGreaterThanOrEqual(2);
    expect(value(samples, "workqueue_work_duration_seconds_count", queue)).toBeGreaterThanOrEqual(2);
    expect(value(samples, "workqueue_queue_duration_seconds_count", queue)).toBeGreaterThanOrEqual(2);
    expect(sample(samples, "workqueue_depth", queue)).toBeDefined();
    expect(sample(samples, "workqueue_longest_running_processor_seconds", queue)).toBeDefined();
    // The process, as Flux's control-plane dashboard reads it.
    expect(sample(samples, "process_cpu_seconds_total", {})?.value).toBeGreaterThan(0);
  });

  it("drops a deleted object's series and marks a suspended one, as Flux does", async () => {
    // Arrange
    const gone = { kind: "Kustomization", namespace: ns.name, name: "broken" };
    // Act
    await requestDeletion(plane.runtime.store, gone, new Date());
    await applyToStore(plane.runtime.store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: ns.name },
      spec: {
        interval: "10m",
        path: "./deploy",
        prune: true,
        suspend: true,
        targetNamespace: ns.name,
        sourceRef: { kind: "GitRepository", name: "fleet" },
      },
    });
    await until("broken removed", async () => !(await plane.runtime.store.get(gone)));
    const samples = await until("app suspended in the metrics", async () => {
      const { samples } = await scrape();
      return (
        value(samples, "gotk_suspend_status", { kind: "Kustomization", name: "app", namespace: ns.name }) === 1 &&
        samples
      );
    });
    // Assess
    expect(samples.filter((s) => s.labels.name === "broken" && s.name.startsWith("gotk_"))).toEqual([]);
    expect(sample(samples, "gotk_resource_info", { name: "app", exported_namespace: ns.name })?.labels.suspended).toBe(
      "true",
    );
    // One info series per object: the old one (suspended unset) went when its labels changed.
    expect(samples.filter((s) => s.name === "gotk_resource_info" && s.labels.name === "app")).toHaveLength(1);
  });

  it("never exposes a URL's credentials or a Receiver's webhook path, and escapes hostile label values", async () => {
    // Arrange: the URL carries credentials and characters that would break the exposition if not escaped.
    const hostile = 'https://deploy:s3cr3t-token@git.example.com/org/repo"} evil{x="1\\';
    await applyToStore(plane.runtime.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "hostile", namespace: ns.name },
      spec: { interval: "10m", url: hostile, ref: { branch: "main" }, suspend: true },
    });
    await plane.cluster.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns.name}/secrets`,
      body: { metadata: { name: "hook-token" }, stringData: { token: "receiver-token-value" } },
    });
    await applyToStore(plane.runtime.store, {
      apiVersion: "notification.toolkit.fluxcd.io/v1",
      kind: "Receiver",
      metadata: { name: "hook", namespace: ns.name },
      spec: {
        type: "generic",
        secretRef: { name: "hook-token" },
        resources: [{ kind: "GitRepository", name: "fleet" }],
      },
    });
    const webhookPath = await until(
      "Receiver ready",
      async () => ((await storedStatus(plane, "Receiver", ns.name, "hook")) as { webhookPath?: string }).webhookPath,
    );
    // Act
    const { text, samples } = await until("both in the metrics", async () => {
      const scraped = await scrape();
      return sample(scraped.samples, "gotk_resource_info", { name: "hook" }) &&
        sample(scraped.samples, "gotk_resource_info", { name: "hostile" })
        ? scraped
        : undefined;
    });
    // Assess
    expect(text).not.toContain("s3cr3t-token");
    expect(text).not.toContain(webhookPath);
    expect(text).not.toContain(webhookPath.split("/").pop()!);
    expect(sample(samples, "gotk_resource_info", { name: "hostile" })?.labels.url).toBe(
      'https://git.example.com/org/repo"} evil{x="1\\',
    );
    expect(sample(samples, "gotk_resource_info", { name: "hook" })?.labels).toMatchObject({
      customresource_kind: "Receiver",
      ready: "True",
    });
    // Only GET /metrics answers.
    expect((await fetch(scrapeUrl.replace("/metrics", "/debug"))).status).toBe(404);
    expect((await fetch(scrapeUrl, { method: "POST" })).status).toBe(404);
  });
});

describe("Flux's histogram buckets", () => {
  it("are prometheus.ExponentialBucketsRange(0.01, 1800, 10), as Go computes them", () => {
    // Printed by Go (math.Pow, the formula of client_golang's ExponentialBucketsRange) for fluxcd/pkg's recorder.
    const go = [
      0.01, 0.038363583488692544, 0.1471764538093883, 0.5646216173286169, 2.166090855590701, 8.309900738254731,
      31.879757075478317, 122.30217221643493, 469.19495946736544, 1799.9999999999986,
    ];
    const buckets = exponentialBucketsRange(10e-3, 1800, 10);
    expect(buckets).toHaveLength(go.length);
    buckets.forEach((bucket, i) => expect(Math.abs(bucket - go[i]!) / go[i]!).toBeLessThan(1e-12));
  });
});
