import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "infra/**/*.test.ts"],
    // The test bed (kube-apiserver, Git server, moto, registry, Helm repo) starts once per run.
    globalSetup: ["test/env/global-setup.ts"],
    // Every status a test causes is checked against Flux's condition invariants; a violation fails the reconcile.
    env: { SLUICE_STRICT_STATUS: "1" },
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores: the test bed already runs several servers; keep test files from starving them.
    maxWorkers: 2,
    // Verbose: every test line shows its describe block, which names the component and version.
    reporters: ["verbose"],
  },
});
