import { stringify } from "yaml";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import type { Settings } from "../../src/controllers/settings.js";
import type { LocalControlPlane } from "../../src/runtime/local.js";
import { applyToStore } from "../../src/store/objects.js";
import { ready, startTestPlane, storedStatus, until, type Condition, type TestPlane } from "../controllers/helpers.js";
import type { GitInfo } from "../env/git-server.js";
import { createRepo, pushTree } from "../env/git-server.js";
import type { KubeInfo } from "../env/kube.js";

export const clock = { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };

/** A local control plane on the test bed's cluster with `settings`, polling fast. */
export function plane(kube: KubeInfo, settings: Partial<Settings>): Promise<TestPlane> {
  return startTestPlane(kube, {
    statePrefix: "sluice-tenancy-",
    clock,
    settings: { dependencyRequeueMs: 2_000, ...settings },
  });
}

export const yamlOf = (...objects: KubeObject[]) => objects.map((o) => stringify(o)).join("---\n");

/** The Git credentials Secret source-controller reads, in each namespace. */
export async function gitAuthSecret(admin: Cluster, git: GitInfo, namespace: string): Promise<void> {
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "git-auth", namespace },
    stringData: { username: git.username, password: git.password },
  };
  await applyAll(admin, [secret]);
}

let serial = 0;

/** A Git repository with `files` and its GitRepository registered in the Store in `namespace`. */
export async function gitSource(lp: LocalControlPlane, git: GitInfo, namespace: string, files: Record<string, string>) {
  const name = `repo-${serial++}`;
  const url = await createRepo(git, `${namespace}-${name}`);
  await pushTree(git, `${namespace}-${name}`, { files });
  await applyToStore(lp.runtime.store, gitRepository(name, namespace, url));
  return { name, url, push: (next: Record<string, string>) => pushTree(git, `${namespace}-${name}`, { files: next }) };
}

export function gitRepository(name: string, namespace: string, url: string): KubeObject {
  return {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace },
    spec: { interval: "1m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  };
}

export function kustomization(
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace, ...(annotations && { annotations }) },
    spec: { interval: "10m", path: "./", prune: true, ...spec },
  };
}

/** The status of an object in the plane's Store (empty when it has none). */
export const statusOf = storedStatus;

/** Waits for the object's Ready condition to have `reason`, and returns it. */
export function untilReady(
  lp: LocalControlPlane,
  kind: string,
  namespace: string,
  name: string,
  reason: string,
): Promise<Condition> {
  return until(
    `${kind}/${namespace}/${name} Ready ${reason}`,
    async () => {
      const condition = ready(await statusOf(lp, kind, namespace, name));
      return condition?.reason === reason && condition;
    },
    30_000,
  );
}

/** A live object of the test bed's cluster, or undefined. */
export async function live(
  admin: Cluster,
  apiVersion: string,
  kind: string,
  namespace: string,
  name: string,
): Promise<KubeObject | undefined> {
  return getObject(admin, (await admin.discovery.find(apiVersion, kind))!, namespace, name);
}

export function configMap(
  name: string,
  namespace: string | undefined,
  data: Record<string, string> = { a: "1" },
): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, ...(namespace && { namespace }) }, data };
}
