import { serviceAccount } from "./cluster.js";
import type { KubeClient } from "./kube-client.js";

/** A service account that acts for a Kustomization (Flux's `serviceAccountName`, or the default one). */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** What is asked: may the identity do `verb` on `group`/`resource` in `namespace` (cluster-wide when absent)? */
export interface ResourceAttributes {
  group: string;
  resource: string;
  verb: "create" | "patch" | "delete";
  namespace?: string;
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

/** The Kubernetes user name of a service account, as RBAC and audit logs show it. */
export function serviceAccountUser(account: ServiceAccountRef): string {
  return serviceAccount(account.namespace, account.name).user;
}

/**
 * Asks the API server whether a service account may act on a resource: a SubjectAccessReview
 * (authorization.k8s.io/v1) with the user and groups Kubernetes gives that service account, so
 * the answer is the one RBAC would give its requests. `client` must be allowed to create
 * subjectaccessreviews (the control plane's own identity, not the impersonated one).
 */
export async function mayServiceAccount(client: KubeClient, account: ServiceAccountRef, attributes: ResourceAttributes): Promise<boolean> {
  const { user, groups } = serviceAccount(account.namespace, account.name);
  const review = await client.send<SubjectAccessReview>({
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    body: { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user, groups, resourceAttributes: attributes } },
  });
  return review.status?.allowed === true && review.status.denied !== true;
}

/**
 * Answers for one reconcile, cached per (identity, group, resource, verb, namespace): a render that
 * registers many objects of one kind in one namespace asks once. A new reconcile asks again, so a
 * revoked RoleBinding takes effect at the next one.
 */
export class AccessReviews {
  private readonly answers = new Map<string, Promise<boolean>>();

  constructor(private readonly client: KubeClient) {}

  may(account: ServiceAccountRef, attributes: ResourceAttributes): Promise<boolean> {
    const key = JSON.stringify([account.namespace, account.name, attributes.group, attributes.resource, attributes.verb, attributes.namespace ?? ""]);
    let answer = this.answers.get(key);
    if (!answer) {
      answer = mayServiceAccount(this.client, account, attributes);
      this.answers.set(key, answer);
      answer.catch(() => this.answers.delete(key));
    }
    return answer;
  }
}
