import type { KubeInfo } from "../env/kube.js";
import { openCluster, type Cluster } from "../../src/cluster/cluster.js";
import type { Impersonation } from "../../src/cluster/kube-client.js";
import type { ApplyFailedError } from "../../src/apply/errors.js";
import type { KubeObject } from "../../src/apply/object.js";
import { systemClock } from "../../src/ports/clock.js";

/** A Cluster for the test bed's admin, or an impersonated identity. */
export function adminCluster(kube: KubeInfo, impersonate?: Impersonation): Promise<Cluster> {
  return openCluster({ kubeconfig: kube.kubeconfig }, systemClock, impersonate ? { impersonate } : {});
}

/** A ConfigMap object. */
export function configMap(
  name: string,
  data: Record<string, string>,
  extra: Partial<KubeObject["metadata"]> = {},
): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, ...extra }, data };
}

/** A Deployment with `replicas` (0 becomes Available under the controller manager; more never does, no kubelet). */
export function deployment(
  name: string,
  options: { replicas?: number; app?: string; image?: string; annotations?: Record<string, string> } = {},
): KubeObject {
  const app = options.app ?? name;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec: {
      replicas: options.replicas ?? 0,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app } },
        spec: { containers: [{ name: "app", image: options.image ?? "registry.invalid/app:1" }] },
      },
    },
  };
}

/** A namespaced CRD `Widget` in group `<group>` with a status subresource. */
export function widgetCrd(group: string): KubeObject {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  };
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection<E extends Error = ApplyFailedError>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error("expected a rejection, but the promise resolved");
}
