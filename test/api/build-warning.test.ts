import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { configMap } from "../apply/helpers.js";
import { writeTree } from "../render/helpers.js";

const run = promisify(execFile);

describe("sluice build with a Kustomization written for Flux", () => {
  it("names the fields Flux's CRD drops on stderr, and renders the rest", async () => {
    // Prepare: the getting-started guide's `validation: client`, and a script a postBuild without variables leaves alone
    const root = await mkdtemp(join(tmpdir(), "sluice-build-warning-"));
    await writeTree(root, {
      "app/cm.yaml": configMap("hello", { "run.sh": "echo ${HOME}" }),
      "ks.yaml": stringify({
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name: "app" },
        spec: {
          interval: "10m",
          path: "./app",
          prune: true,
          validation: "client",
          sourceRef: { kind: "GitRepository", name: "flux-system" },
          postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "cluster-vars" }] },
        },
      }),
    });
    // Act
    const { stdout, stderr } = await run(process.execPath, [
      "bin/sluice.js",
      "build",
      "kustomization",
      "app",
      "--path",
      join(root, "app"),
      "--kustomization-file",
      join(root, "ks.yaml"),
      "--dry-run",
    ]);
    // Assess
    expect(stderr).toContain(
      "Kustomization/app: unknown fields dropped, as Flux's API server drops fields its CRD does not define: spec.validation",
    );
    expect(stdout).toContain("run.sh: echo ${HOME}");
  });
});
