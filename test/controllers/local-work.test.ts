import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, inject, it } from "vitest";
import { startLocal } from "../../src/runtime/local.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { systemClock } from "../../src/ports/clock.js";
import { startTestPlane } from "./helpers.js";

const { kube } = inject("testbed");

describe(`local control plane scratch space (kube-apiserver ${kube.version})`, () => {
  it("a restart removes the extractions a previous process left in the work folder, and keeps the state", async () => {
    // Arrange: a first process, then a leftover extraction as a crash would leave it
    const first = await startTestPlane(kube);
    await first.stop();
    const { work, store } = statePaths(first.stateDir);
    const leftover = join(work, "sources", "sha256_0.0123456789abcdef01234567");
    await mkdir(leftover, { recursive: true });
    await writeFile(join(leftover, "app.yaml"), "kind: ConfigMap\n");
    await mkdir(join(store, "GitRepository", "kept"), { recursive: true });
    // Act: a second process on the same state
    const second = await startLocal({
      stateDir: first.stateDir,
      kubeconfig: kube.kubeconfig,
      clock: systemClock,
      log: pino({ level: "silent" }),
    });
    try {
      // Assess
      expect(await readdir(work)).toEqual([]);
      expect(await readdir(join(store, "GitRepository"))).toEqual(["kept"]);
    } finally {
      await second.stop();
    }
  });
});
