import { access, readdir } from "node:fs/promises";
import { describe, expect, inject, it } from "vitest";
import { archiveTree } from "../../src/artifacts/archive.js";
import { readArchive } from "../../src/artifacts/extract.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import { keptObjectsFolder } from "../../src/controllers/source/gitrepository.js";
import { checkoutInMemory } from "../../src/sources/git.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { sourceRuntime } from "../security/source-helpers.js";

// A GitRepository reconcile keeps its commit's objects and its archive's gzip members for the next one, in its own
// folder, and forgets them with the object.

const git = inject("testbed").git;
const auth = { username: git.username, password: git.password };

describe("GitRepository: what a reconcile keeps for the next", () => {
  it("stores, on top of what it kept, the artifact a fresh fetch and archive give, and removes what it kept on deletion", async () => {
    const { rt } = await sourceRuntime({ allowPrivateNetworks: true });
    rt.secrets = {
      secret: async ({ name }) => (name === "git-auth" ? auth : undefined),
      configMap: async () => undefined,
    };
    const url = await createRepo(git, "kept-app");
    await applyToStore(rt.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "app", namespace: "kept" },
      spec: { url, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    const files = (round: number) =>
      Object.fromEntries(
        Array.from({ length: 200 }, (_, i) => [
          `apps/a-${i % 7}/f-${i}.yaml`,
          `n: ${i}\nround: ${i === 42 ? round : 0}\n`,
        ]),
      );
    const folder = keptObjectsFolder(rt.workDir, "kept", "app");
    for (const round of [1, 2, 3]) {
      const commit = await pushTree(git, "kept-app", { files: files(round) });
      const outcome = await dispatch(rt, { key: "GitRepository/kept/app", reason: "requested" });
      const artifact = (outcome?.status as { artifact?: { path: string; digest: string; revision: string } }).artifact!;
      expect(artifact.revision).toBe(`main@sha1:${commit}`);
      // A fresh fetch of the commit, archived without kept members, gives the same bytes.
      const fresh = await checkoutInMemory(
        { url, auth, network: { allowPrivateNetworks: true } },
        { branch: "main" },
        rt.workDir,
      );
      expect(artifact.digest).toBe((await archiveTree(fresh.tree, { segments: new Map() })).digest);
      const { tree } = await readArchive((await rt.artifacts.get(artifact.path, artifact.digest))!);
      expect((await tree.read("apps/a-0/f-42.yaml"))!.toString()).toContain(`round: ${round}`);
      expect((await readdir(folder)).sort()).toEqual(["objects", "segments"]);
    }
    expect(keptObjectsFolder(rt.workDir, "kept", "app-2")).not.toBe(folder);

    const stored = await rt.store.get({ kind: "GitRepository", namespace: "kept", name: "app" });
    await rt.store.update(
      { ...stored!.object, metadata: { ...stored!.object.metadata, deletionTimestamp: new Date().toISOString() } },
      stored!.version,
    );
    await dispatch(rt, { key: "GitRepository/kept/app", reason: "requested" });
    await expect(access(folder)).rejects.toThrow(/ENOENT/);
  });
});
