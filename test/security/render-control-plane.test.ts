import { Writable } from "node:stream";
import { mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { pino } from "pino";
import { describe, expect, inject, it } from "vitest";
import { create as createTar } from "tar";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { applyToStore } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { configMap } from "../apply/helpers.js";
import { planeSuite, ready, storedStatus, until, type Condition } from "../controllers/helpers.js";
import { aliasBomb } from "../render/helpers.js";

// A real collection between heap samples: without it, garbage of earlier tests would blur the measure.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const { kube, git } = inject("testbed");
const logs: string[] = [];
let serial = 0;
const local = planeSuite(kube, git, {
  namespace: "render-limits",
  clock: { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
  log: pino(
    { level: "info" },
    new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(chunk.toString()), done()) }),
  ),
});

const ns = () => local.namespace;

/** A repository holding `files`, and its GitRepository registered in the Store; resolves once the source is Ready. */
async function source(files: Record<string, string>): Promise<string> {
  const name = `repo-${serial++}`;
  const url = await createRepo(git, `${ns()}-${name}`);
  await pushTree(git, `${ns()}-${name}`, { files });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "1h", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  await readyCondition("GitRepository", name, (c) => c.status === "True");
  return name;
}

function kustomization(name: string, sourceName: string): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns() },
    spec: {
      interval: "1h",
      path: "./deploy",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name: sourceName },
    },
  };
}

async function readyCondition(
  kind: string,
  name: string,
  accept: (c: Condition) => boolean,
  timeoutMs = 60_000,
): Promise<Condition> {
  let last: Condition | undefined;
  return until(
    () => `${kind} ${name}: Ready is ${JSON.stringify(last)}`,
    async () => {
      last = ready(await storedStatus(local.plane, kind, ns(), name));
      return last && accept(last) && last;
    },
    timeoutMs,
  );
}

const buildFailed = (kind: string, name: string) => readyCondition(kind, name, (c) => c.reason === "BuildFailed");
const artifactFailed = (kind: string, name: string) => readyCondition(kind, name, (c) => c.reason === "ArtifactFailed");
const applied = (name: string) => readyCondition("Kustomization", name, (c) => c.reason === "ReconciliationSucceeded");

describe(`hostile renders beside healthy ones in one local control plane (kube-apiserver ${kube.version})`, () => {
  it("an alias bomb, 200,000 documents and a tenant escape each end BuildFailed naming their limit, while a healthy Kustomization beside them applies", async () => {
    // Arrange
    const bomb = await source({ "deploy/bomb.yaml": aliasBomb });
    const many = await source({
      "deploy/many.yaml": Array.from(
        { length: 200_000 },
        (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}}\n`,
      ).join("---\n"),
    });
    const escape = await source({
      "deploy/kustomization.yaml": stringify({ resources: ["app.yaml", "../../../../sources"] }),
      "deploy/app.yaml": stringify(configMap("never", { a: "1" })),
    });
    const healthy = await source({ "deploy/app.yaml": stringify(configMap("healthy", { level: "info" })) });
    const errorsLoggedBefore = logs.filter((l) => l.includes("reconcile failed")).length;
    // Act
    for (const [name, repo] of [
      ["bomb", bomb],
      ["many", many],
      ["escape", escape],
      ["healthy", healthy],
    ])
      await applyToStore(local.plane.runtime.store, kustomization(name!, repo!));
    const [bombReady, manyReady, escapeReady] = await Promise.all([
      buildFailed("Kustomization", "bomb"),
      buildFailed("Kustomization", "many"),
      buildFailed("Kustomization", "escape"),
      applied("healthy"),
    ]);
    // Assess
    expect(bombReady).toMatchObject({
      status: "False",
      message:
        "deploy/bomb.yaml: document 1 expands YAML aliases more than 100 times, over the limit (renderLimits.maxAliases)",
    });
    expect(manyReady).toMatchObject({
      status: "False",
      message:
        "deploy/many.yaml: the render has more than 20000 YAML documents, over the limit (renderLimits.maxDocuments)",
    });
    expect(escapeReady).toMatchObject({
      status: "False",
      message: "deploy/kustomization.yaml: resources entry '../../../../sources' points outside the source",
    });
    expect(
      (await getObject(local.admin, (await local.admin.discovery.find("v1", "ConfigMap"))!, ns(), "healthy"))?.data,
    ).toEqual({ level: "info" });
    // Failed as BuildFailed outcomes, not as errors retried until a dead-letter queue.
    expect(logs.filter((l) => l.includes("reconcile failed")).length).toBe(errorsLoggedBefore);
  });

  it("keeps extracted sources and render copies in folders that cannot be listed, under random names", async () => {
    // Arrange
    const repo = await source({
      "deploy/kustomization.yaml": stringify({ resources: ["app.yaml"] }),
      "deploy/app.yaml": stringify(configMap("kustomized", { a: "1" })),
    });
    const work = statePaths(local.plane.stateDir).work;
    // Act
    await applyToStore(local.plane.runtime.store, kustomization("kustomized", repo));
    await applied("kustomized");
    // Assess
    expect((await stat(join(work, "sources"))).mode & 0o777).toBe(0o711);
    expect((await stat(join(work, "builds"))).mode & 0o777).toBe(0o711);
    // (The test runs as root, which may list them anyway.) Each extraction's name carries 96 random bits; copies are gone after their render.
    expect(await readdir(join(work, "sources"))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^sha256_[0-9a-f]{64}\.[0-9a-f]{24}$/)]),
    );
    expect((await readdir(join(work, "sources"))).every((name) => /\.[0-9a-f]{24}$/.test(name))).toBe(true);
    expect(await readdir(join(work, "builds"))).toEqual([]);
  });

  it("fails a Kustomization whose artifact the extraction refuses as ArtifactFailed (Flux's reason), instead of an error retried until the dead-letter queue", async () => {
    // Arrange: an artifact (as a hostile store or source would hand it over) with a symlink out of its root.
    const folder = await mkdtemp(join(tmpdir(), "sluice-hostile-artifact-"));
    await mkdir(join(folder, "deploy"));
    await writeFile(join(folder, "deploy", "app.yaml"), stringify(configMap("never-applied", { a: "1" })));
    await symlink("/etc", join(folder, "deploy", "etc"));
    await createTar(
      { gzip: true, cwd: folder, file: join(folder, "..", `${folder.split("/").pop()}.tar.gz`), portable: true },
      ["deploy"],
    );
    const stored = await local.plane.runtime.artifacts.put(
      `gitrepository/${ns()}/hostile/artifact.tar.gz`,
      await readFile(join(folder, "..", `${folder.split("/").pop()}.tar.gz`)),
    );
    const artifact = {
      path: stored.path,
      url: stored.url,
      revision: "main@sha1:0000000000000000000000000000000000000001",
      digest: stored.digest,
      lastUpdateTime: new Date().toISOString(),
      size: stored.size,
    };
    await local.plane.runtime.store.create({
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "hostile", namespace: ns(), generation: 1 },
      spec: { interval: "1h", url: "https://example.invalid/repo.git", ref: { branch: "main" }, suspend: true },
      status: { artifact },
    });
    const errorsLoggedBefore = logs.filter((l) => l.includes("reconcile failed")).length;
    // Act
    await applyToStore(local.plane.runtime.store, kustomization("hostile", "hostile"));
    const ready = await artifactFailed("Kustomization", "hostile");
    // Assess
    expect(ready.message).toMatch(
      /^source artifact gitrepository\/.*\/hostile\/artifact\.tar\.gz: archive entry deploy\/etc: /,
    );
    expect(logs.filter((l) => l.includes("reconcile failed")).length).toBe(errorsLoggedBefore);
  });

  it("refuses a 40 MiB file by its size: the heap grows far less than the file while its Kustomization fails and a healthy one applies", async () => {
    // Arrange
    const size = 40 << 20;
    const big = await source({
      "deploy/app.yaml": stringify(configMap("small", { a: "1" })),
      "deploy/big.yaml": `# ${"x".repeat(size - 3)}\n`,
    });
    const healthy = await source({ "deploy/app.yaml": stringify(configMap("healthy-too", { a: "1" })) });
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
    try {
      // Act
      await applyToStore(local.plane.runtime.store, kustomization("big", big));
      await applyToStore(local.plane.runtime.store, kustomization("healthy-too", healthy));
      const [bigReady] = await Promise.all([buildFailed("Kustomization", "big"), applied("healthy-too")]);
      // Assess
      expect(bigReady).toMatchObject({
        status: "False",
        message: `deploy/big.yaml is ${size} bytes, over the 33554432-byte limit (renderLimits.maxFileBytes)`,
      });
      expect(peak - baseline).toBeLessThan(size / 4);
    } finally {
      clearInterval(sampler);
    }
  });
});
