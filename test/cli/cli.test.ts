import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const kube = inject("testbed").kube;
const sluice = (...args: string[]) => run(process.execPath, ["bin/sluice.js", ...args]);

describe(`sluice CLI against kube-apiserver ${kube.version}`, () => {
  it("prints the package version", async () => {
    const { version } = JSON.parse(await readFile("package.json", "utf8")) as { version: string };
    await expect(sluice("--version")).resolves.toMatchObject({ stdout: `${version}\n` });
  });

  it("accepts flux's --flag=true|false for boolean flags, as Flux's guides write them", async () => {
    // Act
    const on = (
      await sluice(
        "-n",
        "apps",
        "create",
        "kustomization",
        "app",
        "--source",
        "GitRepository/src",
        "--path",
        "./deploy",
        "--prune=true",
        "--wait=false",
        "--export=true",
      )
    ).stdout;
    const off = (
      await sluice(
        "create",
        "kustomization",
        "app",
        "--source",
        "GitRepository/src",
        "--path",
        "./deploy",
        "--prune=false",
        "--export",
      )
    ).stdout;
    // Assess
    expect(on).toContain("namespace: apps\n");
    expect(on).toContain("prune: true\n");
    expect(on).not.toContain("wait:");
    expect(off).toContain("prune: false\n");
  });

  it("check --pre passes against the test bed cluster and names each tool and the cluster version", async () => {
    // Act
    const { stderr } = await sluice("check", "--pre", "--kubeconfig", kube.kubeconfigPath);
    // Assess
    expect(stderr).toContain("✔ kubectl v1.35.2 (kustomize v5.7.1)");
    expect(stderr).toContain("✔ helm v4.1.4");
    expect(stderr).toContain(`✔ Kubernetes ${kube.version} >=1.32.0`);
    expect(stderr).toContain("✔ prerequisites checks passed");
  });

  it("check --pre exits 1 and names the server when the cluster is unreachable", async () => {
    // Act
    const failure = await sluice("check", "--pre", "--kubeconfig", "/nonexistent/kubeconfig").catch(
      (e: { code: number; stderr: string }) => e,
    );
    // Assess
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toMatch(
      /✗ Kubernetes API at .* not reachable: .*\/nonexistent\/kubeconfig/,
    );
  });

  it("create cluster registers a target (or prints it with --export), refuses a bad name naming the field, and get clusters lists it", async () => {
    // Arrange
    const state = ["--state-dir", await mkdtemp(join(tmpdir(), "sluice-cli-"))];
    // Act
    const exported = (await sluice("create", "cluster", "edge-1", "--mode", "agent", "--export")).stdout;
    await sluice("create", "cluster", "edge-1", "--mode", "agent", ...state);
    await sluice("create", "cluster", "prod", "--mode", "direct", ...state);
    const bad = await sluice("create", "cluster", "Edge_1", ...state).catch((e: { code: number; stderr: string }) => e);
    const table = (await sluice("get", "clusters", ...state)).stdout;
    // Assess
    expect(exported).toBe(
      "---\napiVersion: sluice.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: edge-1\n  namespace: sluice-system\nspec:\n  mode: agent\n",
    );
    expect(bad).toMatchObject({
      code: 1,
      stderr: "✗ Cluster/sluice-system/Edge_1 is invalid: metadata.name: must be a lowercase DNS-1123 name\n",
    });
    expect(table.split("\n").map((l) => l.split(/\s{2,}/))).toEqual([
      ["NAME", "MODE", "LAST CONTACT", "REVISION", "BUNDLES", "OBJECTS", "READY", "FAILING", "LAST APPLIED"],
      ["edge-1", "agent", "-", "-", "-", "0", "0", "0", "-"],
      ["prod", "direct", "-", "-", "-", "0", "0", "0", "-"],
      [""],
    ]);
  });
});
