import { describe, expect, it } from "vitest";
import { computeStatus, type Status } from "../../src/apply/health/kstatus.js";

const cond = (type: string, status: string, reason = "", message = "") => ({ type, status, reason, message });
const deploy = (spec: object, status: object, generation = 1) => ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d", generation }, spec, status });
const available = [cond("Progressing", "True", "NewReplicaSetAvailable"), cond("Available", "True")];

const cases: [string, object | undefined, Status, RegExp][] = [
  ["missing object", undefined, "NotFound", /not found/],
  ["deletion in progress", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", deletionTimestamp: "2026-01-01T00:00:00Z" } }, "Terminating", /deletion/],
  ["observedGeneration lags", deploy({ replicas: 1 }, { observedGeneration: 1, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1, conditions: available }, 2), "InProgress", /generation is 2, but latest observed generation is 1/],
  ["Deployment available", deploy({ replicas: 3 }, { observedGeneration: 1, replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3, conditions: available }), "Current", /Deployment is available. Replicas: 3/],
  ["Deployment short of replicas", deploy({ replicas: 3 }, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, conditions: available }), "InProgress", /Replicas: 1\/3/],
  ["Deployment replicas default to 1", deploy({}, { observedGeneration: 1, replicas: 0 }), "InProgress", /Replicas: 0\/1/],
  ["Deployment past its progress deadline", deploy({ replicas: 1 }, { observedGeneration: 1, conditions: [cond("Progressing", "False", "ProgressDeadlineExceeded")] }), "Failed", /deadline/],
  ["Deployment pending termination", deploy({ replicas: 1 }, { observedGeneration: 1, replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, conditions: available }), "InProgress", /Pending termination: 1/],
  ["StatefulSet OnDelete", { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "s" }, spec: { updateStrategy: { type: "OnDelete" } }, status: {} }, "Current", /ondelete/],
  ["StatefulSet rolled out", { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "s" }, spec: { replicas: 2 }, status: { replicas: 2, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 2, currentRevision: "r1", updateRevision: "r1" } }, "Current", /Replicas: 2/],
  ["StatefulSet mid-revision", { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "s" }, spec: { replicas: 2 }, status: { replicas: 2, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 1, currentRevision: "r1", updateRevision: "r2" } }, "InProgress", /updated revision r2/],
  ["StatefulSet partitioned", { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "s" }, spec: { replicas: 3, updateStrategy: { rollingUpdate: { partition: 2 } } }, status: { replicas: 3, readyReplicas: 3, updatedReplicas: 1 } }, "Current", /Partitioned roll out complete. updated: 1\/1/],
  ["DaemonSet not observed", { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "ds" }, status: {} }, "InProgress", /not been observed/],
  ["DaemonSet scheduled", { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "ds", generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2 } }, "Current", /Replicas: 2/],
  ["DaemonSet not ready", { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "ds", generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 1 } }, "InProgress", /Ready: 1\/2/],
  ["ReplicaSet failure", { apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "rs" }, spec: { replicas: 1 }, status: { conditions: [cond("ReplicaFailure", "True")] } }, "InProgress", /Replica Failure/],
  ["ReplicaSet available", { apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "rs" }, spec: { replicas: 1 }, status: { replicas: 1, fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 1 } }, "Current", /available/],
  ["Pod succeeded", { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Succeeded" } }, "Current", /completed successfully/],
  ["Pod failed", { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Failed" } }, "Failed", /not successfully/],
  ["Pod ready", { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Running", conditions: [cond("Ready", "True")] } }, "Current", /Ready/],
  ["Pod crash looping", { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Running", containerStatuses: [{ name: "app", state: { waiting: { reason: "CrashLoopBackOff" } } }] } }, "Failed", /app is in CrashLoopBackOff/],
  ["Pod pending", { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { phase: "Pending" } }, "InProgress", /Pending phase/],
  ["PVC bound", { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "c" }, status: { phase: "Bound" } }, "Current", /Bound/],
  ["PVC pending", { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "c" }, status: { phase: "Pending" } }, "InProgress", /phase: Pending/],
  ["Service with ClusterIP", { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { type: "LoadBalancer", clusterIP: "10.0.0.5" } }, "Current", /ready/],
  ["Service without ClusterIP", { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { type: "ClusterIP" } }, "InProgress", /ClusterIP not set/],
  ["ExternalName Service", { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { type: "ExternalName" } }, "Current", /ready/],
  ["Job complete", { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: { completions: 1 }, status: { succeeded: 1, conditions: [cond("Complete", "True")] } }, "Current", /succeeded: 1\/1/],
  ["Job failed", { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: {}, status: { failed: 6, conditions: [cond("Failed", "True", "BackoffLimitExceeded")] } }, "Failed", /Job Failed/],
  ["Job not started", { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: {}, status: {} }, "InProgress", /not started/],
  ["Job running", { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: {}, status: { startTime: "2026-01-01T00:00:00Z", active: 1 } }, "InProgress", /active: 1/],
  ["CronJob", { apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "c" } }, "Current", /current/],
  ["PDB met", { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "p", generation: 1 }, status: { observedGeneration: 1, currentHealthy: 2, desiredHealthy: 1 } }, "Current", /Budget is met/],
  ["PDB not met", { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "p", generation: 1 }, status: { observedGeneration: 1, currentHealthy: 0, desiredHealthy: 1 } }, "InProgress", /Budget not met/],
  ["CRD established", { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x" }, status: { conditions: [cond("NamesAccepted", "True"), cond("Established", "True")] } }, "Current", /established/],
  ["CRD names rejected", { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x" }, status: { conditions: [cond("NamesAccepted", "False")] } }, "Failed", /not accepted/],
  ["CRD installing", { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x" }, status: {} }, "InProgress", /Install in progress/],
  ["Namespace active", { apiVersion: "v1", kind: "Namespace", metadata: { name: "n" }, status: { phase: "Active" } }, "Current", /Active/],
  ["Flux Kustomization ready", { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "k", generation: 2 }, status: { observedGeneration: 2, conditions: [cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")] } }, "Current", /Applied revision/],
  ["Flux Kustomization stalled", { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "k", generation: 2 }, status: { observedGeneration: 2, conditions: [cond("Stalled", "True", "BuildFailed", "kustomize build failed"), cond("Ready", "False", "BuildFailed")] } }, "Failed", /kustomize build failed/],
  ["Flux HelmRelease reconciling", { apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", metadata: { name: "h", generation: 1 }, status: { observedGeneration: 1, conditions: [cond("Reconciling", "True", "Progressing", "Running upgrade")] } }, "InProgress", /Running upgrade/],
  ["custom resource not Ready", { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" }, status: { conditions: [cond("Ready", "False", "Waiting", "waiting for database")] } }, "InProgress", /waiting for database/],
  ["custom resource without status", { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }, "Current", /current/],
];

describe("kstatus port", () => {
  it.each(cases.map(([name, object, status, message]) => [name, status, object, message] as const))("%s → %s", (_name, status, object, message) => {
    // Act
    const result = computeStatus(object as Record<string, unknown> | undefined);
    // Assess
    expect(result.status).toBe(status);
    expect(result.message).toMatch(message);
  });
});
