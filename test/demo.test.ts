import { describe, expect, inject, it } from "vitest";
import { runDemo } from "../scripts/demo.js";

const { kube, git } = inject("testbed");

describe(`npm run demo (examples/fleet on kube-apiserver ${kube.version}, ${git.version} server)`, () => {
  it("reconciles the example fleet, applies a pushed change through the webhook, reverts a hand edit", async () => {
    const summary = await runDemo({
      kubeconfig: kube.kubeconfig,
      kubeconfigPath: kube.kubeconfigPath,
      git,
      repo: "demo-fleet",
    });
    expect(summary.objects).toBe(8);
    expect(summary.pushToAppliedMs).toBeGreaterThan(0);
    expect(summary.driftRevertedMs).toBeGreaterThan(0);
  }, 180_000);
});
