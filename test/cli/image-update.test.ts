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

// `sluice create image update`, `get images update`, `suspend|resume|reconcile image update` on a state folder;
// the exported shape is compared with flux's in flux-export.test.ts.

const execute = promisify(execFile);
const { kube } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };
beforeAll(async () => void (ns = await freshNamespace(kube, "cli-image")));
afterAll(() => ns.remove());

describe("sluice image update commands", () => {
  it("create registers the automation, get shows LAST RUN and Ready, suspend/resume set spec.suspend, reconcile refuses a suspended one", async () => {
    // Prepare
    const stateDir = await mkdtemp(join(tmpdir(), "sluice-image-cli-"));
    const sluice = (...rest: string[]) =>
      execute(process.execPath, [
        "bin/sluice.js",
        ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
        ...rest,
      ]);
    const store = new FileStore(statePaths(stateDir).store);
    const key = { kind: "ImageUpdateAutomation", namespace: ns.name, name: "podinfo" };
    // Act
    await sluice(
      ...["create", "image", "update", "podinfo", "--git-repo-ref", "fleet", "--checkout-branch", "main"],
      ...["--author-name", "fluxbot", "--author-email", "fluxbot@example.com", "--git-repo-path", "./apps"],
    );
    await writeStatus(store, key, {
      observedGeneration: 1,
      lastAutomationRunTime: "2026-05-01T10:00:00.123Z",
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Succeeded",
          message: "repository up-to-date",
          lastTransitionTime: "2026-05-01T10:00:00Z",
        },
      ],
    });
    const table = (await sluice("get", "images", "update")).stdout;
    await sluice("suspend", "image", "update", "podinfo");
    const suspended = (await store.get(key))?.object.spec as { suspend?: boolean };
    const refused = await sluice("reconcile", "image", "update", "podinfo").then(
      () => "",
      (e: { stderr: string }) => e.stderr,
    );
    await sluice("resume", "image", "update", "podinfo", "--wait=false");
    // Assess
    expect(table.split("\n")[0]).toMatch(/^NAME\s+LAST RUN\s+SUSPENDED\s+READY\s+MESSAGE$/);
    expect(table.split("\n")[1]).toMatch(/^podinfo\s+2026-05-01T10:00:00Z\s+False\s+True\s+repository up-to-date$/);
    expect(suspended.suspend).toBe(true);
    expect(refused).toContain("resume image update 'podinfo' first: it is suspended");
    expect(((await store.get(key))?.object.spec as { suspend?: boolean }).suspend).toBeUndefined();
    expect((await store.get(key))?.object.spec).toMatchObject({
      sourceRef: { kind: "GitRepository", name: "fleet" },
      update: { path: "./apps", strategy: "Setters" },
    });
  }, 180_000);
});
