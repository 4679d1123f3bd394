import { describe, expect, inject, it } from "vitest";
import { dispatch } from "../../src/controllers/dispatch.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { sourceRuntime } from "../security/source-helpers.js";

// Superseded artifacts are garbage-collected as source-controller does: the new one and the one it replaces stay
// (a consumer reading the previous status still finds its file), older ones go, and all go with the object.

const git = inject("testbed").git;

async function gitRepository(rt: Awaited<ReturnType<typeof sourceRuntime>>["rt"], name: string, url: string) {
  await applyToStore(rt.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: "retention" },
    spec: { url, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  const outcome = await dispatch(rt, { key: `GitRepository/retention/${name}`, reason: "requested" });
  const artifact = (outcome?.status as { artifact?: { path: string; revision: string } }).artifact;
  if (!artifact) throw new Error(`${name}: no artifact: ${JSON.stringify(outcome?.status)}`);
  return artifact;
}

describe("artifact retention", () => {
  it("keeps a GitRepository's newest two artifacts, leaves a sibling whose name shares the prefix, removes all on deletion", async () => {
    const { rt } = await sourceRuntime({ allowPrivateNetworks: true });
    const auth = { username: git.username, password: git.password };
    rt.secrets = {
      secret: async ({ name }) => (name === "git-auth" ? auth : undefined),
      configMap: async () => undefined,
    };
    const url = await createRepo(git, "retention-app");
    const siblingUrl = await createRepo(git, "retention-app-2");
    await pushTree(git, "retention-app-2", { files: { "a.yaml": "sibling: 1\n" } });
    const sibling = await gitRepository(rt, "app-2", siblingUrl);

    const seen: string[] = [];
    for (const revision of [1, 2, 3]) {
      await pushTree(git, "retention-app", { files: { "a.yaml": `revision: ${revision}\n` } });
      seen.push((await gitRepository(rt, "app", url)).path);
    }
    expect(new Set(seen).size).toBe(3);
    expect(await rt.artifacts.list("gitrepository/retention/app/")).toEqual([seen[1], seen[2]].sort());
    expect(await rt.artifacts.get(seen[0]!)).toBeUndefined();
    // The sibling `app-2` lives beside `app/`, not inside it: untouched.
    expect(await rt.artifacts.get(sibling.path)).toBeDefined();

    // An unchanged revision stores nothing and removes nothing.
    await gitRepository(rt, "app", url);
    expect(await rt.artifacts.list("gitrepository/retention/app/")).toEqual([seen[1], seen[2]].sort());

    const stored = await rt.store.get({ kind: "GitRepository", namespace: "retention", name: "app" });
    await rt.store.update(
      { ...stored!.object, metadata: { ...stored!.object.metadata, deletionTimestamp: new Date().toISOString() } },
      stored!.version,
    );
    await dispatch(rt, { key: "GitRepository/retention/app", reason: "requested" });
    expect(await rt.artifacts.list("gitrepository/retention/app/")).toEqual([]);
    expect(await rt.store.get({ kind: "GitRepository", namespace: "retention", name: "app" })).toBeUndefined();
    expect(await rt.artifacts.get(sibling.path)).toBeDefined();
  });
});
