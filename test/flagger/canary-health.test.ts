import { describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { checkHealth } from "../../src/apply/wait.js";
import { applyToStore } from "../../src/store/objects.js";
import { deployment } from "../apply/helpers.js";
import { planeSuite, ready, storedStatus, until } from "../controllers/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { canary, FLAGGER_VERSION, flaggerWrites, installFlaggerCrds } from "./flagger.js";

const { kube, git } = inject("testbed");
const local = planeSuite(kube, git, {
  namespace: "canary",
  prepare: installFlaggerCrds,
  settings: { dependencyRequeueMs: 5_000 },
});
let serial = 0;

const ns = () => local.namespace;
const service = (name: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name },
  spec: { selector: { app: name }, ports: [{ port: 9898 }] },
});
const app = (name: string, image: string) => ({
  "deploy/app.yaml": [deployment(name, { image }), service(name), canary(name)].map((o) => stringify(o)).join("---\n"),
});

/** A Git repo with `files`, its GitRepository, and a Kustomization with `wait: true` applying ./deploy. */
async function canaryApp(
  name: string,
  image: string,
): Promise<{ push(image: string): Promise<string>; first: string; key: string }> {
  const repo = `${ns()}-flagger-${serial++}`;
  const url = await createRepo(git, repo);
  const first = await pushTree(git, repo, { files: app(name, image) });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: repo, namespace: ns() },
    spec: { interval: "1m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns() },
    spec: {
      interval: "10m",
      path: "./deploy",
      prune: true,
      wait: true,
      timeout: "5m",
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name: repo },
    },
  });
  const push = async (next: string) => {
    const commit = await pushTree(git, repo, { files: app(name, next) });
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/${repo}`, reason: "webhook" });
    return `main@sha1:${commit}`;
  };
  return { push, first: `main@sha1:${first}`, key: `Kustomization/${ns()}/${name}` };
}

const statusOf = (name: string) => storedStatus(local.plane, "Kustomization", ns(), name);

/** Flagger writes, then the Kustomization's next health check runs at once instead of after its backoff. */
async function flagger(name: string, ...steps: Parameters<typeof flaggerWrites>[3][]): Promise<void> {
  for (const phase of steps) await flaggerWrites(local.admin, ns(), name, phase);
  await local.plane.queue.enqueue({ key: `Kustomization/${ns()}/${name}`, reason: "health" });
}

const progressingOn = (name: string, revision: string) =>
  until(`${name} Progressing on ${revision}`, async () => {
    const status = await statusOf(name);
    return status.lastAttemptedRevision === revision && ready(status)?.reason === "Progressing";
  });

/** The Kustomization is Progressing on `revision` and stays so over several health checks. */
async function staysProgressing(name: string, revision: string): Promise<void> {
  await progressingOn(name, revision);
  for (let i = 0; i < 3; i++) {
    await local.plane.queue.enqueue({ key: `Kustomization/${ns()}/${name}`, reason: "health" });
    await new Promise((r) => setTimeout(r, 400));
    const status = await statusOf(name);
    expect(ready(status)).toMatchObject({ status: "Unknown", reason: "Progressing" });
    expect(status.lastAppliedRevision).not.toBe(revision);
  }
}

const untilReadyAt = (name: string, revision: string) =>
  until(`${name} Ready at ${revision}`, async () => {
    const status = await statusOf(name);
    return ready(status)?.status === "True" && status.lastAppliedRevision === revision && status;
  });

// Flagger's times have one-second precision: a change must land in a later second than the verdict it follows.
const nextSecond = () => new Promise((r) => setTimeout(r, 1_100 - (Date.now() % 1_000)));

describe(`Flagger ${FLAGGER_VERSION} Canary health, kube-apiserver ${kube.version}, local runtime`, () => {
  it("waits for Flagger to initialize a new Canary, then is Ready", async () => {
    // Arrange
    const repo = await canaryApp("podinfo-init", "ghcr.io/stefanprodan/podinfo:6.0.0");
    // Act / Assess: nobody has written the Canary's status yet
    await staysProgressing("podinfo-init", repo.first);
    await flagger("podinfo-init", "Initializing");
    await staysProgressing("podinfo-init", repo.first);
    // Act: Flagger promotes the first revision without analysis
    await flagger("podinfo-init", "Initialized");
    // Assess
    const status = await untilReadyAt("podinfo-init", repo.first);
    expect(status.conditions?.find((c) => c.type === "Healthy")).toMatchObject({ status: "True", reason: "Succeeded" });
  });

  it("stays Progressing through a canary analysis of a new revision and is Ready once Flagger promotes it", async () => {
    // Arrange
    const repo = await canaryApp("podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0");
    await progressingOn("podinfo", repo.first);
    await flagger("podinfo", "Initializing", "Initialized");
    await untilReadyAt("podinfo", repo.first);
    await nextSecond();
    // Act: a new image; the Canary still shows the previous verdict until Flagger notices
    const second = await repo.push("ghcr.io/stefanprodan/podinfo:6.0.1");
    // Assess
    await staysProgressing("podinfo", second);
    const held = (
      await checkHealth(local.admin, [
        { apiVersion: "flagger.app/v1beta1", kind: "Canary", metadata: { name: "podinfo", namespace: ns() } },
      ])
    ).objects[0]!;
    expect(held).toMatchObject({ subject: `Canary/${ns()}/podinfo`, status: "InProgress" });
    expect(held.message).toMatch(
      new RegExp(
        `^waiting for Flagger to analyse Deployment/${ns()}/podinfo changed at .* \\(phase Initialized since `,
      ),
    );
    // Act: Flagger detects the revision and runs the analysis
    await flagger("podinfo", "Progressing");
    await flaggerWrites(local.admin, ns(), "podinfo", "Progressing", { canaryWeight: 30 });
    // Assess
    await staysProgressing("podinfo", second);
    // Act: the analysis passes
    await flagger("podinfo", "Promoting", "Finalising");
    await staysProgressing("podinfo", second);
    await flagger("podinfo", "Succeeded");
    // Assess
    const promoted = await untilReadyAt("podinfo", second);
    expect(ready(promoted)?.reason).toBe("ReconciliationSucceeded");
  });

  it("fails with HealthCheckFailed naming the Canary and Flagger's reason when Flagger rolls back, and waits again for the fix", async () => {
    // Arrange
    const repo = await canaryApp("podinfo-bad", "ghcr.io/stefanprodan/podinfo:6.0.0");
    await progressingOn("podinfo-bad", repo.first);
    await flagger("podinfo-bad", "Initializing", "Initialized");
    await untilReadyAt("podinfo-bad", repo.first);
    await nextSecond();
    // Act: a broken revision that Flagger analyses and rolls back
    const broken = await repo.push("ghcr.io/stefanprodan/podinfo:6.0.2-broken");
    await staysProgressing("podinfo-bad", broken);
    await flagger("podinfo-bad", "Progressing");
    await flaggerWrites(local.admin, ns(), "podinfo-bad", "Progressing", { canaryWeight: 10, failedChecks: 2 });
    await flagger("podinfo-bad", "Failed");
    // Assess
    const failed = await until("HealthCheckFailed", async () => {
      const status = await statusOf("podinfo-bad");
      return ready(status)?.reason === "HealthCheckFailed" && status;
    });
    expect(ready(failed)).toMatchObject({ status: "False" });
    expect(ready(failed)?.message).toContain(
      `health check failed: [Canary/${ns()}/podinfo-bad status: 'Failed' (Flagger rolled back: Canary analysis failed, Deployment scaled to zero.`,
    );
    expect(failed.lastAppliedRevision).toBe(repo.first);

    // Act: the fix, pushed after the rollback, is not judged by the rollback
    await nextSecond();
    const fixed = await repo.push("ghcr.io/stefanprodan/podinfo:6.0.3");
    // Assess
    await staysProgressing("podinfo-bad", fixed);
    await flagger("podinfo-bad", "Progressing", "Promoting", "Finalising", "Succeeded");
    await untilReadyAt("podinfo-bad", fixed);
  });
});
