/**
 * A TypeScript port of kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), the health rules Flux uses:
 * generic rules first (deletion, observedGeneration, Reconciling/Stalled), then per-kind rules for
 * built-in workloads and Flagger's Canary, then the Ready condition for everything else. Pure:
 * object in, status out.
 */

import { groupOf } from "../object.js";
import { canaryStatus } from "./flagger.js";
import { unobservedGeneration, type StatusResult } from "./status.js";

type Obj = Record<string, unknown>;
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** kstatus for a live object; undefined means it does not exist. */
export function computeStatus(object: Obj | undefined): StatusResult {
  if (!object) return { status: "NotFound", message: "Resource not found" };
  const kind = String(object.kind ?? "");
  const generic = genericStatus(object, kind);
  if (generic) return generic;
  const rule = KIND_RULES[`${groupOf(String(object.apiVersion ?? ""))}/${kind}`];
  return rule ? rule(object) : readyCondition(object, kind);
}

function genericStatus(object: Obj, kind: string): StatusResult | undefined {
  const metadata = (object.metadata ?? {}) as Obj;
  if (metadata.deletionTimestamp) return { status: "Terminating", message: "Resource scheduled for deletion" };
  const behind = unobservedGeneration(object);
  if (behind) {
    const { generation, observed } = behind;
    return {
      status: "InProgress",
      message: `${kind} generation is ${generation}, but latest observed generation is ${observed}`,
    };
  }
  const conditions = conditionsOf(object);
  const stalled = conditions.find((c) => c.type === "Stalled" && c.status === "True");
  if (stalled) return { status: "Failed", message: stalled.message || stalled.reason || "Stalled" };
  const reconciling = conditions.find((c) => c.type === "Reconciling" && c.status === "True");
  if (reconciling) return { status: "InProgress", message: reconciling.message || reconciling.reason || "Reconciling" };
  return undefined;
}

/** Custom resources (Flux kinds included): the Ready condition decides; no Ready condition means Current. */
function readyCondition(object: Obj, kind: string): StatusResult {
  const ready = conditionsOf(object).find((c) => c.type === "Ready");
  if (!ready) return { status: "Current", message: "Resource is current" };
  if (ready.status === "True") return { status: "Current", message: ready.message || "Resource is Ready" };
  return { status: "InProgress", message: ready.message || `${kind} is not Ready` };
}

const KIND_RULES: Record<string, (object: Obj) => StatusResult> = {
  "apps/Deployment": deploymentStatus,
  "apps/StatefulSet": statefulSetStatus,
  "apps/DaemonSet": daemonSetStatus,
  "apps/ReplicaSet": replicaSetStatus,
  "/Pod": podStatus,
  "/PersistentVolumeClaim": pvcStatus,
  "/Service": serviceStatus,
  "/Namespace": namespaceStatus,
  "batch/Job": jobStatus,
  "batch/CronJob": () => ({ status: "Current", message: "CronJob is current" }),
  "policy/PodDisruptionBudget": pdbStatus,
  "apiextensions.k8s.io/CustomResourceDefinition": crdStatus,
  "flagger.app/Canary": canaryStatus,
};

function deploymentStatus(object: Obj): StatusResult {
  const spec = (object.spec ?? {}) as Obj;
  const status = (object.status ?? {}) as Obj;
  const specReplicas = num(spec.replicas, 1);
  const [replicas, ready, available, updated] = [
    num(status.replicas),
    num(status.readyReplicas),
    num(status.availableReplicas),
    num(status.updatedReplicas),
  ];
  let progressing = false;
  let isAvailable = false;
  for (const c of conditionsOf(object)) {
    if (c.type === "Progressing") {
      if (c.reason === "ProgressDeadlineExceeded") return { status: "Failed", message: "Progress deadline exceeded" };
      if (c.status === "True" && c.reason === "NewReplicaSetAvailable") progressing = true;
    }
    if (c.type === "Available" && c.status === "True") isAvailable = true;
  }
  if (specReplicas > replicas) return inProgress(`Replicas: ${replicas}/${specReplicas}`);
  if (specReplicas > updated) return inProgress(`Updated: ${updated}/${specReplicas}`);
  if (replicas > specReplicas) return inProgress(`Pending termination: ${replicas - specReplicas}`);
  if (updated > available) return inProgress(`Available: ${available}/${updated}`);
  if (specReplicas > ready) return inProgress(`Ready: ${ready}/${specReplicas}`);
  if (!progressing) return inProgress("ReplicaSet not Available");
  if (!isAvailable) return inProgress("Deployment not Available");
  return { status: "Current", message: `Deployment is available. Replicas: ${replicas}` };
}

function statefulSetStatus(object: Obj): StatusResult {
  const spec = (object.spec ?? {}) as Obj;
  const status = (object.status ?? {}) as Obj;
  const strategy = (spec.updateStrategy ?? {}) as Obj;
  if (strategy.type === "OnDelete")
    return { status: "Current", message: "StatefulSet is using the ondelete update strategy" };
  const specReplicas = num(spec.replicas, 1);
  const [replicas, ready, current, updated] = [
    num(status.replicas),
    num(status.readyReplicas),
    num(status.currentReplicas),
    num(status.updatedReplicas),
  ];
  if (specReplicas > replicas) return inProgress(`Replicas: ${replicas}/${specReplicas}`);
  if (specReplicas > ready) return inProgress(`Ready: ${ready}/${specReplicas}`);
  if (replicas > specReplicas) return inProgress(`Pending termination: ${replicas - specReplicas}`);
  const partition = (strategy.rollingUpdate as Obj | undefined)?.partition;
  if (typeof partition === "number" && partition > 0) {
    const expected = Math.max(specReplicas - partition, 0);
    if (updated < expected) return inProgress(`updated: ${updated}/${expected}`);
    return { status: "Current", message: `Partitioned roll out complete. updated: ${updated}/${expected}` };
  }
  if (specReplicas > current) return inProgress(`current: ${current}/${specReplicas}`);
  if (status.currentRevision !== status.updateRevision)
    return inProgress(`Waiting for updated revision ${String(status.updateRevision)}`);
  return { status: "Current", message: `All replicas scheduled as expected. Replicas: ${replicas}` };
}

function daemonSetStatus(object: Obj): StatusResult {
  const status = (object.status ?? {}) as Obj;
  if (status.observedGeneration === undefined) return inProgress("DaemonSet status has not been observed yet");
  const desired = num(status.desiredNumberScheduled);
  const [current, updated, available, ready] = [
    num(status.currentNumberScheduled),
    num(status.updatedNumberScheduled),
    num(status.numberAvailable),
    num(status.numberReady),
  ];
  if (desired > current) return inProgress(`Current: ${current}/${desired}`);
  if (desired > updated) return inProgress(`Updated: ${updated}/${desired}`);
  if (desired > available) return inProgress(`Available: ${available}/${desired}`);
  if (desired > ready) return inProgress(`Ready: ${ready}/${desired}`);
  return { status: "Current", message: `All replicas scheduled as expected. Replicas: ${desired}` };
}

function replicaSetStatus(object: Obj): StatusResult {
  const spec = (object.spec ?? {}) as Obj;
  const status = (object.status ?? {}) as Obj;
  if (conditionsOf(object).some((c) => c.type === "ReplicaFailure" && c.status === "True"))
    return inProgress("Replica Failure condition. Check Pods");
  const specReplicas = num(spec.replicas, 1);
  const [replicas, labelled, available, ready] = [
    num(status.replicas),
    num(status.fullyLabeledReplicas),
    num(status.availableReplicas),
    num(status.readyReplicas),
  ];
  if (specReplicas > labelled) return inProgress(`Labelled: ${labelled}/${specReplicas}`);
  if (specReplicas > available) return inProgress(`Available: ${available}/${specReplicas}`);
  if (specReplicas > ready) return inProgress(`Ready: ${ready}/${specReplicas}`);
  if (replicas > specReplicas) return inProgress(`Pending termination: ${replicas - specReplicas}`);
  return { status: "Current", message: `ReplicaSet is available. Replicas: ${replicas}` };
}

function podStatus(object: Obj): StatusResult {
  const status = (object.status ?? {}) as Obj;
  const phase = String(status.phase ?? "");
  if (phase === "Succeeded") return { status: "Current", message: "Pod has completed successfully" };
  if (phase === "Failed") return { status: "Failed", message: "Pod has completed, but not successfully" };
  const conditions = conditionsOf(object);
  if (phase === "Running") {
    if (conditions.some((c) => c.type === "Ready" && c.status === "True"))
      return { status: "Current", message: "Pod is Ready" };
    const crashing = ((status.containerStatuses ?? []) as Obj[]).find(
      (c) => ((c.state as Obj | undefined)?.waiting as Obj | undefined)?.reason === "CrashLoopBackOff",
    );
    if (crashing) return { status: "Failed", message: `Container ${String(crashing.name)} is in CrashLoopBackOff` };
    return inProgress("Pod is running but is not Ready");
  }
  const unschedulable = conditions.find(
    (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
  );
  if (unschedulable) return inProgress(`Pod could not be scheduled: ${unschedulable.message ?? ""}`.trim());
  return inProgress(`Pod is in the ${phase || "Pending"} phase`);
}

function pvcStatus(object: Obj): StatusResult {
  const phase = String(((object.status ?? {}) as Obj).phase ?? "");
  return phase === "Bound"
    ? { status: "Current", message: "PVC is Bound" }
    : inProgress(`PVC is not Bound. phase: ${phase || "Pending"}`);
}

function serviceStatus(object: Obj): StatusResult {
  const spec = (object.spec ?? {}) as Obj;
  if (spec.type !== "ExternalName" && !spec.clusterIP) return inProgress("ClusterIP not set");
  return { status: "Current", message: "Service is ready" };
}

function namespaceStatus(object: Obj): StatusResult {
  const phase = String(((object.status ?? {}) as Obj).phase ?? "");
  if (phase === "Terminating") return { status: "Terminating", message: "Namespace is terminating" };
  return phase === "Active"
    ? { status: "Current", message: "Namespace is Active" }
    : inProgress(`Namespace phase is ${phase || "unset"}`);
}

function jobStatus(object: Obj): StatusResult {
  const spec = (object.spec ?? {}) as Obj;
  const status = (object.status ?? {}) as Obj;
  const completions = num(spec.completions, num(spec.parallelism, 1));
  const [succeeded, failed, active] = [num(status.succeeded), num(status.failed), num(status.active)];
  for (const c of conditionsOf(object)) {
    if (c.type === "Complete" && c.status === "True")
      return { status: "Current", message: `Job Completed. succeeded: ${succeeded}/${completions}` };
    if (c.type === "Failed" && c.status === "True")
      return { status: "Failed", message: `Job Failed. failed: ${failed}/${completions}` };
  }
  if (!status.startTime) return inProgress("Job not started");
  return inProgress(`Job in progress. success:${succeeded}, active: ${active}, failed: ${failed}`);
}

function pdbStatus(object: Obj): StatusResult {
  const status = (object.status ?? {}) as Obj;
  if (status.observedGeneration === undefined)
    return inProgress("PodDisruptionBudget status has not been observed yet");
  const [healthy, desired] = [num(status.currentHealthy), num(status.desiredHealthy)];
  if (desired > healthy) return inProgress(`Budget not met. healthy replicas: ${healthy}/${desired}`);
  return { status: "Current", message: `Budget is met. Replicas: ${healthy}/${desired}` };
}

function crdStatus(object: Obj): StatusResult {
  const conditions = conditionsOf(object);
  if (conditions.some((c) => c.type === "NamesAccepted" && c.status === "False"))
    return { status: "Failed", message: "CRD is not accepted" };
  const established = conditions.find((c) => c.type === "Established");
  if (established?.status === "True") return { status: "Current", message: "CRD is established" };
  return inProgress(established ? "CRD is not established" : "Install in progress");
}

function inProgress(message: string): StatusResult {
  return { status: "InProgress", message };
}

function conditionsOf(object: Obj): Condition[] {
  const conditions = ((object.status ?? {}) as Obj).conditions;
  return Array.isArray(conditions)
    ? (conditions.filter((c) => typeof c === "object" && c !== null) as Condition[])
    : [];
}

function num(value: unknown, fallback = 0): number {
  return typeof value === "number" ? value : fallback;
}
