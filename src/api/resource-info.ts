// `gotk_resource_info`: in Flux, kube-state-metrics derives it from the objects in the cluster, with the
// custom-resource-state configuration of fluxcd/flux2-monitoring-example (kube-state-metrics-config.yaml). Sluice's
// objects live in its Store, where kube-state-metrics cannot see them, so Sluice exports the same series itself;
// this module is that configuration: which labels each kind gets, from which field.

/** The object as the labels read it (untyped: any stored object, admitted or not). */
export interface DescribedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
  status?: unknown;
}

type Path = (string | number)[];

/**
 * The per-kind labels, as flux2-monitoring-example's configuration reads them. Receiver's `webhook_path` is left
 * out on purpose: a generic Receiver's path is its only credential, and a metrics endpoint is rarely guarded.
 */
const KIND_LABELS: Record<string, Record<string, Path>> = {
  Kustomization: { revision: ["status", "lastAppliedRevision"], source_name: ["spec", "sourceRef", "name"] },
  HelmRelease: {
    revision: ["status", "history", 0, "chartVersion"],
    chart_name: ["status", "history", 0, "chartName"],
    chart_app_version: ["status", "history", 0, "appVersion"],
    chart_ref_name: ["spec", "chartRef", "name"],
    chart_source_name: ["spec", "chart", "spec", "sourceRef", "name"],
  },
  GitRepository: { revision: ["status", "artifact", "revision"], url: ["spec", "url"] },
  OCIRepository: { revision: ["status", "artifact", "revision"], url: ["spec", "url"] },
  HelmRepository: { revision: ["status", "artifact", "revision"], url: ["spec", "url"] },
  Bucket: {
    revision: ["status", "artifact", "revision"],
    endpoint: ["spec", "endpoint"],
    bucket_name: ["spec", "bucketName"],
  },
  HelmChart: {
    revision: ["status", "artifact", "revision"],
    chart_name: ["spec", "chart"],
    chart_version: ["spec", "version"],
  },
};

/** Kinds whose configuration has no `ready` label (their v1beta3 API has no conditions). */
const WITHOUT_READY = new Set(["Alert", "Provider"]);

/** Every label `gotk_resource_info` may carry, for declaring the series. */
export const RESOURCE_INFO_LABELS = [
  "customresource_group",
  "customresource_version",
  "customresource_kind",
  "exported_namespace",
  "name",
  "ready",
  "suspended",
  ...new Set(Object.values(KIND_LABELS).flatMap((labels) => Object.keys(labels))),
];

/**
 * The labels of an object's `gotk_resource_info` series. A field that is not set gives no label, as
 * kube-state-metrics leaves it out; URLs lose any user info (`https://user:token@host`), which is a credential.
 */
export function resourceInfoLabels(object: DescribedObject): Record<string, string> {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/", 2) : ["", object.apiVersion];
  const labels: Record<string, string> = {
    customresource_group: group!,
    customresource_version: version!,
    customresource_kind: object.kind,
    exported_namespace: object.metadata.namespace ?? "",
    name: object.metadata.name,
  };
  const set = (label: string, value: unknown) => {
    if (typeof value === "string" || typeof value === "boolean" || typeof value === "number")
      labels[label] = label === "url" || label === "endpoint" ? withoutUserInfo(String(value)) : String(value);
  };
  if (!WITHOUT_READY.has(object.kind)) set("ready", readyStatus(object.status));
  set("suspended", at(object, ["spec", "suspend"]));
  for (const [label, path] of Object.entries(KIND_LABELS[object.kind] ?? {})) set(label, at(object, path));
  return labels;
}

function readyStatus(status: unknown): unknown {
  const conditions = at(status, ["conditions"]);
  return Array.isArray(conditions)
    ? at(
        conditions.find((c) => at(c, ["type"]) === "Ready"),
        ["status"],
      )
    : undefined;
}

function at(value: unknown, path: Path): unknown {
  let current = value;
  for (const step of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

/** `scheme://user:password@host/…` without `user:password@`; anything that is no URL as it is. */
function withoutUserInfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1");
}
