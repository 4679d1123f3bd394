import { describe, expect, it } from "vitest";
import { holdForAnalysis } from "../../src/apply/health/flagger.js";
import { computeStatus } from "../../src/apply/health/kstatus.js";
import { type Status, type StatusResult } from "../../src/apply/health/status.js";

const cond = (type: string, status: string, reason = "", message = "") => ({ type, status, reason, message });
const deploy = (spec: object, status: object, generation = 1) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "d", generation },
  spec,
  status,
});
const available = [cond("Progressing", "True", "NewReplicaSetAvailable"), cond("Available", "True")];

const cases: [string, object | undefined, Status, RegExp][] = [
  ["missing object", undefined, "NotFound", /not found/],
  [
    "deletion in progress",
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", deletionTimestamp: "2026-01-01T00:00:00Z" } },
    "Terminating",
    /deletion/,
  ],
  [
    "observedGeneration lags",
    deploy(
      { replicas: 1 },
      {
        observedGeneration: 1,
        replicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
        updatedReplicas: 1,
        conditions: available,
      },
      2,
    ),
    "InProgress",
    /generation is 2, but latest observed generation is 1/,
  ],
  [
    "Deployment available",
    deploy(
      { replicas: 3 },
      {
        observedGeneration: 1,
        replicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        updatedReplicas: 3,
        conditions: available,
      },
    ),
    "Current",
    /Deployment is available. Replicas: 3/,
  ],
  [
    "Deployment short of replicas",
    deploy({ replicas: 3 }, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, conditions: available }),
    "InProgress",
    /Replicas: 1\/3/,
  ],
  [
    "Deployment replicas default to 1",
    deploy({}, { observedGeneration: 1, replicas: 0 }),
    "InProgress",
    /Replicas: 0\/1/,
  ],
  [
    "Deployment past its progress deadline",
    deploy(
      { replicas: 1 },
      { observedGeneration: 1, conditions: [cond("Progressing", "False", "ProgressDeadlineExceeded")] },
    ),
    "Failed",
    /deadline/,
  ],
  [
    "Deployment pending termination",
    deploy(
      { replicas: 1 },
      {
        observedGeneration: 1,
        replicas: 2,
        updatedReplicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
        conditions: available,
      },
    ),
    "InProgress",
    /Pending termination: 1/,
  ],
  [
    "StatefulSet OnDelete",
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "s" },
      spec: { updateStrategy: { type: "OnDelete" } },
      status: {},
    },
    "Current",
    /ondelete/,
  ],
  [
    "StatefulSet rolled out",
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "s" },
      spec: { replicas: 2 },
      status: {
        replicas: 2,
        readyReplicas: 2,
        currentReplicas: 2,
        updatedReplicas: 2,
        currentRevision: "r1",
        updateRevision: "r1",
      },
    },
    "Current",
    /Replicas: 2/,
  ],
  [
    "StatefulSet mid-revision",
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "s" },
      spec: { replicas: 2 },
      status: {
        replicas: 2,
        readyReplicas: 2,
        currentReplicas: 2,
        updatedReplicas: 1,
        currentRevision: "r1",
        updateRevision: "r2",
      },
    },
    "InProgress",
    /updated revision r2/,
  ],
  [
    "StatefulSet partitioned",
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "s" },
      spec: { replicas: 3, updateStrategy: { rollingUpdate: { partition: 2 } } },
      status: { replicas: 3, readyReplicas: 3, updatedReplicas: 1 },
    },
    "Current",
    /Partitioned roll out complete. updated: 1\/1/,
  ],
  [
    "DaemonSet not observed",
    { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "ds" }, status: {} },
    "InProgress",
    /not been observed/,
  ],
  [
    "DaemonSet scheduled",
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "ds", generation: 1 },
      status: {
        observedGeneration: 1,
        desiredNumberScheduled: 2,
        currentNumberScheduled: 2,
        updatedNumberScheduled: 2,
        numberAvailable: 2,
        numberReady: 2,
      },
    },
    "Current",
    /Replicas: 2/,
  ],
  [
    "DaemonSet not ready",
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "ds", generation: 1 },
      status: {
        observedGeneration: 1,
        desiredNumberScheduled: 2,
        currentNumberScheduled: 2,
        updatedNumberScheduled: 2,
        numberAvailable: 2,
        numberReady: 1,
      },
    },
    "InProgress",
    /Ready: 1\/2/,
  ],
  [
    "ReplicaSet failure",
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "rs" },
      spec: { replicas: 1 },
      status: { conditions: [cond("ReplicaFailure", "True")] },
    },
    "InProgress",
    /Replica Failure/,
  ],
  [
    "ReplicaSet available",
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: "rs" },
      spec: { replicas: 1 },
      status: { replicas: 1, fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 1 },
    },
    "Current",
    /available/,
  ],
  [
    "Pod succeeded",
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Succeeded" } },
    "Current",
    /completed successfully/,
  ],
  [
    "Pod failed",
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Failed" } },
    "Failed",
    /not successfully/,
  ],
  [
    "Pod ready",
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p" },
      status: { phase: "Running", conditions: [cond("Ready", "True")] },
    },
    "Current",
    /Ready/,
  ],
  [
    "Pod crash looping",
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p" },
      status: {
        phase: "Running",
        containerStatuses: [{ name: "app", state: { waiting: { reason: "CrashLoopBackOff" } } }],
      },
    },
    "Failed",
    /app is in CrashLoopBackOff/,
  ],
  [
    "Pod pending",
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Pending" } },
    "InProgress",
    /Pending phase/,
  ],
  [
    "PVC bound",
    { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "c" }, status: { phase: "Bound" } },
    "Current",
    /Bound/,
  ],
  [
    "PVC pending",
    { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "c" }, status: { phase: "Pending" } },
    "InProgress",
    /phase: Pending/,
  ],
  [
    "Service with ClusterIP",
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { type: "LoadBalancer", clusterIP: "10.0.0.5" },
    },
    "Current",
    /ready/,
  ],
  [
    "Service without ClusterIP",
    { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { type: "ClusterIP" } },
    "InProgress",
    /ClusterIP not set/,
  ],
  [
    "ExternalName Service",
    { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { type: "ExternalName" } },
    "Current",
    /ready/,
  ],
  [
    "Job complete",
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "j" },
      spec: { completions: 1 },
      status: { succeeded: 1, conditions: [cond("Complete", "True")] },
    },
    "Current",
    /succeeded: 1\/1/,
  ],
  [
    "Job failed",
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "j" },
      spec: {},
      status: { failed: 6, conditions: [cond("Failed", "True", "BackoffLimitExceeded")] },
    },
    "Failed",
    /Job Failed/,
  ],
  [
    "Job not started",
    { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: {}, status: {} },
    "InProgress",
    /not started/,
  ],
  [
    "Job running",
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "j" },
      spec: {},
      status: { startTime: "2026-01-01T00:00:00Z", active: 1 },
    },
    "InProgress",
    /active: 1/,
  ],
  ["CronJob", { apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "c" } }, "Current", /current/],
  [
    "PDB met",
    {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "p", generation: 1 },
      status: { observedGeneration: 1, currentHealthy: 2, desiredHealthy: 1 },
    },
    "Current",
    /Budget is met/,
  ],
  [
    "PDB not met",
    {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "p", generation: 1 },
      status: { observedGeneration: 1, currentHealthy: 0, desiredHealthy: 1 },
    },
    "InProgress",
    /Budget not met/,
  ],
  [
    "CRD established",
    {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "x" },
      status: { conditions: [cond("NamesAccepted", "True"), cond("Established", "True")] },
    },
    "Current",
    /established/,
  ],
  [
    "CRD names rejected",
    {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "x" },
      status: { conditions: [cond("NamesAccepted", "False")] },
    },
    "Failed",
    /not accepted/,
  ],
  [
    "CRD installing",
    { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x" }, status: {} },
    "InProgress",
    /Install in progress/,
  ],
  [
    "Namespace active",
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "n" }, status: { phase: "Active" } },
    "Current",
    /Active/,
  ],
  [
    "Flux Kustomization ready",
    {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "k", generation: 2 },
      status: {
        observedGeneration: 2,
        conditions: [cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")],
      },
    },
    "Current",
    /Applied revision/,
  ],
  [
    "Flux Kustomization stalled",
    {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "k", generation: 2 },
      status: {
        observedGeneration: 2,
        conditions: [
          cond("Stalled", "True", "BuildFailed", "kustomize build failed"),
          cond("Ready", "False", "BuildFailed"),
        ],
      },
    },
    "Failed",
    /kustomize build failed/,
  ],
  [
    "Flux HelmRelease reconciling",
    {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "h", generation: 1 },
      status: { observedGeneration: 1, conditions: [cond("Reconciling", "True", "Progressing", "Running upgrade")] },
    },
    "InProgress",
    /Running upgrade/,
  ],
  [
    "custom resource not Ready",
    {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "w" },
      status: { conditions: [cond("Ready", "False", "Waiting", "waiting for database")] },
    },
    "InProgress",
    /waiting for database/,
  ],
  [
    "custom resource without status",
    { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } },
    "Current",
    /current/,
  ],
];

describe("kstatus port", () => {
  it.each(cases.map(([name, object, status, message]) => [name, status, object, message] as const))(
    "%s → %s",
    (_name, status, object, message) => {
      // Act
      const result = computeStatus(object as Record<string, unknown> | undefined);
      // Assess
      expect(result.status).toBe(status);
      expect(result.message).toMatch(message);
    },
  );
});

// Flagger's Canary, with status as Flagger writes it: phase and a Promoted condition whose reason is the phase.
const promoted = (status: string, reason: string, message = "", lastUpdateTime = "2026-05-01T10:00:00Z") => ({
  type: "Promoted",
  status,
  reason,
  message,
  lastUpdateTime,
});
const canary = (status?: object, spec: object = {}) => ({
  apiVersion: "flagger.app/v1beta1",
  kind: "Canary",
  metadata: { name: "podinfo", namespace: "apps", generation: 3 },
  spec: {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
    analysis: { interval: "30s", threshold: 5, stepWeight: 10, maxWeight: 50 },
    ...spec,
  },
  ...(status ? { status } : {}),
});
const phase = (name: string, condition: object | undefined, extra: object = {}) =>
  canary({
    phase: name,
    failedChecks: 0,
    canaryWeight: 0,
    iterations: 0,
    ...(condition ? { conditions: [condition] } : {}),
    ...extra,
  });

const canaryCases: [string, object, Status, RegExp][] = [
  [
    "no status yet (Flagger has not seen it, or is not installed)",
    canary(),
    "InProgress",
    /waiting for Flagger to initialize/,
  ],
  [
    "Initializing",
    phase("Initializing", promoted("Unknown", "Initializing", "New Deployment detected, starting initialization.")),
    "InProgress",
    /initializing the primary/,
  ],
  [
    "Initialized: the first revision is promoted without analysis",
    phase("Initialized", promoted("True", "Initialized", "Deployment initialization completed.")),
    "Current",
    /initialization completed/,
  ],
  [
    "Waiting on the confirm-rollout gate",
    phase("Waiting", promoted("Unknown", "Waiting", "Waiting for approval.")),
    "InProgress",
    /confirm-rollout/,
  ],
  [
    "Progressing, weight and failed checks",
    phase("Progressing", promoted("Unknown", "Progressing"), { canaryWeight: 20, failedChecks: 2 }),
    "InProgress",
    /weight 20%, 2\/5 failed checks/,
  ],
  [
    "Progressing, A/B iterations",
    canary(
      { phase: "Progressing", iterations: 3, failedChecks: 0, conditions: [promoted("Unknown", "Progressing")] },
      { analysis: { iterations: 10 } },
    ),
    "InProgress",
    /iteration 3\/10, 0\/1 failed checks/,
  ],
  [
    "WaitingPromotion on the confirm-promotion gate",
    phase("WaitingPromotion", promoted("Unknown", "WaitingPromotion")),
    "InProgress",
    /confirm-promotion/,
  ],
  ["Promoting", phase("Promoting", promoted("Unknown", "Promoting")), "InProgress", /primary is rolling out/],
  [
    "Finalising",
    phase("Finalising", promoted("Unknown", "Finalising")),
    "InProgress",
    /routing all traffic to the primary/,
  ],
  [
    "Succeeded",
    phase("Succeeded", promoted("True", "Succeeded", "Canary analysis completed successfully, promotion finished.")),
    "Current",
    /promotion finished/,
  ],
  [
    "Failed: Flagger rolled back",
    phase("Failed", promoted("False", "Failed", "Canary analysis failed, Deployment scaled to zero."), {
      failedChecks: 5,
    }),
    "Failed",
    /rolled back: Canary analysis failed, Deployment scaled to zero. \(phase Failed, 5 failed checks\)/,
  ],
  ["Failed without a condition", phase("Failed", undefined), "Failed", /rolled back: Canary analysis failed/],
  [
    "Terminating (revertOnDeletion)",
    phase("Terminating", promoted("Unknown", "Terminating")),
    "Terminating",
    /terminating/,
  ],
  ["Terminated", phase("Terminated", promoted("Unknown", "Terminated")), "Terminating", /terminated/],
  ["Succeeded without a Promoted condition", phase("Succeeded", undefined), "InProgress", /does not confirm/],
  [
    "Succeeded whose Promoted condition says Failed",
    phase("Succeeded", promoted("False", "Failed")),
    "InProgress",
    /does not confirm/,
  ],
  [
    "Succeeded whose Promoted condition is from Initialized",
    phase("Succeeded", promoted("True", "Initialized")),
    "InProgress",
    /does not confirm/,
  ],
  [
    "Initialized whose Promoted condition is Unknown",
    phase("Initialized", promoted("Unknown", "Initialized")),
    "InProgress",
    /does not confirm/,
  ],
  ["unknown phase", phase("Exploded", promoted("True", "Exploded")), "Unknown", /unknown Flagger phase "Exploded"/],
  [
    "a phase named like an Object.prototype member",
    phase("toString", promoted("True", "toString")),
    "Unknown",
    /unknown Flagger phase "toString"/,
  ],
  [
    "a phase that is not a string",
    canary({ phase: { $ne: 1 }, conditions: [promoted("True", "Succeeded")] }),
    "InProgress",
    /waiting for Flagger to initialize/,
  ],
  [
    "conditions that are not a list",
    canary({ phase: "Succeeded", conditions: "Promoted" }),
    "InProgress",
    /does not confirm/,
  ],
  [
    "generation ahead: Flagger writes no observedGeneration, so it is not compared",
    phase("Succeeded", promoted("True", "Succeeded")),
    "Current",
    /Canary Succeeded/,
  ],
  [
    "deleted Canary",
    {
      ...phase("Succeeded", promoted("True", "Succeeded")),
      metadata: { name: "podinfo", deletionTimestamp: "2026-05-01T10:00:00Z" },
    },
    "Terminating",
    /deletion/,
  ],
  [
    "observedGeneration written by someone else and lagging",
    canary({ phase: "Succeeded", observedGeneration: 2, conditions: [promoted("True", "Succeeded")] }),
    "InProgress",
    /generation is 3, but latest observed generation is 2/,
  ],
  [
    "Canary of another API group",
    { ...phase("Failed", undefined), apiVersion: "canaries.example.com/v1" },
    "Current",
    /current/,
  ],
];

describe("kstatus port: Flagger Canary", () => {
  it.each(canaryCases.map(([name, object, status, message]) => [name, status, object, message] as const))(
    "%s → %s",
    (_name, status, object, message) => {
      // Act
      const result = computeStatus(object as Record<string, unknown>);
      // Assess
      expect(result.status).toBe(status);
      expect(result.message).toMatch(message);
    },
  );

  it("bounds and flattens Flagger's messages before they reach a condition or a terminal", () => {
    // Arrange
    const hostile = phase(
      "Failed",
      promoted("False", "Failed", `line one\n\u001b[31mred\u001b[0m ${"x".repeat(5_000)}`),
    );
    // Act
    const { message } = computeStatus(hostile);
    // Assess
    expect(
      [...message].filter((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)),
    ).toEqual([]);
    expect(message.length).toBeLessThan(400);
  });
});

// The Canary's target as the API server returns it: who wrote which fields, and when.
const entry = (manager: string, time: unknown, fieldsV1: object, extra: object = {}) => ({
  manager,
  operation: "Apply",
  time,
  fieldsType: "FieldsV1",
  fieldsV1,
  ...extra,
});
const templateOwner = (time: unknown) =>
  entry("sluice", time, { "f:spec": { "f:template": { "f:spec": { "f:containers": {} } } } });
const target = (...managedFields: object[]) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "podinfo", namespace: "apps", managedFields },
  spec: { template: {} },
});
const service = (...managedFields: object[]) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "podinfo", namespace: "apps", managedFields },
  spec: { ports: [] },
});
const at = (time: string) => Date.parse(time);
const succeeded = phase("Succeeded", promoted("True", "Succeeded", "promotion finished", "2026-05-01T10:00:00Z"));
const failed = phase("Failed", promoted("False", "Failed", "Canary analysis failed", "2026-05-01T10:00:00Z"));
const current: StatusResult = { status: "Current", message: "promotion finished" };
const failure: StatusResult = { status: "Failed", message: "rolled back" };

const holdCases: [string, object, StatusResult, object | undefined, number, Status, RegExp][] = [
  [
    "template changed before the verdict",
    succeeded,
    current,
    target(templateOwner("2026-05-01T09:59:00Z")),
    at("2026-05-01T10:01:00Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "template changed in the verdict's second (times have second precision; the verdict stands)",
    succeeded,
    current,
    target(templateOwner("2026-05-01T10:00:00Z")),
    at("2026-05-01T10:00:05Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "template changed after the verdict",
    succeeded,
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /waiting for Flagger to analyse Deployment\/apps\/podinfo changed at 2026-05-01T10:05:00.000Z \(phase Succeeded since 2026-05-01T10:00:00.000Z\)/,
  ],
  [
    "a fix pushed after a rollback is not judged by the rollback",
    failed,
    failure,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /waiting for Flagger to analyse/,
  ],
  [
    "a rollback after the last change stands",
    failed,
    failure,
    target(templateOwner("2026-05-01T09:55:00Z")),
    at("2026-05-01T10:05:10Z"),
    "Failed",
    /rolled back/,
  ],
  [
    "no new phase two intervals after the change: Flagger found nothing to analyse",
    succeeded,
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:06:01Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "Flagger scaling the target (spec.replicas) is not a new revision",
    succeeded,
    current,
    target(
      templateOwner("2026-05-01T09:00:00Z"),
      entry("flagger", "2026-05-01T10:05:00Z", { "f:spec": { "f:replicas": {} } }, { operation: "Update" }),
    ),
    at("2026-05-01T10:05:10Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "status written by the workload controller is not a new revision",
    succeeded,
    current,
    target(
      templateOwner("2026-05-01T09:00:00Z"),
      entry(
        "kube-controller-manager",
        "2026-05-01T10:05:00Z",
        { "f:spec": { "f:template": {} } },
        { subresource: "status" },
      ),
    ),
    at("2026-05-01T10:05:10Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "a label-only writer is not a new revision",
    succeeded,
    current,
    target(
      templateOwner("2026-05-01T09:00:00Z"),
      entry("kubectl-label", "2026-05-01T10:05:00Z", { "f:metadata": { "f:labels": {} } }),
    ),
    at("2026-05-01T10:05:10Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "any writer of the pod template counts (kubectl rollout restart)",
    succeeded,
    current,
    target(
      templateOwner("2026-05-01T09:00:00Z"),
      entry("kubectl-rollout", "2026-05-01T10:05:00Z", { "f:spec": { "f:template": { "f:metadata": {} } } }),
    ),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /waiting for Flagger/,
  ],
  [
    "a target without a pod template: any spec writer counts",
    succeeded,
    current,
    service(entry("sluice", "2026-05-01T10:05:00Z", { "f:spec": { "f:ports": {} } })),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /analyse Deployment\/apps\/podinfo/,
  ],
  [
    "target missing",
    succeeded,
    current,
    undefined,
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /Canary target Deployment\/apps\/podinfo not found/,
  ],
  [
    "a verdict still in progress passes through",
    phase("Progressing", promoted("Unknown", "Progressing")),
    { status: "InProgress", message: "weight 10%" },
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /weight 10%/,
  ],
  [
    "an unreadable verdict time holds until the grace ends",
    phase("Succeeded", promoted("True", "Succeeded", "", "yesterday")),
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /phase Succeeded\)/,
  ],
  [
    "unreadable managedFields times are ignored",
    succeeded,
    current,
    target(
      entry("sluice", "soon", { "f:spec": { "f:template": {} } }),
      entry("x", 42, { "f:spec": { "f:template": {} } }),
    ),
    at("2026-05-01T10:05:10Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "managedFields that are not a list are ignored",
    succeeded,
    current,
    { ...target(), metadata: { name: "podinfo", managedFields: "f:spec" } },
    at("2026-05-01T10:05:10Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "null entries in managedFields are skipped",
    succeeded,
    current,
    target(null as unknown as object, templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:10Z"),
    "InProgress",
    /waiting for Flagger/,
  ],
  [
    "an interval Flagger cannot parse means its default, 60s (grace 2m)",
    { ...succeeded, spec: { ...succeeded.spec, analysis: { interval: "forever" } } },
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:06:30Z"),
    "InProgress",
    /waiting for Flagger/,
  ],
  [
    "an interval under Flagger's 10s floor is taken as 10s (grace 20s)",
    { ...succeeded, spec: { ...succeeded.spec, analysis: { interval: "1s" } } },
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:15Z"),
    "InProgress",
    /waiting for Flagger/,
  ],
  [
    "an interval under the floor, past the grace",
    { ...succeeded, spec: { ...succeeded.spec, analysis: { interval: "1s" } } },
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:05:21Z"),
    "Current",
    /promotion finished/,
  ],
  [
    "legacy spec.canaryAnalysis interval",
    { ...succeeded, spec: { targetRef: succeeded.spec.targetRef, canaryAnalysis: { interval: "5m" } } },
    current,
    target(templateOwner("2026-05-01T10:05:00Z")),
    at("2026-05-01T10:14:00Z"),
    "InProgress",
    /waiting for Flagger/,
  ],
  [
    "an incomplete targetRef leaves the verdict alone",
    { ...succeeded, spec: { targetRef: { kind: "Deployment" } } },
    current,
    undefined,
    at("2026-05-01T10:05:10Z"),
    "Current",
    /promotion finished/,
  ],
];

describe("Flagger Canary: a verdict about the previous revision is held back", () => {
  it.each(
    holdCases.map(
      ([name, c, verdict, t, now, status, message]) => [name, status, c, verdict, t, now, message] as const,
    ),
  )("%s → %s", (_name, status, c, verdict, t, now, message) => {
    // Act
    const result = holdForAnalysis(
      c as Record<string, unknown>,
      verdict,
      t as Record<string, unknown> | undefined,
      now,
    );
    // Assess
    expect(result.status).toBe(status);
    expect(result.message).toMatch(message);
  });
});
