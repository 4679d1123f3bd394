/**
 * Helm 3's readiness rules, which a HelmRelease's `waitStrategy: legacy` selects (helm-controller hands the wait
 * to Helm's own `legacy` waiter; helm v4.2 pkg/kube ready.go). Unlike kstatus they read the workload's pods and
 * ReplicaSets: a Deployment is ready when its *new* ReplicaSet has `replicas - maxUnavailable` ready pods, a
 * Service when it has a cluster IP (and a LoadBalancer an ingress), a PersistentVolumeClaim when Bound. Kinds
 * Helm does not know are ready without a request. Each call reads each object once; the caller requeues.
 */

import { isDeepStrictEqual } from "node:util";
import type { Cluster } from "../../cluster/cluster.js";
import { describeApiError } from "../errors.js";
import { formatId, type KubeObject } from "../object.js";
import { getObject, listObjects } from "../objects-api.js";
import type { ObjectHealth, ObjectRef } from "../wait.js";
import type { StatusResult } from "./status.js";

type Obj = Record<string, unknown>;

/** With `checkJobs` (Helm's WaitWithJobs, i.e. not `disableWaitForJobs`), a Job must have completed. */
export interface LegacyOptions {
  checkJobs: boolean;
}

const READY: StatusResult = { status: "Current", message: "Resource is ready" };
const notReady = (message: string): StatusResult => ({ status: "InProgress", message });

/** Each object's readiness by Helm 3's rules: Current, InProgress, Failed (a failed Job, a missing object). */
export async function legacyReadiness(
  cluster: Cluster,
  refs: ObjectRef[],
  options: LegacyOptions,
): Promise<ObjectHealth[]> {
  return Promise.all(
    refs.map(async (ref) => {
      const subject = formatId({ kind: ref.kind, namespace: ref.metadata.namespace ?? "", name: ref.metadata.name });
      try {
        return { subject, ...(await readinessOf(cluster, ref, options)) };
      } catch (error) {
        // Helm retries what may pass (5xx, 429, no response) and gives up on the rest (403, …) at once.
        const status = (error as { status?: number }).status;
        const retryable = status === undefined || status === 429 || (status >= 500 && status !== 501);
        const message = describeApiError(error, { secret: false, identity: cluster.client.identity });
        return { subject, status: retryable ? "Unknown" : "Failed", message };
      }
    }),
  );
}

async function readinessOf(cluster: Cluster, ref: ObjectRef, options: LegacyOptions): Promise<StatusResult> {
  const rule = RULES[`${ref.apiVersion}/${ref.kind}`];
  if (!rule || (ref.kind === "Job" && !options.checkJobs)) return READY;
  const info = await cluster.discovery.find(ref.apiVersion, ref.kind);
  const namespace = ref.metadata.namespace ?? "";
  const live = info && (await getObject(cluster, info, namespace, ref.metadata.name));
  // Helm's GET fails on a missing object, which ends its wait.
  if (!live) return { status: "Failed", message: `${ref.kind} ${JSON.stringify(ref.metadata.name)} not found` };
  const related = async (apiVersion: string, kind: string, selector: string) => {
    const related = await cluster.discovery.find(apiVersion, kind);
    return related ? listObjects(cluster, related, namespace, selector) : [];
  };
  return rule(live, related);
}

type Related = (apiVersion: string, kind: string, selector: string) => Promise<KubeObject[]>;
type Rule = (live: KubeObject, related: Related) => StatusResult | Promise<StatusResult>;

const RULES: Record<string, Rule> = {
  "v1/Pod": (pod) => (podReady(pod) ? READY : notReady("Pod is not ready")),
  "batch/v1/Job": jobReadiness,
  "apps/v1/Deployment": deploymentReadiness,
  "v1/PersistentVolumeClaim": (claim) =>
    field(claim, "status", "phase") === "Bound" ? READY : notReady("PersistentVolumeClaim is not bound"),
  "v1/Service": serviceReadiness,
  "apps/v1/DaemonSet": daemonSetReadiness,
  "apiextensions.k8s.io/v1/CustomResourceDefinition": crdReadiness,
  "apiextensions.k8s.io/v1beta1/CustomResourceDefinition": crdReadiness,
  "apps/v1/StatefulSet": statefulSetReadiness,
  "v1/ReplicationController": async (rc, related) =>
    behind(rc) ?? podsReadiness(await related("v1", "Pod", mapSelector(field(rc, "spec", "selector")))),
  "apps/v1/ReplicaSet": async (rs, related) =>
    behind(rs) ?? podsReadiness(await related("v1", "Pod", labelSelectorString(field(rs, "spec", "selector")))),
};

function jobReadiness(job: KubeObject): StatusResult {
  const failed = num(field(job, "status", "failed"));
  if (failed > num(field(job, "spec", "backoffLimit"))) {
    // Helm's own verdict: a failed Job cannot recover (its waiter then retries the error for a minute; Sluice
    // ends the wait at once).
    return { status: "Failed", message: `job is failed: ${job.metadata.namespace}/${job.metadata.name}` };
  }
  const completions = field(job, "spec", "completions");
  if (typeof completions === "number" && num(field(job, "status", "succeeded")) < completions)
    return notReady(`Job has ${num(field(job, "status", "succeeded"))} of ${completions} completions`);
  return READY;
}

async function deploymentReadiness(deployment: KubeObject, related: Related): Promise<StatusResult> {
  if (field(deployment, "spec", "paused") === true) return READY;
  const selector = labelSelectorString(field(deployment, "spec", "selector"));
  const controlled = (rs: KubeObject) =>
    ((rs.metadata.ownerReferences ?? []) as { uid?: string; controller?: boolean }[]).some(
      (owner) => owner.controller && owner.uid === deployment.metadata.uid,
    );
  const owned = (await related("apps/v1", "ReplicaSet", selector)).filter(controlled);
  // The oldest first, as Kubernetes picks when two share the template.
  owned.sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
  const template = field(deployment, "spec", "template");
  const replicaSet = owned.find((rs) => sameTemplate(field(rs, "spec", "template"), template));
  if (!replicaSet) return notReady("Deployment has no ReplicaSet of its current template yet");
  const stale = behind(replicaSet) ?? behind(deployment);
  if (stale) return stale;
  const expected = num(field(deployment, "spec", "replicas")) - maxUnavailable(deployment);
  const ready = num(field(replicaSet, "status", "readyReplicas"));
  return ready >= expected
    ? READY
    : notReady(`Deployment's new ReplicaSet has ${ready} ready pods, ${expected} needed`);
}

/** deploymentutil.MaxUnavailable: of a rolling update only, fenceposts resolved as the Deployment controller does. */
export function maxUnavailable(deployment: KubeObject): number {
  const replicas = num(field(deployment, "spec", "replicas"));
  if (field(deployment, "spec", "strategy", "type") !== "RollingUpdate" || replicas === 0) return 0;
  const rolling = (field(deployment, "spec", "strategy", "rollingUpdate") ?? {}) as Obj;
  const surge = scaled(rolling.maxSurge ?? 0, replicas, true) ?? 0;
  let unavailable = scaled(rolling.maxUnavailable ?? 0, replicas, false) ?? 0;
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return Math.min(unavailable, replicas);
}

function serviceReadiness(service: KubeObject): StatusResult {
  const type = field(service, "spec", "type");
  if (type === "ExternalName") return READY;
  if (!field(service, "spec", "clusterIP")) return notReady("Service does not have a cluster IP address");
  const externalIPs = field(service, "spec", "externalIPs");
  if (type === "LoadBalancer" && !(Array.isArray(externalIPs) && externalIPs.length > 0)) {
    if (!Array.isArray(field(service, "status", "loadBalancer", "ingress")))
      return notReady("Service does not have a load balancer ingress address");
  }
  return READY;
}

function daemonSetReadiness(daemonSet: KubeObject): StatusResult {
  const stale = behind(daemonSet);
  if (stale) return stale;
  if (field(daemonSet, "spec", "updateStrategy", "type") !== "RollingUpdate") return READY;
  const desired = num(field(daemonSet, "status", "desiredNumberScheduled"));
  const updated = num(field(daemonSet, "status", "updatedNumberScheduled"));
  if (updated !== desired) return notReady(`DaemonSet has ${updated} of ${desired} updated pods scheduled`);
  // An unreadable maxUnavailable counts as all of them, as Helm's fallback does.
  const unavailable = scaled(
    field(daemonSet, "spec", "updateStrategy", "rollingUpdate", "maxUnavailable"),
    desired,
    true,
  );
  const expected = desired - (unavailable ?? desired);
  const ready = num(field(daemonSet, "status", "numberReady"));
  return ready >= expected ? READY : notReady(`DaemonSet has ${ready} ready pods, ${expected} needed`);
}

function crdReadiness(crd: KubeObject): StatusResult {
  const conditions = (field(crd, "status", "conditions") ?? []) as { type?: string; status?: string }[];
  // NamesAccepted=False is a naming conflict, which Helm leaves to others and lets pass.
  const passes = conditions.some(
    (c) => (c.type === "Established" && c.status === "True") || (c.type === "NamesAccepted" && c.status === "False"),
  );
  return passes ? READY : notReady("CustomResourceDefinition is not established");
}

function statefulSetReadiness(statefulSet: KubeObject): StatusResult {
  const stale = behind(statefulSet);
  if (stale) return stale;
  if (field(statefulSet, "spec", "updateStrategy", "type") !== "RollingUpdate") return READY;
  const partition = num(field(statefulSet, "spec", "updateStrategy", "rollingUpdate", "partition"));
  const specReplicas = field(statefulSet, "spec", "replicas");
  const replicas = typeof specReplicas === "number" ? specReplicas : 1;
  const updated = num(field(statefulSet, "status", "updatedReplicas"));
  if (updated < replicas - partition)
    return notReady(`StatefulSet has ${updated} of ${replicas - partition} updated pods scheduled`);
  const ready = num(field(statefulSet, "status", "readyReplicas"));
  if (ready !== replicas) return notReady(`StatefulSet has ${ready} of ${replicas} pods ready`);
  if (
    partition === 0 &&
    field(statefulSet, "status", "currentRevision") !== field(statefulSet, "status", "updateRevision")
  )
    return notReady("StatefulSet's current revision is not its update revision yet");
  return READY;
}

function podsReadiness(pods: KubeObject[]): StatusResult {
  const waiting = pods.filter((pod) => !podReady(pod)).length;
  return waiting === 0 ? READY : notReady(`${waiting} of ${pods.length} pods are not ready`);
}

function podReady(pod: KubeObject): boolean {
  const conditions = (field(pod, "status", "conditions") ?? []) as { type?: string; status?: string }[];
  return conditions.some((c) => c.type === "Ready" && c.status === "True");
}

/** The generation check Helm makes of every workload it reads: its controller has seen the newest spec. */
function behind(object: KubeObject): StatusResult | undefined {
  const observed = num(field(object, "status", "observedGeneration"));
  return observed === object.metadata.generation
    ? undefined
    : notReady(`${object.kind} generation is ${object.metadata.generation}, observed ${observed}`);
}

/** EqualIgnoreHash: two pod templates, the Deployment controller's `pod-template-hash` label aside. */
function sameTemplate(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(withoutHash(a), withoutHash(b));
}

function withoutHash(template: unknown): unknown {
  const copy = structuredClone(template) as { metadata?: { labels?: Record<string, string> } } | undefined;
  delete copy?.metadata?.labels?.["pod-template-hash"];
  return pruneEmpty(copy);
}

/** apimachinery's semantic equality holds an empty list or map equal to none. */
function pruneEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(pruneEmpty);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value)
    .map(([key, item]) => [key, pruneEmpty(item)] as const)
    .filter(([, item]) => item !== undefined);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

/** intstr.GetScaledValueFromIntOrPercent; undefined for what is neither a number nor `N%`. */
export function scaled(value: unknown, total: number, roundUp: boolean): number | undefined {
  if (typeof value === "number") return value;
  const percent = typeof value === "string" ? /^(\d+)%$/.exec(value) : null;
  if (!percent) return undefined;
  const exact = (Number(percent[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** metav1.LabelSelectorAsSelector's text, for a LIST's `labelSelector`. */
export function labelSelectorString(selector: unknown): string {
  const { matchLabels, matchExpressions } = (selector ?? {}) as {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  };
  const requirements = Object.entries(matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const { key, operator, values = [] } of matchExpressions ?? []) {
    if (operator === "In" || operator === "NotIn")
      requirements.push(`${key} ${operator.toLowerCase()} (${values.join(",")})`);
    else requirements.push(operator === "Exists" ? key : `!${key}`);
  }
  return requirements.join(",");
}

function mapSelector(selector: unknown): string {
  return Object.entries((selector ?? {}) as Record<string, string>)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

function field(object: unknown, ...path: string[]): unknown {
  return path.reduce<unknown>((at, key) => (at as Obj | undefined)?.[key], object);
}

function num(value: unknown): number {
  return typeof value === "number" ? value : 0;
}
