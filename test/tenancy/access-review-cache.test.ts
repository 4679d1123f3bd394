import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { applyAll } from "../../src/apply/apply.js";
import { tenantManifests } from "../../src/cli/tenant.js";
import {
  ACCESS_REVIEW_TTL_MS,
  AccessReviews,
  mayServiceAccount,
  type ResourceAttributes,
} from "../../src/cluster/access-review.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { KubeClient } from "../../src/cluster/kube-client.js";
import { freshNamespace, objectApi } from "../env/kube-client.js";
import { adminCluster } from "../apply/helpers.js";

// The SubjectAccessReview cache behind the Store's tenancy check, against a real kube-apiserver with
// RBAC: answers are shared across reconciles per (identity, resource, verb, namespace, revision) for
// ACCESS_REVIEW_TTL_MS, so a revoked RoleBinding holds back a new revision at once and an approved
// one within that bound.

const { kube } = inject("testbed");
let admin: Cluster;
let namespace: { name: string; remove(): Promise<void> };
const account = () => ({ namespace: namespace.name, name: "team" });
const createKustomizations = (): ResourceAttributes => ({
  group: "kustomize.toolkit.fluxcd.io",
  resource: "kustomizations",
  verb: "create",
  namespace: namespace.name,
});

/** Resolves once `probe` holds, polling; RBAC answers from an informer, so a change shows after a moment. */
async function eventually(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await probe()); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** A clock the test moves by hand. */
function testClock() {
  let now = 1_000_000;
  return { now: () => now, sleep: () => Promise.resolve(), advance: (ms: number) => void (now += ms) };
}

beforeAll(async () => {
  admin = await adminCluster(kube);
  namespace = await freshNamespace(kube, "review-cache");
  await applyAll(admin, tenantManifests("team", { withNamespace: [namespace.name], clusterRole: "cluster-admin" }), {
    force: true,
  });
});

afterAll(async () => {
  await namespace?.remove();
});

describe(`access review cache, kube-apiserver ${kube.version} (RBAC)`, () => {
  it("asks the API server once per identity, resource, verb, namespace and revision, across reconciles sharing the client", async () => {
    // Arrange
    const client = (await adminCluster(kube)).client;
    const clock = testClock();
    const question = { account: account(), attributes: createKustomizations(), revision: "main@sha1:aaa" };
    // Act: two reconciles of the same revision, then a new revision, another verb, another namespace
    const first = await AccessReviews.of(client, clock).may(question);
    const again = await AccessReviews.of(client, clock).may(question);
    const afterRepeat = client.counts.POST;
    const answers = [
      await AccessReviews.of(client, clock).may({ ...question, revision: "main@sha1:bbb" }),
      await AccessReviews.of(client, clock).may({
        ...question,
        attributes: { ...createKustomizations(), verb: "delete" },
      }),
      await AccessReviews.of(client, clock).may({
        ...question,
        attributes: { ...createKustomizations(), namespace: "kube-system" },
      }),
    ];
    // Assess
    expect([first, again]).toEqual([true, true]);
    expect(afterRepeat).toBe(1);
    expect(answers).toEqual([true, true, false]);
    expect(client.counts.POST).toBe(4);
  });

  it("answers concurrent questions with one review", async () => {
    // Arrange
    const client = (await adminCluster(kube)).client;
    const reviews = AccessReviews.of(client, testClock());
    // Act
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        reviews.may({ account: account(), attributes: createKustomizations(), revision: "r1" }),
      ),
    );
    // Assess
    expect(answers.every((a) => a)).toBe(true);
    expect(client.counts.POST).toBe(1);
  });

  it("a revoked RoleBinding refuses a new revision at once, and the approved revision once the answer is older than the TTL", async () => {
    // Arrange: the revision is approved while the RoleBinding exists
    const client = (await adminCluster(kube)).client;
    const clock = testClock();
    const reviews = AccessReviews.of(client, clock);
    const approved = { account: account(), attributes: createKustomizations(), revision: "main@sha1:approved" };
    expect(await reviews.may(approved)).toBe(true);
    // Act: the platform removes the tenant's RoleBinding (wait until RBAC says no)
    await objectApi(kube).delete({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "team-reconciler", namespace: namespace.name },
    });
    await eventually(
      "the RoleBinding's removal to reach RBAC",
      async () => !(await mayServiceAccount(admin.client, account(), createKustomizations())),
    );
    const newRevision = await reviews.may({ ...approved, revision: "main@sha1:next" });
    clock.advance(ACCESS_REVIEW_TTL_MS - 1);
    const withinTtl = await reviews.may(approved);
    clock.advance(1);
    const afterTtl = await reviews.may(approved);
    // Assess
    expect(newRevision).toBe(false);
    expect(withinTtl).toBe(true);
    expect(afterTtl).toBe(false);
  });

  it("a review that failed is not remembered: the next question asks again", async () => {
    // Arrange: a client whose token the API server rejects
    const client = new KubeClient(
      kube.server,
      { ca: kube.caPem, headers: { authorization: "Bearer not-a-token" } },
      { maxAttempts: 1 },
    );
    const reviews = AccessReviews.of(client, testClock());
    const question = { account: account(), attributes: createKustomizations(), revision: "r1" };
    // Act
    const first = await reviews.may(question).catch((error: unknown) => error);
    const second = await reviews.may(question).catch((error: unknown) => error);
    // Assess
    expect(first).toBeInstanceOf(Error);
    expect(second).toBeInstanceOf(Error);
    expect(client.counts.POST).toBe(2);
  });
});
