import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";

const execute = promisify(execFile);
const { kube } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };

beforeAll(async () => {
  ns = await freshNamespace(kube, "diff-secret");
});
afterAll(async () => ns?.remove());

describe(`sluice diff of a Secret against kube-apiserver ${kube.version}`, () => {
  it("prints neither the live nor the new value, not even through kubectl's last-applied annotation", async () => {
    // Arrange: a Secret as `kubectl apply` (client-side) leaves it, with its values repeated in an annotation
    const live = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "db", namespace: ns.name },
      stringData: { password: "live-hunter2" },
    };
    const admin = await adminCluster(kube);
    await admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns.name}/secrets`,
      body: {
        ...live,
        metadata: {
          ...live.metadata,
          annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(live) },
        },
      },
    });
    const dir = await mkdtemp(join(tmpdir(), "sluice-diff-secret-"));
    await writeFile(join(dir, "secret.yaml"), stringify({ ...live, stringData: { password: "new-hunter3" } }));
    const ks = {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: ns.name },
      spec: { interval: "10m", path: "./", prune: false, sourceRef: { kind: "GitRepository", name: "none" } },
    };
    await writeFile(join(dir, "ks.yaml"), stringify(ks));
    // Act
    const result = await execute(process.execPath, [
      "bin/sluice.js",
      "--kubeconfig",
      kube.kubeconfigPath,
      "-n",
      ns.name,
      "diff",
      "kustomization",
      "app",
      "--path",
      dir,
      "--kustomization-file",
      join(dir, "ks.yaml"),
    ]).then(
      () => ({ code: 0, stdout: "", stderr: "" }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    // Assess: a change is reported, by key, without any value
    expect(result.code).toBe(1);
    const printed = result.stdout + result.stderr;
    expect(printed).toContain(`► Secret/${ns.name}/db drifted`);
    expect(printed).toContain(`+  password: "***** (changed)"`);
    expect(printed).toContain(`kubectl.kubernetes.io/last-applied-configuration: "*****"`);
    expect(printed).toContain("(Secret values are masked)");
    for (const value of ["live-hunter2", "new-hunter3"]) {
      expect(printed).not.toContain(value);
      expect(printed).not.toContain(Buffer.from(value).toString("base64"));
    }
  });
});
