import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { newClusterRegistration } from "../../src/api/cluster.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore, writeStatus } from "../../src/store/objects.js";
import { kustomization } from "./clusters.js";

const run = promisify(execFile);
const sluice = (...args: string[]) => run(process.execPath, ["bin/sluice.js", ...args]);
/** A table's cells, split on the column gaps. */
const cells = (table: string) =>
  table
    .trimEnd()
    .split("\n")
    .map((line) => line.split(/\s{2,}/));

function status(ready: "True" | "False" | "Unknown", at: string, revision?: string) {
  const messages = {
    True: `Applied revision: ${revision}`,
    False: "cluster 'west' is unreachable at https://10.0.0.9:443: connect ETIMEDOUT",
    Unknown: "Reconciliation in progress",
  };
  const condition = {
    type: "Ready",
    status: ready,
    reason: "Any",
    message: messages[ready],
    lastTransitionTime: at,
    observedGeneration: 1,
  };
  return { conditions: [condition], ...(revision && { lastAppliedRevision: revision }) };
}

describe("sluice get for a fleet of clusters", () => {
  let state: string[];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-fleet-cli-"));
    state = ["--state-dir", dir];
    const store = new FileStore(statePaths(dir).store);
    await applyToStore(
      store,
      newClusterRegistration("east", "direct", undefined, { kubeConfig: { secretRef: { name: "east-kubeconfig" } } }),
    );
    await applyToStore(
      store,
      newClusterRegistration("west", "direct", undefined, {
        eks: { name: "west", roleArn: "arn:aws:iam::111111111111:role/sluice" },
      }),
    );
    await applyToStore(store, newClusterRegistration("edge", "agent"));
    const fleet: [string, string, string | undefined, ReturnType<typeof status>][] = [
      ["east-apps", "flux-system", "east", status("True", "2026-12-01T10:00:00Z", "main@sha1:aaa")],
      ["east-infra", "flux-system", "east", status("True", "2026-12-01T11:00:00Z", "main@sha1:bbb")],
      ["east-team", "team-a", "east", status("Unknown", "2026-12-01T11:30:00Z")],
      ["west-apps", "flux-system", "west", status("False", "2026-12-01T12:00:00Z")],
      ["home", "flux-system", undefined, status("True", "2026-12-01T12:00:00Z", "main@sha1:ccc")],
    ];
    for (const [name, namespace, cluster, ready] of fleet) {
      await applyToStore(store, kustomization(name, namespace, "fleet", namespace, cluster));
      await writeStatus(store, { kind: "Kustomization", namespace, name }, ready);
    }
  });

  it("create cluster registers how a direct cluster is reached, and refuses a bad role ARN or a connection for an agent cluster naming the field", async () => {
    // Act
    const role = ["--role-arn", "arn:aws:iam::111111111111:role/sluice"];
    const eks = (
      await sluice(
        "create",
        "cluster",
        "prod-b",
        "--mode",
        "direct",
        "--eks",
        "prod",
        "--eks-region",
        "eu-west-1",
        ...role,
        "--export",
      )
    ).stdout;
    const kubeconfig = (
      await sluice(
        "create",
        "cluster",
        "east",
        "--mode",
        "direct",
        "--kubeconfig-secret-ref",
        "east-kubeconfig",
        "--export",
      )
    ).stdout;
    const failed = (e: { code: number; stderr: string }) => e;
    const badRole = await sluice(
      "create",
      "cluster",
      "prod-c",
      "--mode",
      "direct",
      "--eks",
      "prod",
      "--role-arn",
      "arn:aws:iam::1:user/x",
      ...state,
    ).catch(failed);
    const agent = await sluice(
      "create",
      "cluster",
      "edge-2",
      "--mode",
      "agent",
      "--kubeconfig-secret-ref",
      "k",
      ...state,
    ).catch(failed);
    // Assess
    expect(eks).toContain(
      "spec:\n  mode: direct\n  eks:\n    name: prod\n    region: eu-west-1\n    roleArn: arn:aws:iam::111111111111:role/sluice\n",
    );
    expect(kubeconfig).toContain("spec:\n  mode: direct\n  kubeConfig:\n    secretRef:\n      name: east-kubeconfig\n");
    expect(badRole).toMatchObject({
      code: 1,
      stderr:
        "✗ Cluster/sluice-system/prod-c is invalid: spec.eks.roleArn: an IAM role ARN (arn:aws:iam::<account>:role/<name>)\n",
    });
    expect(agent).toMatchObject({
      code: 1,
      stderr:
        "✗ Cluster/sluice-system/edge-2 is invalid: spec.kubeConfig: not used in agent mode (the agent applies to the cluster it runs in)\n",
    });
  });

  it("get kustomizations --cluster lists only the Kustomizations targeting that cluster, in one namespace or all", async () => {
    // Act
    const east = (await sluice("get", "kustomizations", "--cluster", "east", "-n", "flux-system", ...state)).stdout;
    const everywhere = (await sluice("get", "kustomizations", "--cluster", "east", "-A", ...state)).stdout;
    const none = await sluice("get", "kustomizations", "--cluster", "edge", "-A", ...state);
    const unknown = await sluice("get", "kustomizations", "--cluster", "north", ...state).catch(
      (e: { code: number; stderr: string }) => e,
    );
    // Assess
    expect(cells(east)).toEqual([
      ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"],
      ["east-apps", "main@sha1:aaa", "False", "True", "Applied revision: main@sha1:aaa"],
      ["east-infra", "main@sha1:bbb", "False", "True", "Applied revision: main@sha1:bbb"],
    ]);
    expect(cells(everywhere).map((row) => row.slice(0, 2))).toEqual([
      ["NAMESPACE", "NAME"],
      ["flux-system", "east-apps"],
      ["flux-system", "east-infra"],
      ["team-a", "east-team"],
    ]);
    expect(none).toMatchObject({
      stdout: "",
      stderr: "no Kustomization objects found in any namespace for cluster 'edge'\n",
    });
    expect(unknown).toMatchObject({
      code: 1,
      stderr: "✗ --cluster: cluster 'north' is not registered (sluice get clusters lists them)\n",
    });
  });

  it("get clusters summarizes each cluster's Kustomizations: objects, Ready, failing and the revision applied last", async () => {
    // Act
    const table = (await sluice("get", "clusters", ...state)).stdout;
    // Assess
    expect(cells(table)).toEqual([
      ["NAME", "MODE", "LAST CONTACT", "REVISION", "BUNDLES", "OBJECTS", "READY", "FAILING", "LAST APPLIED"],
      ["east", "direct", "-", "-", "-", "3", "2", "0", "main@sha1:bbb"],
      ["edge", "agent", "-", "-", "-", "0", "0", "0", "-"],
      ["west", "direct", "-", "-", "-", "1", "0", "1", "-"],
    ]);
  });
});
