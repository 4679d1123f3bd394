import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { FileEvents } from "../../src/notify/file-events.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";
import { FLAGGER_VERSION } from "./flagger.js";

const run = promisify(execFile);
const { kube } = inject("testbed");
let admin: Cluster;
let namespace: { name: string; remove(): Promise<void> };
let other: { name: string; remove(): Promise<void> };
let serial = 0;

beforeAll(async () => {
  [namespace, other] = await Promise.all([
    freshNamespace(kube, "canary-events"),
    freshNamespace(kube, "canary-events"),
  ]);
  admin = await adminCluster(kube);
});

afterAll(async () => {
  await Promise.all([namespace?.remove(), other?.remove()]);
});

const ns = () => namespace.name;
const secondsAgo = (s: number) => new Date(Date.now() - s * 1000).toISOString().replace(/\.\d+Z$/, "Z");

/** A core/v1 Event as Flagger's event recorder writes it: reason Synced, source flagger, on the Canary. */
async function flaggerEvent(
  eventNamespace: string,
  canary: string,
  message: string,
  options: { ago: number; type?: string; apiVersion?: string },
): Promise<void> {
  const time = secondsAgo(options.ago);
  await admin.client.send({
    method: "POST",
    path: `/api/v1/namespaces/${eventNamespace}/events`,
    body: {
      metadata: { name: `${canary}.${(serial++).toString(16).padStart(16, "0")}` },
      involvedObject: {
        apiVersion: options.apiVersion ?? "flagger.app/v1beta1",
        kind: "Canary",
        namespace: eventNamespace,
        name: canary,
      },
      type: options.type ?? "Normal",
      reason: "Synced",
      message,
      source: { component: "flagger" },
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    },
  });
}

/** A Kustomization in a local state dir whose last apply put these Canaries in its inventory. */
function kustomization(
  name: string,
  kustomizationNamespace: string,
  canaries: string[],
  annotations: Record<string, string> = {},
): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: kustomizationNamespace, annotations },
    spec: { interval: "10m", path: "./deploy", prune: true, sourceRef: { kind: "GitRepository", name: "apps" } },
    status: { inventory: { entries: canaries.map((c) => ({ id: `${ns()}_${c}_flagger.app_Canary`, v: "v1beta1" })) } },
  };
}

async function sluiceEvents(stateDir: string, ...args: string[]): Promise<{ rows: string[][]; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, [
    "bin/sluice.js",
    "events",
    "--state-dir",
    stateDir,
    "--kubeconfig",
    kube.kubeconfigPath,
    ...args,
  ]);
  return {
    rows: stdout
      .trimEnd()
      .split("\n")
      .map((line) => line.split(/\s{3,}/)),
    stderr,
  };
}

describe(`sluice events with Flagger ${FLAGGER_VERSION} Canary events, kube-apiserver ${kube.version}`, () => {
  it("merges the Events Flagger recorded on the Canaries in the listed Kustomizations' inventories with Sluice's own, by time", async () => {
    // Arrange
    const stateDir = await mkdtemp(join(tmpdir(), "sluice-events-"));
    const store = new FileStore(statePaths(stateDir).store);
    await store.create(kustomization("apps", ns(), ["podinfo"]));
    // A Kustomization applying to an agent cluster: its Canary "elsewhere" is another cluster's.
    await store.create(kustomization("edge", ns(), ["elsewhere"], { "sluice.dev/cluster": "edge-1" }));
    const own = new FileEvents(statePaths(stateDir).events);
    const sluiceEvent = (message: string, ago: number) =>
      own.emit({
        involvedObject: {
          apiVersion: "kustomize.toolkit.fluxcd.io/v1",
          kind: "Kustomization",
          namespace: ns(),
          name: "apps",
        },
        severity: "info",
        reason: "Progressing",
        message,
        metadata: {},
        reportingController: "kustomize-controller",
        timestamp: secondsAgo(ago),
      });
    await sluiceEvent(`Canary/${ns()}/podinfo configured`, 300);
    await sluiceEvent("Health check passed in 2m0s", 30);
    await flaggerEvent(ns(), "podinfo", "New revision detected! Scaling up podinfo.apps", { ago: 250 });
    await flaggerEvent(ns(), "podinfo", "Halt podinfo.apps advancement success rate 91.00% < 99%", {
      ago: 200,
      type: "Warning",
    });
    await flaggerEvent(ns(), "podinfo", "Promotion completed! Scaling down podinfo.apps", { ago: 60 });
    // Not shown: a Canary no listed Kustomization applied, another cluster's Canary, another API group's "Canary".
    await flaggerEvent(ns(), "unlisted", "Starting canary analysis for unlisted.apps", { ago: 100 });
    await flaggerEvent(ns(), "elsewhere", "Starting canary analysis for elsewhere.apps", { ago: 100 });
    await flaggerEvent(ns(), "podinfo", "a different kind that is also called Canary", {
      ago: 100,
      apiVersion: "canaries.flanksource.com/v1",
    });
    // Act
    const { rows } = await sluiceEvents(stateDir, "-n", ns());
    // Assess
    expect(rows[0]).toEqual(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    expect(rows.slice(1).map(([, type, reason, object, message]) => [type, reason, object, message])).toEqual([
      ["Normal", "Progressing", "Kustomization/apps", `Canary/${ns()}/podinfo configured`],
      ["Normal", "Synced", "Canary/podinfo", "New revision detected! Scaling up podinfo.apps"],
      ["Warning", "Synced", "Canary/podinfo", "Halt podinfo.apps advancement success rate 91.00% < 99%"],
      ["Normal", "Synced", "Canary/podinfo", "Promotion completed! Scaling down podinfo.apps"],
      ["Normal", "Progressing", "Kustomization/apps", "Health check passed in 2m0s"],
    ]);
    expect(rows.slice(1).map(([lastSeen]) => lastSeen)).toEqual([
      "5m",
      "4m",
      "3m",
      expect.stringMatching(/^\d+s$/),
      expect.stringMatching(/^\d+s$/),
    ]);
  });

  it("shows only one Canary's Events with --for Canary/<name>, also one no Kustomization lists", async () => {
    // Arrange
    const stateDir = await mkdtemp(join(tmpdir(), "sluice-events-"));
    await flaggerEvent(ns(), "solo", "Canary failed! Scaling down solo.apps", { ago: 10, type: "Warning" });
    await flaggerEvent(ns(), "solo-2", "Promotion completed! Scaling down solo-2.apps", { ago: 10 });
    // The same name in another namespace is another Canary.
    await flaggerEvent(other.name, "solo", "Initialization done! solo.other", { ago: 10 });
    // Act
    const { rows } = await sluiceEvents(stateDir, "-n", ns(), "--for", "Canary/solo");
    // Assess
    expect(rows.slice(1).map(([, type, reason, object, message]) => [type, reason, object, message])).toEqual([
      ["Warning", "Synced", "Canary/solo", "Canary failed! Scaling down solo.apps"],
    ]);
  });

  it("prints a hostile Event message on one line, bounded, without terminal escape sequences", async () => {
    // Arrange
    const stateDir = await mkdtemp(join(tmpdir(), "sluice-events-"));
    await flaggerEvent(ns(), "loud", `first\nsecond\r\n\u001b]0;owned\u0007\u001b[2J${"x".repeat(10_000)}`, {
      ago: 5,
      type: "Warning",
    });
    // Act
    const { rows } = await sluiceEvents(stateDir, "-n", ns(), "--for", "Canary/loud");
    // Assess
    expect(rows).toHaveLength(2);
    const message = rows[1]![4]!;
    expect(message.startsWith("first, second, ")).toBe(true);
    expect(
      [...message].filter((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)),
    ).toEqual([]);
    expect(message.length).toBeLessThanOrEqual(301);
  });

  it("still prints Sluice's events, and says why, when the cluster's Events cannot be read", async () => {
    // Arrange
    const stateDir = await mkdtemp(join(tmpdir(), "sluice-events-"));
    await new FileStore(statePaths(stateDir).store).create(kustomization("apps", ns(), ["podinfo"]));
    await new FileEvents(statePaths(stateDir).events).emit({
      involvedObject: {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        namespace: ns(),
        name: "apps",
      },
      severity: "error",
      reason: "HealthCheckFailed",
      message: "health check failed",
      metadata: {},
      reportingController: "kustomize-controller",
      timestamp: secondsAgo(1),
    });
    // Act
    const { stdout, stderr } = await run(process.execPath, [
      "bin/sluice.js",
      "events",
      "--state-dir",
      stateDir,
      "--kubeconfig",
      "/nonexistent/kubeconfig",
      "-n",
      ns(),
    ]);
    // Assess
    expect(stdout).toMatch(/Warning\s+HealthCheckFailed\s+Kustomization\/apps\s+health check failed/);
    expect(stderr).toMatch(/✗ Canary events not read: cannot read kubeconfig \/nonexistent\/kubeconfig/);
  });
});
