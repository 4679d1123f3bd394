import type { KubeObject } from "../apply/object.js";
import { labelsOf } from "./manifests.js";

// `flux create tenant` (flux2 v2.9 cmd/flux/create_tenant.go): per namespace, the Namespace, the
// tenant's ServiceAccount and a RoleBinding `<tenant>-reconciler` granting it (and the user
// `gotk:<namespace>:reconciler`) a ClusterRole there, all labelled with the tenant. Keys are in the
// order Go's YAML encoder writes them, so `--export` prints what flux prints.

/** The label flux puts on every object of a tenant. */
export const TENANT_LABEL = "toolkit.fluxcd.io/tenant";

export interface TenantFlags {
  withNamespace: string[];
  clusterRole: string;
  withServiceAccount?: string;
  /** The namespaces exist already: leave them out. */
  skipNamespace?: boolean;
  /** `key=value` labels on every object, beside the tenant's. */
  label?: string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function checkName(what: string, value: string): void {
  if (!DNS_LABEL.test(value))
    throw new Error(`invalid ${what} '${value}': must be a lowercase DNS-1123 label (at most 63 characters)`);
}

/** The objects of a tenant, namespace by namespace: Namespace, ServiceAccount, RoleBinding. */
export function tenantManifests(tenant: string, flags: TenantFlags): KubeObject[] {
  checkName("tenant name", tenant);
  if (!flags.clusterRole) throw new Error("--cluster-role is required");
  if (flags.withNamespace.length === 0) throw new Error("--with-namespace is required");
  const account = flags.withServiceAccount ?? tenant;
  checkName("service-account name", account);
  const labels = { ...labelsOf(flags.label).labels, [TENANT_LABEL]: tenant };
  return flags.withNamespace.flatMap((namespace) => {
    checkName("namespace", namespace);
    return [
      ...(flags.skipNamespace ? [] : [{ apiVersion: "v1", kind: "Namespace", metadata: { labels, name: namespace } }]),
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { labels, name: account, namespace } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { labels, name: `${tenant}-reconciler`, namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: flags.clusterRole },
        subjects: [
          { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: `gotk:${namespace}:reconciler` },
          { kind: "ServiceAccount", name: account, namespace },
        ],
      },
    ];
  });
}
