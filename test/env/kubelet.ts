/**
 * A kubelet stand-in for the test bed. Why: the test bed runs kube-apiserver and
 * kube-controller-manager but no scheduler, kubelet or container runtime, so without this no Pod is
 * ever scheduled or Ready and no Deployment, Job or Helm release with a health check can succeed.
 *
 * What it does: registers one Node (Ready, with capacity) and renews its Lease, as a kubelet does, so
 * the node-lifecycle controller never taints or evicts it; watches Pods and, every 100 ms, binds each
 * unscheduled one to that Node (the scheduler's part, through the `binding` subresource), then reports
 * it started: Running and Ready, or Succeeded for Pods that run to completion (restartPolicy Never or
 * OnFailure: Jobs' Pods, Helm hooks and tests). `failing` Pods crash-loop (Running, never Ready), or
 * end Failed when they run to completion. A deleted Pod on the Node is removed at once, as a kubelet
 * does once its containers stop. The real ReplicaSet, Deployment and Job controllers do the rest.
 *
 * What it does not model: images, processes, probes and restarts over time; resources, taints,
 * tolerations, node selectors and affinity (every Pod fits); volumes; Pod IPs and networking; grace
 * periods; restartable (sidecar) init containers' running state. `failing` is asked once per Pod, when
 * it is first reported.
 */
import { randomBytes } from "node:crypto";
import {
  CoordinationV1Api,
  CoreV1Api,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type Informer,
  type ObjectCache,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodStatus,
} from "@kubernetes/client-node";
import type { KubeInfo } from "./kube.js";
import { adminKubeConfig } from "./kube-client.js";

export interface KubeletOptions {
  /** Only Pods in these namespaces (default: all). Tests sharing the test bed give their own. */
  namespaces?: string[];
  /** Pods for which this is true never become Ready: CrashLoopBackOff, or Failed if they run to completion. */
  failing?: (pod: V1Pod) => boolean;
  /** @default "sluice-node-<random>" */
  nodeName?: string;
}

export interface Kubelet {
  nodeName: string;
  /** Stops watching and removes the Node and its Lease (the controller manager then collects its Pods). */
  stop(): Promise<void>;
}

const TICK_MS = 100;
/** A kubelet renews its Lease every quarter of its 40 s duration. */
const LEASE_SECONDS = 40;
const LEASE_NAMESPACE = "kube-node-lease";
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

type Outcome = "ready" | "crashing" | "succeeded" | "failed";

export async function startKubelet(kube: KubeInfo, options: KubeletOptions = {}): Promise<Kubelet> {
  const kc = adminKubeConfig(kube);
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const nodeName = options.nodeName ?? `sluice-node-${randomBytes(3).toString("hex")}`;
  await registerNode(core, nodeName);
  const renewLease = () =>
    leases.patchNamespacedLease(
      { name: nodeName, namespace: LEASE_NAMESPACE, body: { spec: { renewTime: new V1MicroTime() } } },
      MERGE_PATCH,
    );
  await leases.createNamespacedLease({
    namespace: LEASE_NAMESPACE,
    body: {
      metadata: { name: nodeName },
      spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_SECONDS, renewTime: new V1MicroTime() },
    },
  });

  let stopped = false;
  /** uid → the resourceVersion last acted on, so each observed state is acted on once (retried on failure). */
  const acted = new Map<string, string>();
  const inFlight = new Set<Promise<void>>();
  const informers = (options.namespaces ?? [undefined]).map((namespace) => podInformer(kc, core, namespace));
  // A broken watch is restarted (stop() aborting it is reported as an error too).
  const restart = (informer: Informer<V1Pod>): unknown =>
    setTimeout(() => !stopped && informer.start().catch(() => restart(informer)), 1_000);
  for (const informer of informers) {
    informer.on("error", () => restart(informer));
    informer.on("delete", (pod) => acted.delete(pod.metadata!.uid!));
  }
  await Promise.all(informers.map((i) => i.start()));

  const act = (pod: V1Pod, action: () => Promise<unknown>) => {
    const { uid, resourceVersion, namespace, name } = pod.metadata!;
    if (acted.get(uid!) === resourceVersion) return;
    acted.set(uid!, resourceVersion!);
    const done = action().then(
      () => undefined,
      (error: unknown) => {
        acted.delete(uid!);
        if (!stopped) console.warn(`kubelet stand-in: ${namespace}/${name}: ${String(error)}`);
      },
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };
  const tick = () => {
    for (const pod of informers.flatMap((i) => i.list())) {
      const { name, namespace, uid, deletionTimestamp } = pod.metadata!;
      const boundTo = pod.spec?.nodeName;
      if (!boundTo && !deletionTimestamp)
        act(pod, () =>
          core.createNamespacedPodBinding({
            name: name!,
            namespace: namespace!,
            body: { metadata: { name }, target: { apiVersion: "v1", kind: "Node", name: nodeName } },
          }),
        );
      else if (boundTo !== nodeName) continue;
      else if (deletionTimestamp)
        act(pod, () =>
          core.deleteNamespacedPod({
            name: name!,
            namespace: namespace!,
            // In the body: the API server ignores query options when a body is sent.
            body: { gracePeriodSeconds: 0, preconditions: { uid } },
          }),
        );
      else if (pod.status?.phase === "Pending" || !pod.status?.phase)
        act(pod, () =>
          core.patchNamespacedPodStatus(
            {
              name: name!,
              namespace: namespace!,
              body: { status: startedStatus(pod, outcomeOf(pod, options.failing)) },
            },
            MERGE_PATCH,
          ),
        );
    }
  };
  const ticker = setInterval(tick, TICK_MS);
  const heartbeat = setInterval(() => void renewLease().catch(() => {}), (LEASE_SECONDS / 4) * 1_000);

  return {
    nodeName,
    async stop() {
      stopped = true;
      clearInterval(ticker);
      clearInterval(heartbeat);
      await Promise.all(informers.map((i) => i.stop()));
      await Promise.allSettled(inFlight);
      await Promise.allSettled([
        core.deleteNode({ name: nodeName }),
        leases.deleteNamespacedLease({ name: nodeName, namespace: LEASE_NAMESPACE }),
      ]);
    },
  };
}

function podInformer(
  kc: ReturnType<typeof adminKubeConfig>,
  core: CoreV1Api,
  namespace: string | undefined,
): Informer<V1Pod> & ObjectCache<V1Pod> {
  return namespace
    ? makeInformer(kc, `/api/v1/namespaces/${namespace}/pods`, () => core.listNamespacedPod({ namespace }))
    : makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces());
}

async function registerNode(core: CoreV1Api, name: string): Promise<void> {
  const now = new Date();
  const condition = (type: string, status: boolean, reason: string) => ({
    type,
    status: status ? "True" : "False",
    reason,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  const resources = { cpu: "64", memory: "256Gi", pods: "1000", "ephemeral-storage": "1Ti" };
  await core.createNode({
    body: {
      metadata: {
        name,
        labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" },
      },
      status: {
        capacity: resources,
        allocatable: resources,
        addresses: [
          { type: "InternalIP", address: "127.0.0.1" },
          { type: "Hostname", address: name },
        ],
        conditions: [
          condition("MemoryPressure", false, "KubeletHasSufficientMemory"),
          condition("DiskPressure", false, "KubeletHasNoDiskPressure"),
          condition("PIDPressure", false, "KubeletHasSufficientPID"),
          condition("Ready", true, "KubeletReady"),
        ],
      },
    },
  });
}

function outcomeOf(pod: V1Pod, failing: KubeletOptions["failing"]): Outcome {
  const runsToCompletion = pod.spec?.restartPolicy === "Never" || pod.spec?.restartPolicy === "OnFailure";
  const fails = failing?.(pod) ?? false;
  if (runsToCompletion) return fails ? "failed" : "succeeded";
  return fails ? "crashing" : "ready";
}

/** The status a kubelet reports once the Pod's containers started (or, for one that runs to completion, ended). */
function startedStatus(pod: V1Pod, outcome: Outcome): V1PodStatus {
  const now = new Date();
  const ended = outcome === "succeeded" || outcome === "failed";
  const ready = outcome === "ready";
  const containers = pod.spec?.containers ?? [];
  const notReady = ended
    ? { reason: "PodCompleted" }
    : {
        reason: "ContainersNotReady",
        message: `containers with unready status: [${containers.map((c) => c.name).join(" ")}]`,
      };
  const condition = (type: string, status: boolean, why = {}) => ({
    type,
    status: status ? "True" : "False",
    lastTransitionTime: now,
    ...(status ? {} : why),
  });
  return {
    phase: { ready: "Running", crashing: "Running", succeeded: "Succeeded", failed: "Failed" }[outcome],
    hostIP: "127.0.0.1",
    hostIPs: [{ ip: "127.0.0.1" }],
    startTime: now,
    conditions: [
      condition("PodReadyToStartContainers", !ended),
      condition("Initialized", true),
      condition("Ready", ready, notReady),
      condition("ContainersReady", ready, notReady),
      condition("PodScheduled", true),
    ],
    initContainerStatuses: (pod.spec?.initContainers ?? []).map((c) => containerStatus(c, "succeeded", now)),
    containerStatuses: containers.map((c) => containerStatus(c, outcome, now)),
  };
}

function containerStatus(container: V1Container, outcome: Outcome, now: Date): V1ContainerStatus {
  const exited = (exitCode: number) => ({
    terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", startedAt: now, finishedAt: now },
  });
  const state = {
    ready: { running: { startedAt: now } },
    crashing: {
      waiting: { reason: "CrashLoopBackOff", message: `back-off 10s restarting failed container=${container.name}` },
    },
    succeeded: exited(0),
    failed: exited(1),
  }[outcome];
  return {
    name: container.name,
    image: container.image ?? "",
    imageID: "",
    ready: outcome === "ready",
    started: outcome === "ready",
    restartCount: outcome === "crashing" ? 1 : 0,
    state,
    ...(outcome === "crashing" ? { lastState: exited(1) } : {}),
  };
}
