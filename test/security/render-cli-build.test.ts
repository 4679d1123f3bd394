import { execFile } from "node:child_process";
import { mkdtemp, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { configMap, writeTree } from "../render/helpers.js";

const run = promisify(execFile);
const sluice = (...args: string[]) => run(process.execPath, ["bin/sluice.js", ...args]);

/** A Git checkout (a `.git` folder marks its root) beside another tenant's folder, and a Kustomization file for `app`. */
async function checkout(files: Record<string, unknown>): Promise<{ repo: string; ks: string }> {
  const parent = await mkdtemp(join(tmpdir(), "sluice-cli-build-"));
  const repo = join(parent, "repo");
  const all = {
    ".git/HEAD": "ref: refs/heads/main\n",
    "../other-tenant/secret-app/kustomization.yaml": { resources: ["cm.yaml"] },
    "../other-tenant/secret-app/cm.yaml": configMap("other-tenant-secret"),
    ...files,
  };
  await writeTree(repo, all);
  const ks = join(parent, "ks.yaml");
  await writeFile(
    ks,
    stringify({
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: "flux-system" },
      spec: { interval: "1m", path: "./app", prune: true, sourceRef: { kind: "GitRepository", name: "repo" } },
    }),
  );
  return { repo, ks };
}

describe("sluice build kustomization goes through the same render checks", () => {
  it("refuses a kustomization reaching a folder outside the repository", async () => {
    // Arrange
    const { repo, ks } = await checkout({
      "app/kustomization.yaml": { resources: ["cm.yaml", "../../other-tenant/secret-app"] },
      "app/cm.yaml": configMap("mine"),
    });
    // Act
    const failure = await sluice(
      "build",
      "kustomization",
      "app",
      "--path",
      join(repo, "app"),
      "--kustomization-file",
      ks,
      "--dry-run",
    ).catch((e: { code: number; stdout: string; stderr: string }) => e);
    // Assess
    expect(failure).toMatchObject({ code: 1 });
    expect(`${"stderr" in failure ? failure.stderr : ""}`).toContain(
      "app/kustomization.yaml: resources entry '../../other-tenant/secret-app' points outside the source",
    );
    expect(failure.stdout).not.toContain("other-tenant-secret");
  }, 30_000);

  it("drops a symlink as the controller's artifact does: the build fails naming the entry, as a reconcile would", async () => {
    // Arrange: `linked` works on disk, but a GitRepository artifact holds no symlinks (as Flux's)
    const { repo, ks } = await checkout({
      "app/kustomization.yaml": { resources: ["cm.yaml", "linked"] },
      "app/cm.yaml": configMap("mine"),
      "base/kustomization.yaml": { resources: ["b.yaml"] },
      "base/b.yaml": configMap("base"),
    });
    await symlink("../base", join(repo, "app", "linked"));
    // Act
    const build = sluice(
      "build",
      "kustomization",
      "app",
      "--path",
      join(repo, "app"),
      "--kustomization-file",
      ks,
      "--dry-run",
    );
    // Assess
    await expect(build).rejects.toMatchObject({
      stderr: expect.stringContaining("accumulating resources from 'linked'"),
    });
  }, 30_000);
});
