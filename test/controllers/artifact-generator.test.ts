import { Readable, Writable } from "node:stream";
import { createGzip, gzipSync } from "node:zlib";
import { Header } from "tar";
import { pino } from "pino";
import { describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import type { Artifact } from "../../src/api/meta.js";
import { applyToStore, requestDeletion, writeStatus } from "../../src/store/objects.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

// An ArtifactGenerator splitting a monorepo into ExternalArtifacts, consumed by a Kustomization, in a local control
// plane against the test bed's Git server and kube-apiserver.

const { kube, git } = inject("testbed");
const logs: { object?: string; msg?: string }[] = [];
const local = planeSuite(kube, git, {
  namespace: "generator",
  log: pino(
    { level: "info" },
    new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(JSON.parse(chunk.toString())), done()) }),
  ),
  settings: { dependencyRequeueMs: 1_000 },
});
const ns = () => local.namespace;
const store = () => local.plane.runtime.store;

const configMap = (greeting: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  greeting: ${greeting}\n`;
const monorepo = (greeting: string, readme: string) => ({
  "apps/base/greeting/configmap.yaml": configMap(greeting),
  "apps/base/greeting/kustomization.yaml": "resources: [configmap.yaml]\n",
  "apps/staging/kustomization.yaml": "resources: [../base/greeting]\n",
  "infrastructure/configs/readme.txt": readme,
  "README.md": readme,
});

/** The reference fleet's ArtifactGenerator for staging (clusters/staging/artifacts.yaml). */
const generator = (name: string, artifacts = ["apps"]): KubeObject => ({
  apiVersion: "source.extensions.fluxcd.io/v1beta1",
  kind: "ArtifactGenerator",
  metadata: { name, namespace: ns() },
  spec: {
    sources: [{ alias: "monorepo", kind: "GitRepository", name: "monorepo" }],
    artifacts: artifacts.map((artifact) => ({
      name: artifact,
      originRevision: "@monorepo",
      copy: [
        { from: "@monorepo/apps/base/**", to: "@artifact/base/" },
        { from: "@monorepo/apps/staging/**", to: "@artifact/staging/" },
      ],
    })),
  },
});

/** A tar.gz with the given entries, for archives a well-behaved archiver never writes. */
function tarGz(entries: { path: string; type: "SymbolicLink"; linkpath: string }[]): Buffer {
  const blocks = entries.map((e) => {
    const block = Buffer.alloc(512);
    new Header({ ...e, size: 0, mode: 0o644, mtime: new Date(0) }).encode(block, 0);
    return block;
  });
  return gzipSync(Buffer.concat([...blocks, Buffer.alloc(1024)]));
}

/** One file of `size` zero bytes, gzipped to a few hundred KiB: what expands past the extraction bound. */
async function zeroBomb(size: number): Promise<Buffer> {
  const header = Buffer.alloc(512);
  new Header({ path: "apps/zeros", type: "File", size, mode: 0o644, mtime: new Date(0) }).encode(header, 0);
  const chunk = Buffer.alloc(1024 * 1024);
  async function* body() {
    yield header;
    for (let left = size; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
    yield Buffer.alloc(1024);
  }
  const parts: Buffer[] = [];
  for await (const part of Readable.from(body()).pipe(createGzip({ level: 1 }))) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

const externalArtifact = async (name: string) =>
  (await store().get({ kind: "ExternalArtifact", namespace: ns(), name }))?.object as
    (KubeObject & { status?: { artifact?: Artifact } }) | undefined;
const reconciles = (key: string) => logs.filter((l) => l.object === key && l.msg === "reconciled").length;
const gitRevision = async () =>
  (
    (await store().get({ kind: "GitRepository", namespace: ns(), name: "monorepo" }))?.object.status as {
      artifact?: Artifact;
    }
  )?.artifact?.revision;

async function greeting(): Promise<string | undefined> {
  const info = (await local.admin.discovery.find("v1", "ConfigMap"))!;
  const found: KubeObject | undefined = await getObject(local.admin, info, ns(), "greeting");
  return (found?.data as Record<string, string> | undefined)?.greeting;
}

describe("ArtifactGenerator and ExternalArtifact (local control plane, test bed Git server and kube-apiserver)", () => {
  it("applies an app's ExternalArtifact, and an unrelated commit neither changes its revision nor wakes its Kustomization", async () => {
    // Prepare
    const repo = `${ns()}-monorepo`;
    const url = await createRepo(git, repo);
    const first = await pushTree(git, repo, { files: monorepo("one", "v1") });
    await applyToStore(store(), {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "monorepo", namespace: ns() },
      spec: { interval: "1h", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
    });
    await applyToStore(store(), generator("monorepo"));
    await applyToStore(store(), {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "apps", namespace: ns() },
      spec: {
        interval: "1h",
        path: "./staging",
        prune: true,
        targetNamespace: ns(),
        sourceRef: { kind: "ExternalArtifact", name: "apps" },
      },
    });
    // Act
    const applied = await until("the app applied from its ExternalArtifact", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "apps");
      return ready(status)?.status === "True" && status;
    });
    const artifact = (await externalArtifact("apps"))!.status!.artifact!;
    const kustomization = `Kustomization/${ns()}/apps`;
    const before = reconciles(kustomization);
    const second = await pushTree(git, repo, { files: monorepo("one", "v2") });
    await local.plane.runtime.queue.enqueue({ key: `GitRepository/${ns()}/monorepo`, reason: "webhook" });
    await until("the unrelated commit's origin revision recorded", async () => {
      const ea = await externalArtifact("apps");
      return ea?.status?.artifact?.metadata?.["org.opencontainers.image.revision"] === `main@sha1:${second}`;
    });
    const unrelated = (await externalArtifact("apps"))!.status!.artifact!;
    const third = await pushTree(git, repo, { files: monorepo("two", "v2") });
    await local.plane.runtime.queue.enqueue({ key: `GitRepository/${ns()}/monorepo`, reason: "webhook" });
    const rolled = await until("the app's change applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "apps");
      return status.lastAppliedOriginRevision === `main@sha1:${third}` && status;
    });
    // Assess
    expect(artifact.revision).toBe(`latest@${artifact.digest}`);
    expect(artifact.metadata).toEqual({ "org.opencontainers.image.revision": `main@sha1:${first}` });
    expect(applied.lastAppliedRevision).toBe(artifact.revision);
    expect(applied.lastAppliedOriginRevision).toBe(`main@sha1:${first}`);
    expect(await gitRevision()).toBe(`main@sha1:${third}`);
    // The unrelated commit: same files, same revision; the Kustomization was not reconciled for it.
    expect(unrelated.revision).toBe(artifact.revision);
    expect(reconciles(kustomization)).toBe(before + 1);
    expect(rolled.lastAppliedRevision).not.toBe(artifact.revision);
    expect(await greeting()).toBe("two");
    const status = await storedStatus(local.plane, "ArtifactGenerator", ns(), "monorepo");
    expect(ready(status)).toMatchObject({
      status: "True",
      message: "reconciliation succeeded, generated 1 artifact(s)",
    });
    const ea = (await externalArtifact("apps"))!;
    expect(ea.spec).toEqual({
      sourceRef: {
        apiVersion: "source.extensions.fluxcd.io/v1beta1",
        kind: "ArtifactGenerator",
        name: "monorepo",
        namespace: ns(),
      },
    });
    expect(ea.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "source-watcher" });
  });

  it("refuses to take over another generator's ExternalArtifact, naming its owner, and leaves it as it was", async () => {
    // Prepare
    const owned = (await externalArtifact("apps"))!;
    const stored = await local.plane.runtime.artifacts.list(`externalartifact/${ns()}/apps/`);
    // Act
    await applyToStore(store(), generator("intruder"));
    const failed = await until("the intruder refused", async () => {
      const status = await storedStatus(local.plane, "ArtifactGenerator", ns(), "intruder");
      return ready(status)?.status === "False" && status;
    });
    // Assess
    expect(ready(failed)).toMatchObject({
      reason: "ReconciliationFailed",
      message: `apps reconcile failed: ExternalArtifact '${ns()}/apps' exists and belongs to ArtifactGenerator/${ns()}/monorepo; it is left as it is`,
    });
    expect(await externalArtifact("apps")).toEqual(owned);
    expect(await local.plane.runtime.artifacts.list(`externalartifact/${ns()}/apps/`)).toEqual(stored);
  });

  it("gives an ExternalArtifact two generators claim at once to one of them; the other fails naming it", async () => {
    // Act
    await Promise.all(["racer-a", "racer-b"].map((name) => applyToStore(store(), generator(name, ["raced"]))));
    const outcomes = await until("both racers judged", async () => {
      const both = await Promise.all(
        ["racer-a", "racer-b"].map(async (name) =>
          ready(await storedStatus(local.plane, "ArtifactGenerator", ns(), name)),
        ),
      );
      return both.every((c) => c) && both;
    });
    // Assess
    const owner = (await externalArtifact("raced"))!.spec as { sourceRef: { name: string } };
    const winner = outcomes.findIndex((c) => c!.status === "True");
    const loser = outcomes[1 - winner]!;
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(owner.sourceRef.name).toBe(["racer-a", "racer-b"][winner]);
    expect(loser).toMatchObject({ status: "False", reason: "ReconciliationFailed" });
    expect(loser.message).toContain(`belongs to ArtifactGenerator/${ns()}/${owner.sourceRef.name}`);
  });

  it("refuses a source artifact holding a link or expanding past 512 MiB, and an ExternalArtifact a fleet registered", async () => {
    // Prepare: suspended sources whose status points at hostile artifacts (a suspended source's status is left as is).
    const artifacts = local.plane.runtime.artifacts;
    const hostile = async (name: string, data: Buffer) => {
      const stored = await artifacts.put(`gitrepository/${ns()}/${name}/hostile.tar.gz`, data);
      const artifact = { ...stored, revision: "main@sha1:0123", lastUpdateTime: new Date().toISOString() };
      await applyToStore(store(), {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata: { name, namespace: ns() },
        spec: { interval: "1h", url: "https://git.example/x.git", suspend: true },
      });
      await writeStatus(store(), { kind: "GitRepository", namespace: ns(), name }, { artifact });
    };
    await hostile("linked", tarGz([{ path: "apps/link", type: "SymbolicLink", linkpath: "/etc/passwd" }]));
    await hostile("bomb", await zeroBomb(600 * 1024 * 1024));
    await applyToStore(store(), {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "ExternalArtifact",
      metadata: { name: "taken", namespace: ns(), labels: { "kustomize.toolkit.fluxcd.io/name": "fleet" } },
      spec: {},
    });
    const failure = async (name: string, source: string, artifact = `${name}-app`) => {
      await applyToStore(store(), {
        ...generator(name),
        spec: {
          sources: [{ alias: "repo", kind: "GitRepository", name: source }],
          artifacts: [{ name: artifact, copy: [{ from: "@repo/apps/**", to: "@artifact/" }] }],
        },
      });
      return until(`${name} failed`, async () =>
        ready(await storedStatus(local.plane, "ArtifactGenerator", ns(), name)),
      );
    };
    // Act
    const linked = await failure("linked", "linked");
    const bomb = await failure("bomb", "bomb");
    const taken = await failure("taker", "monorepo", "taken");
    // Assess
    expect(linked).toMatchObject({ status: "False", reason: "SourceFetchFailed" });
    expect(linked!.message).toMatch(
      new RegExp(`^fetch sources failed: artifact of 'GitRepository/${ns()}/linked' is refused: .*link`),
    );
    expect(bomb).toMatchObject({ status: "False", reason: "SourceFetchFailed" });
    expect(bomb!.message).toContain("archive expands to more than 536870912 bytes");
    expect(taken).toMatchObject({
      status: "False",
      reason: "ReconciliationFailed",
      message: `taken reconcile failed: ExternalArtifact '${ns()}/taken' exists and belongs to no ArtifactGenerator; it is left as it is`,
    });
    expect(await externalArtifact("linked-app")).toBeUndefined();
    expect((await externalArtifact("taken"))!.status).toBeUndefined();
  }, 60_000);

  it("stalls with ValidationFailed on a duplicate alias or a revision naming no alias, as source-watcher validates", async () => {
    // Act
    const judged = async (name: string, spec: Record<string, unknown>) => {
      await applyToStore(store(), { ...generator(name), spec });
      return until(`${name} judged`, async () => {
        const status = await storedStatus(local.plane, "ArtifactGenerator", ns(), name);
        return ready(status) && status;
      });
    };
    const copy = [{ from: "@repo/apps/**", to: "@artifact/" }];
    const source = { alias: "repo", kind: "GitRepository", name: "monorepo" };
    const duplicate = await judged("duplicate", { sources: [source, source], artifacts: [{ name: "dup-app", copy }] });
    const dangling = await judged("dangling", {
      sources: [source],
      artifacts: [{ name: "dangling-app", revision: "@nope", copy }],
    });
    // Assess
    for (const [status, message] of [
      [duplicate, "duplicate source alias 'repo' found"],
      [dangling, "artifact dangling-app revision source alias 'nope' not found"],
    ] as const) {
      expect(ready(status)).toMatchObject({ status: "False", reason: "ValidationFailed", message });
      expect(status.conditions?.find((c) => c.type === "Stalled")).toMatchObject({ status: "True", message });
    }
  });

  it("fails with SourceFetchFailed while a source has no artifact, then deletes its ExternalArtifacts with it", async () => {
    // Prepare
    await applyToStore(store(), {
      ...generator("waiting", ["waiting-app"]),
      spec: {
        sources: [{ alias: "monorepo", kind: "GitRepository", name: "missing" }],
        artifacts: [{ name: "waiting-app", copy: [{ from: "@monorepo/apps/**", to: "@artifact/" }] }],
      },
    });
    const waiting = await until("the missing source reported", async () => {
      const status = await storedStatus(local.plane, "ArtifactGenerator", ns(), "waiting");
      return ready(status)?.status === "False" && status;
    });
    const paths = await local.plane.runtime.artifacts.list(`externalartifact/${ns()}/apps/`);
    // The intruder (still retrying) would take the name over once it is free: it goes first.
    const remove = async (name: string) => {
      await requestDeletion(store(), { kind: "ArtifactGenerator", namespace: ns(), name }, new Date());
      await local.plane.runtime.queue.enqueue({ key: `ArtifactGenerator/${ns()}/${name}`, reason: "deleted" });
    };
    await remove("intruder");
    await until(
      "the intruder gone",
      async () => !(await store().get({ kind: "ArtifactGenerator", namespace: ns(), name: "intruder" })),
    );
    // Act
    await remove("monorepo");
    await until("the generator gone", async () => !(await externalArtifact("apps")));
    // Assess
    expect(ready(waiting)).toMatchObject({
      reason: "SourceFetchFailed",
      message: `get sources failed: source 'GitRepository/${ns()}/missing' not found`,
    });
    expect(paths.length).toBeGreaterThan(0);
    expect(await local.plane.runtime.artifacts.list(`externalartifact/${ns()}/apps/`)).toEqual([]);
    expect(await store().get({ kind: "ArtifactGenerator", namespace: ns(), name: "monorepo" })).toBeUndefined();
  });
});
