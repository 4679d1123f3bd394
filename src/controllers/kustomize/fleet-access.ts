import { CLUSTER_ANNOTATION, clusterAllowsTenant, clusterKey, clusterRegistration } from "../../api/cluster.js";
import type { Kustomization } from "../../api/kustomization.js";
import { InvalidObjectError, parseObject } from "../../api/parse.js";
import { parseEntryId, type InventoryEntry } from "../../apply/inventory.js";
import { formatId, groupOf, type KubeObject } from "../../apply/object.js";
import {
  serviceAccountUser,
  type AccessQuestion,
  type AccessReviews,
  type ResourceAttributes,
  type ServiceAccountRef,
} from "../../cluster/access-review.js";
import { type Store } from "../../store/store.js";
import { formatKey, keyOf } from "../../api/object-key.js";
import type { Settings } from "../settings.js";

// In Flux every object a Kustomization applies passes the API server's RBAC as the
// Kustomization's service account, Flux objects included. Sluice registers Flux objects in its
// Store instead, so it asks the same question itself before writing anything: a SubjectAccessReview
// per (identity, resource, verb, namespace) on the target cluster, its answer reused for the same
// revision for a short while (AccessReviews).

/**
 * The API group of each Flux kind. The Store keys objects by kind alone, so access is asked on the
 * kind's own group whatever group the rendered object claims (`evil.toolkit.fluxcd.io/v1` Kustomization
 * is still a Kustomization once stored).
 */
const FLUX_KIND_GROUPS: Record<string, string> = {
  GitRepository: "source.toolkit.fluxcd.io",
  OCIRepository: "source.toolkit.fluxcd.io",
  Bucket: "source.toolkit.fluxcd.io",
  HelmRepository: "source.toolkit.fluxcd.io",
  HelmChart: "source.toolkit.fluxcd.io",
  ExternalArtifact: "source.toolkit.fluxcd.io",
  ArtifactGenerator: "source.extensions.fluxcd.io",
  Kustomization: "kustomize.toolkit.fluxcd.io",
  HelmRelease: "helm.toolkit.fluxcd.io",
  Alert: "notification.toolkit.fluxcd.io",
  Provider: "notification.toolkit.fluxcd.io",
  Receiver: "notification.toolkit.fluxcd.io",
  ImageRepository: "image.toolkit.fluxcd.io",
  ImagePolicy: "image.toolkit.fluxcd.io",
  ImageUpdateAutomation: "image.toolkit.fluxcd.io",
};

/**
 * Who a Kustomization acts as: `spec.serviceAccountName`, else the control plane's default service
 * account, both in the Kustomization's namespace; undefined is the control plane's own identity.
 * An empty name counts as unset, as in Flux, so `serviceAccountName: ""` cannot shed the default.
 */
export function identityOf(
  ks: Pick<Kustomization, "metadata"> & { spec: { serviceAccountName?: string } },
  settings: Pick<Settings, "defaultServiceAccount">,
): ServiceAccountRef | undefined {
  const name = ks.spec.serviceAccountName || settings.defaultServiceAccount;
  return name ? { namespace: ks.metadata.namespace ?? "default", name } : undefined;
}

/** The RBAC resource of a Flux kind: its group and the lower-case plural CRDs use (`imagepolicies`). */
export function fluxResource(object: {
  apiVersion: string;
  kind: string;
}): Pick<ResourceAttributes, "group" | "resource"> {
  const lower = object.kind.toLowerCase();
  const resource = /[^aeiou]y$/.test(lower)
    ? `${lower.slice(0, -1)}ies`
    : /(s|x|ch|sh)$/.test(lower)
      ? `${lower}es`
      : `${lower}s`;
  return { group: FLUX_KIND_GROUPS[object.kind] ?? groupOf(object.apiVersion), resource };
}

/** What a render would change in the Store: objects to register, and owned objects it would prune. */
export interface FleetChange {
  register: KubeObject[];
  prune: InventoryEntry[];
}

/** How an identity's rights are decided on the target cluster. */
export type Authority =
  /** A cluster the control plane reaches: ask its API server. */
  | { reviews: AccessReviews }
  /** An agent cluster's API server is out of reach: its own namespace only, the rights of a namespace admin. */
  | { agentCluster: string };

/** Who asks to change the Store, and how their rights are decided. */
export interface FleetRequester {
  store: Store;
  identity: ServiceAccountRef;
  authority: Authority;
  /** The control plane's defaultServiceAccount: a registered Kustomization without one of its own acts as it. */
  defaultServiceAccount?: string;
  /** The source revision whose render asks (none when deleting): answers are reused only for the same revision. */
  revision?: string;
}

/**
 * Every refusal for a change, one line each (`Kind/namespace/name <verb> refused: …`), or none.
 * Checks everything before anything is written: registering needs create (new) or patch (existing:
 * Flux applies server-side), pruning needs delete; a Kustomization may target only a cluster whose
 * registration allows the identity's namespace, and may not shed the identity (act as the control plane).
 */
export async function fleetRefusals(
  { store, identity, authority, defaultServiceAccount, revision }: FleetRequester,
  change: FleetChange,
): Promise<string[]> {
  const asks = [
    ...(await Promise.all(
      change.register.map(async (o) => ({
        ref: keyOf(o),
        object: o,
        verb: (await store.get(keyOf(o))) ? ("patch" as const) : ("create" as const),
      })),
    )),
    ...change.prune.map((entry) => {
      const meta = parseEntryId(entry.id);
      return {
        ref: meta,
        object: { apiVersion: `${meta.group}/${entry.v}`, kind: meta.kind },
        verb: "delete" as const,
      };
    }),
  ];
  const refusals = await Promise.all(
    asks.map(async ({ ref, object, verb }) => {
      const attributes = { ...fluxResource(object), verb, namespace: ref.namespace };
      if (await mayAct({ account: identity, attributes, revision }, authority)) return undefined;
      const where =
        "agentCluster" in authority
          ? ` (agent cluster '${authority.agentCluster}': a service account manages Flux objects in its own namespace only)`
          : "";
      const resource = `${attributes.resource}${attributes.group ? `.${attributes.group}` : ""}`;
      return `${formatId(ref)} ${verb} refused: ${serviceAccountUser(identity)} may not ${verb} ${resource} in namespace ${ref.namespace}${where}`;
    }),
  );
  const kustomizations = change.register.filter((o) => o.kind === "Kustomization");
  const targets = await Promise.all(kustomizations.map((o) => targetRefusal(store, o, identity.namespace)));
  const unidentified = kustomizations
    .filter(
      (o) => !(o.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName && !defaultServiceAccount,
    )
    .map(
      (o) =>
        `${formatKey(keyOf(o))} register refused: it names no serviceAccountName and would act as the control plane; ${serviceAccountUser(identity)} may register only Kustomizations that act as a service account`,
    );
  return [...refusals, ...targets, ...unidentified].filter((r): r is string => r !== undefined);
}

function mayAct(question: AccessQuestion, authority: Authority): Promise<boolean> {
  if ("reviews" in authority) return authority.reviews.may(question);
  return Promise.resolve(question.attributes.namespace === question.account.namespace);
}

/** Why a rendered Kustomization may not target the cluster its annotation names, for a tenant of `namespace`. */
async function targetRefusal(store: Store, object: KubeObject, namespace: string): Promise<string | undefined> {
  const name = object.metadata.annotations?.[CLUSTER_ANNOTATION];
  if (!name) return undefined;
  const refusal = await clusterRefusal(store, name, namespace);
  return refusal && `${formatKey(keyOf(object))} target refused: ${refusal}`;
}

/**
 * Why a Kustomization of `namespace` acting as a service account may not target cluster `name`:
 * not registered, or its registration does not list the namespace in `spec.allowedNamespaces`.
 */
export async function clusterRefusal(store: Store, name: string, namespace: string): Promise<string | undefined> {
  const stored = await store.get(clusterKey(name));
  if (!stored) return `cluster '${name}' is not registered`;
  try {
    if (clusterAllowsTenant(parseObject(clusterRegistration, stored.object), namespace)) return undefined;
  } catch (error) {
    if (error instanceof InvalidObjectError) return `cluster '${name}': ${error.message}`;
    throw error;
  }
  return `cluster '${name}' does not allow namespace '${namespace}' (its registration's spec.allowedNamespaces)`;
}
