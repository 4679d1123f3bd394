import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { publishChart } from "../env/charts.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { planeSuite, storedStatus, until, type Condition } from "./helpers.js";

// `waitStrategy: legacy` (Helm 3's readiness rules) against `poller` (kstatus), on the test bed: the real
// Deployment, ReplicaSet and Job controllers, pods made Ready (or crash-looping, or failed) by the kubelet stand-in.

const { kube, git, helmRepo } = inject("testbed");
const events: FluxEvent[] = [];
const suite = planeSuite(kube, git, { namespace: "hr-legacy", onEvent: (e) => events.push(e) });
let kubelet: Kubelet;

const CHART = "legacy-wait";
const CHART_VERSION = "1.0.0";

/** A Deployment (optionally paused, its pods optionally failing), a Service of a given type, optionally a Job. */
async function legacyChart(): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "sluice-legacy-")), CHART);
  await mkdir(join(dir, "templates"), { recursive: true });
  await writeFile(join(dir, "Chart.yaml"), `apiVersion: v2\nname: ${CHART}\nversion: ${CHART_VERSION}\n`);
  await writeFile(
    join(dir, "values.yaml"),
    "paused: false\nfailing: false\nserviceType: ClusterIP\njob: false\njobFailing: false\n",
  );
  await writeFile(
    join(dir, "templates", "all.yaml"),
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: {{ .Release.Name }} }
spec:
  replicas: 1
  paused: {{ .Values.paused }}
  selector: { matchLabels: { app: {{ .Release.Name }} } }
  template:
    metadata:
      labels: { app: {{ .Release.Name }} }
      annotations: { failing: {{ .Values.failing | quote }} }
    spec:
      containers: [{ name: app, image: registry.invalid/app:1 }]
---
apiVersion: v1
kind: Service
metadata: { name: {{ .Release.Name }} }
spec:
  type: {{ .Values.serviceType }}
  selector: { app: {{ .Release.Name }} }
  ports: [{ port: 80 }]
{{- if .Values.job }}
---
apiVersion: batch/v1
kind: Job
metadata: { name: {{ .Release.Name }} }
spec:
  backoffLimit: 0
  template:
    metadata: { annotations: { failing: {{ .Values.jobFailing | quote }} } }
    spec:
      restartPolicy: Never
      containers: [{ name: job, image: registry.invalid/job:1 }]
{{- end }}
`,
  );
  return dir;
}

beforeAll(async () => {
  kubelet = await startKubelet(kube, {
    namespaces: [suite.namespace],
    failing: (pod) => pod.metadata?.annotations?.failing === "true",
  });
  await publishChart(helmRepo, await legacyChart());
  await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "charts", { interval: "5m", url: helmRepo.url });
});
afterAll(() => kubelet?.stop());

const { put } = suite;

function release(name: string, strategy: "legacy" | "poller", values: Record<string, unknown>, extra = {}) {
  return put("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, {
    interval: "5m",
    chart: { spec: { chart: CHART, version: CHART_VERSION, sourceRef: { kind: "HelmRepository", name: "charts" } } },
    values,
    waitStrategy: { name: strategy },
    timeout: "4s",
    ...extra,
  });
}

/** A condition of the release's stored status. */
async function condition(name: string, type: string): Promise<Condition | undefined> {
  const { conditions } = await storedStatus(suite.plane, "HelmRelease", suite.namespace, name);
  return conditions?.find((c) => c.type === type);
}

/** The release's condition `type` once its reason is `reason`. */
const conditionWith = (name: string, type: string, reason: string) =>
  until(`HelmRelease ${name} ${type} with reason ${reason}`, async () => {
    const found = await condition(name, type);
    return found?.reason === reason && found;
  });
const readyWith = (name: string, reason: string) => conditionWith(name, "Ready", reason);
/** Released=False InstallFailed: Ready moves on to the remediation's verdict (RetriesExceeded) at once. */
const installFailed = (name: string) => conditionWith(name, "Released", "InstallFailed");

describe("HelmRelease waitStrategy legacy (Helm 3's readiness rules)", () => {
  it("waits for a LoadBalancer Service's ingress address, which the poller does not, and passes once it has one", async () => {
    // Arrange: no load balancer controller runs on the test bed.
    const values = { serviceType: "LoadBalancer" };
    // Act
    await release("lb-poller", "poller", values);
    await release("lb-legacy", "legacy", values, { timeout: "60s" });
    await release("lb-legacy-timeout", "legacy", values);
    // Assess
    expect(await readyWith("lb-poller", "InstallSucceeded")).toMatchObject({ status: "True" });
    const timedOut = await installFailed("lb-legacy-timeout");
    expect(timedOut.status).toBe("False");
    expect(timedOut.message).toContain(
      `Service/${suite.namespace}/lb-legacy-timeout status: 'InProgress' (Service does not have a load balancer ingress address)`,
    );
    expect(await condition("lb-legacy", "Reconciling")).toMatchObject({ status: "True" });
    // Act: what a cloud's load balancer controller would write.
    await suite.admin.client.send({
      method: "PATCH",
      path: `/api/v1/namespaces/${suite.namespace}/services/lb-legacy/status`,
      contentType: "application/merge-patch+json",
      body: { status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } } },
    });
    // Assess
    expect(await readyWith("lb-legacy", "InstallSucceeded")).toMatchObject({ status: "True" });
  });

  it("waits for the new ReplicaSet's pods to be ready, naming the Deployment when they never are", async () => {
    // Act
    await release("pods-ready", "legacy", {});
    await release("pods-crashing", "legacy", { failing: true });
    // Assess
    expect(await readyWith("pods-ready", "InstallSucceeded")).toMatchObject({ status: "True" });
    const failed = await installFailed("pods-crashing");
    expect(failed.status).toBe("False");
    expect(failed.message).toContain(
      `Deployment/${suite.namespace}/pods-crashing status: 'InProgress' (Deployment's new ReplicaSet has 0 ready pods, 1 needed)`,
    );
  });

  it("takes a paused Deployment as ready under either strategy, as Helm and helm-controller do", async () => {
    // Act: a paused Deployment never gets a ReplicaSet, so kstatus alone would wait for it until the timeout.
    await release("paused-poller", "poller", { paused: true });
    await release("paused-legacy", "legacy", { paused: true });
    // Assess
    expect(await readyWith("paused-poller", "InstallSucceeded")).toMatchObject({ status: "True" });
    expect(await readyWith("paused-legacy", "InstallSucceeded")).toMatchObject({ status: "True" });
  });

  it("fails at once on a failed Job, unless disableWaitForJobs", async () => {
    // Act
    const values = { job: true, jobFailing: true };
    await release("job-failed", "legacy", values, { timeout: "60s" });
    await release("job-skipped", "legacy", values, { install: { disableWaitForJobs: true } });
    // Assess: well before the minute's timeout.
    const started = Date.now();
    const failed = await installFailed("job-failed");
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(failed.status).toBe("False");
    expect(failed.message).toContain(
      `Job/${suite.namespace}/job-failed status: 'Failed' (job is failed: ${suite.namespace}/job-failed)`,
    );
    expect(await readyWith("job-skipped", "InstallSucceeded")).toMatchObject({ status: "True" });
  });
});

describe("HelmRelease healthCheckExprs that do not compile", () => {
  it("stalls the release before any Helm action, naming the field, as helm-controller does", async () => {
    // Act
    await release(
      "bad-expr",
      "poller",
      {},
      {
        healthCheckExprs: [{ apiVersion: "apps/v1", kind: "Deployment", current: "status.readyReplicas ==" }],
      },
    );
    // Assess
    const ready = await readyWith("bad-expr", "InvalidCELExpression");
    expect(ready.status).toBe("False");
    expect(ready.message).toMatch(
      /^Reconciliation failed terminally due to configuration error: spec\.healthCheckExprs\[0\]\.current: /,
    );
    expect(await condition("bad-expr", "Stalled")).toMatchObject({ status: "True", reason: "InvalidCELExpression" });
    // helm-controller's event carries the error alone, without the condition's prefix.
    const invalid = (e: FluxEvent) => e.involvedObject.name === "bad-expr" && e.reason === "InvalidCELExpression";
    const event = await until("the InvalidCELExpression event", async () => events.find(invalid));
    expect(event.message).toMatch(/^spec\.healthCheckExprs\[0\]\.current: /);
    const secrets = await suite.admin.client.send<{ items: unknown[] }>({
      method: "GET",
      path: `/api/v1/namespaces/${suite.namespace}/secrets`,
      query: { labelSelector: "owner=helm,name=bad-expr" },
    });
    expect(secrets.items).toEqual([]);
  });
});
