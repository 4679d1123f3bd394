import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "infra/**/*.test.ts"],
    // The test bed (kube-apiserver, Git server, moto, registry, Helm repo) starts once per run.
    globalSetup: ["test/env/global-setup.ts"],
    // Every status a test causes is checked against Flux's condition invariants; a violation fails the reconcile.
    env: { SLUICE_STRICT_STATUS: "1" },
    testTimeout: 60_000,
    // expect.poll waits for what another process does (Chromium drawing a page, a child's memory): vitest's 1 s
    // default failed a CI run where a loaded machine took longer to draw the overview.
    expect: { poll: { timeout: 15_000 } },
    hookTimeout: 180_000,
    // Two cores: the test bed already runs several servers; keep test files from starving them.
    maxWorkers: 2,
    // Verbose: every test line shows its describe block, which names the component and version.
    reporters: ["verbose"],
  },
});
