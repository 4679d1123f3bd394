import type { Clock } from "../ports/clock.js";
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
export async function mayServiceAccount(
  client: KubeClient,
  account: ServiceAccountRef,
  attributes: ResourceAttributes,
): Promise<boolean> {
  const { user, groups } = serviceAccount(account.namespace, account.name);
  const review = await client.send<SubjectAccessReview>({
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: { user, groups, resourceAttributes: attributes },
    },
  });
  return review.status?.allowed === true && review.status.denied !== true;
}

/**
 * How long an answer is reused across reconciles of the same revision. A revoked RoleBinding takes
 * effect within this bound for content already approved, and at once for a new revision; a right
 * granted after a refusal, within this bound too.
 */
export const ACCESS_REVIEW_TTL_MS = 30_000;

/** What an answer is about: the identity, the resource and verb, and the source revision whose content asked. */
export interface AccessQuestion {
  account: ServiceAccountRef;
  attributes: ResourceAttributes;
  /** The revision being applied (none when deleting): a new revision is never judged by an older answer. */
  revision?: string;
}

interface CachedAnswer {
  answer: Promise<boolean>;
  expiresAt: number;
}

const reviewsByClient = new WeakMap<KubeClient, AccessReviews>();

/**
 * Answers cached per (identity, group, resource, verb, namespace, revision) for ACCESS_REVIEW_TTL_MS,
 * shared by every reconcile that reviews through one client: a fleet of tenant Kustomizations
 * registering the same kind in their namespace at one revision asks the API server once. An answer
 * only ever re-approves content of a revision it approved, so a tenant cannot ride a stale answer
 * with new content.
 */
export class AccessReviews {
  // Insertion order is expiry order (one TTL, and a key is set only when absent), so expired answers are at the front.
  private readonly answers = new Map<string, CachedAnswer>();

  private constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
  ) {}

  /** The reviews of `client` (the control plane's identity on one cluster), shared across reconciles. */
  static of(client: KubeClient, clock: Clock): AccessReviews {
    let reviews = reviewsByClient.get(client);
    if (!reviews) {
      reviews = new AccessReviews(client, clock);
      reviewsByClient.set(client, reviews);
    }
    return reviews;
  }

  may({ account, attributes, revision }: AccessQuestion): Promise<boolean> {
    const now = this.clock.now();
    this.forgetExpired(now);
    const key = JSON.stringify([
      account.namespace,
      account.name,
      attributes.group,
      attributes.resource,
      attributes.verb,
      attributes.namespace ?? "",
      revision ?? "",
    ]);
    const cached = this.answers.get(key);
    if (cached) return cached.answer;
    const entry = {
      answer: mayServiceAccount(this.client, account, attributes),
      expiresAt: now + ACCESS_REVIEW_TTL_MS,
    };
    this.answers.set(key, entry);
    // A failed review is not an answer: the next reconcile asks again.
    entry.answer.catch(() => this.answers.get(key) === entry && this.answers.delete(key));
    return entry.answer;
  }

  private forgetExpired(now: number): void {
    for (const [key, { expiresAt }] of this.answers) {
      if (expiresAt > now) return;
      this.answers.delete(key);
    }
  }
}
