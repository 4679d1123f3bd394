import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { KubeObject } from "../../src/apply/object.js";
import { applyToStore, updateObject } from "../../src/store/objects.js";
import type { PlaneSuite } from "../controllers/helpers.js";
import { createRepo, pushTree, type GitInfo } from "../env/git-server.js";

// What the ImageUpdateAutomation suites share: a fleet repository on the test bed's Git server holding a
// Deployment with the setter marker, its GitRepository, the ImagePolicy's pick in the Store (suspended, so nothing
// rescans it), and Flux's guide's automation.

const run = promisify(execFile);

/** The helpers of a suite on `local`'s plane and namespace. */
export function automationFixtures(local: PlaneSuite, git: GitInfo) {
  const ns = () => local.namespace;
  let serial = 0;

  const deploy = (image: string) => `# podinfo, kept as written
  apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: podinfo   # the app
  spec:
    template:
      spec:
        containers:
          - name: podinfo
            image: ${image} # {"$imagepolicy": "NS:podinfo"}
  `;

  /** A repo with the deployment, its GitRepository, and the policy's pick in the Store. */
  async function fixture(tag: string) {
    const name = `fleet-${serial++}`;
    const repo = `${ns()}-${name}`;
    const url = await createRepo(git, repo);
    await pushTree(git, repo, {
      files: {
        "apps/podinfo.yaml": deploy("ghcr.io/stefanprodan/podinfo:6.0.0").replace("NS", ns()),
        "README.md": "fleet\n",
      },
    });
    await applyToStore(local.plane.runtime.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name, namespace: ns() },
      spec: { interval: "1h", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    await setPolicy(tag);
    return { name, repo };
  }

  async function setPolicy(tag: string): Promise<void> {
    const key = { kind: "ImagePolicy", namespace: ns(), name: "podinfo" };
    const latestRef = { name: "ghcr.io/stefanprodan/podinfo", tag };
    const stored = await local.plane.runtime.store.get(key);
    if (!stored)
      await local.plane.runtime.store.create({
        apiVersion: "image.toolkit.fluxcd.io/v1",
        kind: "ImagePolicy",
        metadata: { name: "podinfo", namespace: ns(), generation: 1 },
        spec: { imageRepositoryRef: { name: "podinfo" }, policy: { semver: { range: "6.x" } }, suspend: true },
        status: { latestRef },
      });
    else await local.plane.runtime.store.update({ ...stored.object, status: { latestRef } }, stored.version);
  }

  function automation(name: string, source: string, git: Record<string, unknown>): KubeObject {
    return {
      apiVersion: "image.toolkit.fluxcd.io/v1beta1",
      kind: "ImageUpdateAutomation",
      metadata: { name, namespace: ns() },
      spec: {
        interval: "1h",
        sourceRef: { kind: "GitRepository", name: source },
        git: {
          checkout: { ref: { branch: "main" } },
          commit: {
            author: { email: "fluxbot@users.noreply.github.com", name: "fluxbot" },
            messageTemplate: "{{range .Updated.Images}}{{println .}}{{end}}",
          },
          ...git,
        },
        update: { path: "./apps", strategy: "Setters" },
      },
    };
  }

  const show = (repo: string, ...args: string[]) =>
    run("git", ["-C", join(git.root, `${repo}.git`), "show", ...args]).then((r) => r.stdout);
  const status = async (name: string) =>
    ((await local.plane.runtime.store.get({ kind: "ImageUpdateAutomation", namespace: ns(), name }))?.object.status ??
      {}) as {
      lastPushCommit?: string;
      conditions?: { type: string; status: string; message: string }[];
      pullRequest?: { number: number };
    };

  async function requestReconcile(name: string): Promise<void> {
    await updateObject(local.plane.runtime.store, { kind: "ImageUpdateAutomation", namespace: ns(), name }, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: new Date().toISOString() };
    });
  }

  return { deploy, fixture, setPolicy, automation, show, status, requestReconcile };
}
