import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { writeStatus } from "../../src/store/objects.js";
import { freshNamespace } from "../env/kube-client.js";

// `sluice create image repository|policy`, `get images repository|policy|all`, `suspend image repository` on a
// state folder; the exported shapes are compared with flux's in flux-export.test.ts.

const execute = promisify(execFile);
const { kube } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };
beforeAll(async () => void (ns = await freshNamespace(kube, "cli-image-scan")));
afterAll(() => ns.remove());

const ready = (message: string) => ({
  type: "Ready",
  status: "True",
  reason: "Succeeded",
  message,
  lastTransitionTime: "2026-05-01T10:00:00Z",
});

describe("sluice image repository and policy commands", () => {
  it("create registers both, get shows flux's columns, get images all names rows by kind, suspend sets spec.suspend", async () => {
    // Prepare
    const stateDir = await mkdtemp(join(tmpdir(), "sluice-image-scan-cli-"));
    const sluice = (...rest: string[]) =>
      execute(process.execPath, [
        "bin/sluice.js",
        ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
        ...rest,
      ]);
    const store = new FileStore(statePaths(stateDir).store);
    const repo = { kind: "ImageRepository", namespace: ns.name, name: "podinfo" };
    const policy = { kind: "ImagePolicy", namespace: ns.name, name: "podinfo" };
    // Act
    await sluice(
      "create",
      "image",
      "repository",
      "podinfo",
      "--image",
      "ghcr.io/stefanprodan/podinfo",
      "--interval",
      "5m",
    );
    await sluice("create", "image", "policy", "podinfo", "--image-ref", "podinfo", "--select-semver", ">=6.0.0 <7.0.0");
    const message = "successful scan: found 3 tags with checksum sha256:0a1b";
    await writeStatus(store, repo, {
      observedGeneration: 1,
      lastScanResult: { tagCount: 3, scanTime: "2026-05-01T10:00:00.456Z", revision: "sha256:0a1b" },
      conditions: [ready(message)],
    });
    const picked = "Latest image tag for ghcr.io/stefanprodan/podinfo resolved to 6.5.0";
    await writeStatus(store, policy, {
      observedGeneration: 1,
      latestRef: { name: "ghcr.io/stefanprodan/podinfo", tag: "6.5.0" },
      conditions: [ready(picked)],
    });
    const repositories = (await sluice("get", "images", "repository")).stdout.split("\n");
    const policies = (await sluice("get", "images", "policy")).stdout.split("\n");
    const all = (await sluice("get", "images", "all")).stdout;
    await sluice("suspend", "image", "repository", "podinfo");
    // Assess
    expect(repositories[0]).toMatch(/^NAME\s+LAST SCAN\s+SUSPENDED\s+READY\s+MESSAGE$/);
    expect(repositories[1]).toMatch(new RegExp(`^podinfo\\s+2026-05-01T10:00:00Z\\s+False\\s+True\\s+${message}$`));
    expect(policies[0]).toMatch(/^NAME\s+IMAGE\s+TAG\s+READY\s+MESSAGE$/);
    expect(policies[1]).toMatch(/^podinfo\s+ghcr.io\/stefanprodan\/podinfo\s+6.5.0\s+True\s+Latest image tag/);
    expect(all).toMatch(
      /^NAME\s+LAST SCAN.*\nimagerepository\/podinfo\s.*\n\nNAME\s+IMAGE\s+TAG.*\nimagepolicy\/podinfo\s.*\n\n$/,
    );
    expect((await store.get(repo))?.object.spec).toEqual({
      image: "ghcr.io/stefanprodan/podinfo",
      interval: "5m0s",
      suspend: true,
    });
    expect((await store.get(policy))?.object.spec).toEqual({
      imageRepositoryRef: { name: "podinfo" },
      policy: { semver: { range: ">=6.0.0 <7.0.0" } },
    });
  }, 180_000);
});
