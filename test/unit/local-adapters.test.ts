import { execFile } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { FileArtifactStore } from "../../src/artifacts/fs-artifact-store.js";
import { MemoryQueue } from "../../src/queue/memory-queue.js";
import type { ReconcileRequest } from "../../src/queue/queue.js";
import { systemClock } from "../../src/ports/clock.js";
import { FileStore } from "../../src/store/fs-store.js";
import { ConflictError } from "../../src/store/store.js";

const run = promisify(execFile);
const scratch = () => mkdtemp(join(tmpdir(), "sluice-local-"));
const object = (name: string, data: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Counter",
  metadata: { name, namespace: "default" },
  data,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("FileStore (local Store adapter)", () => {
  it("creates, reads, updates with the version it read, refuses stale writes, lists and deletes", async () => {
    // Arrange
    const store = new FileStore(await scratch());
    // Act
    const created = await store.create(object("a", { v: 1 }));
    await store.create(object("b"));
    const updated = await store.update(object("a", { v: 2 }), created.version);
    // Assess
    await expect(store.create(object("a"))).rejects.toBeInstanceOf(ConflictError);
    await expect(store.update(object("a", { v: 3 }), created.version)).rejects.toBeInstanceOf(ConflictError);
    expect((await store.get({ kind: "Counter", namespace: "default", name: "a" }))?.object.data).toEqual({ v: 2 });
    expect((await store.list({ kind: "Counter" })).map((s) => s.object.metadata.name)).toEqual(["a", "b"]);
    await expect(
      store.delete({ kind: "Counter", namespace: "default", name: "a" }, created.version),
    ).rejects.toBeInstanceOf(ConflictError);
    await store.delete({ kind: "Counter", namespace: "default", name: "a" }, updated.version);
    await store.delete({ kind: "Counter", namespace: "default", name: "a" });
    expect(await store.list()).toHaveLength(1);
  });

  it("gives each file a signature that every write changes, the same bytes included, and nothing else does", async () => {
    const store = new FileStore(await scratch());
    const a = await store.create(object("a", { v: 1 }));
    await store.create(object("b"));
    const before = await store.signatures();
    expect(before.map((s) => s.key.name)).toEqual(["a", "b"]);
    await store.get({ kind: "Counter", namespace: "default", name: "a" });
    expect(await store.signatures()).toEqual(before);
    await store.update(object("a", { v: 1 }), a.version);
    const after = await store.signatures();
    expect(after[0]!.signature).not.toBe(before[0]!.signature);
    expect(after[1]).toEqual(before[1]);
  });

  it("names each object another writer creates, updates or deletes, once the kernel tells, and nothing else", async () => {
    // Arrange: a second FileStore on the same folder, as the CLI is to `sluice run`.
    const root = await scratch();
    const store = new FileStore(root);
    await store.create(object("old"));
    const noticed = new Set<string>();
    let lost = false;
    const watcher = store.watchChanges(
      (key) => noticed.add(`${key.kind}/${key.namespace}/${key.name}`),
      () => (lost = true),
    );
    const other = new FileStore(root);
    // Act: a new kind's folder too, created after the watch began; and files that are not objects.
    await other.create({ ...object("fresh"), kind: "Gauge" });
    const old = await other.get({ kind: "Counter", namespace: "default", name: "old" });
    await other.update(object("old", { v: 2 }), old!.version);
    await other.create(object("gone"));
    await other.delete({ kind: "Counter", namespace: "default", name: "gone" });
    await writeFile(join(root, "Counter", "default", "notes.txt"), "x");
    await mkdir(join(root, "Counter", "default", "deeper"), { recursive: true });
    await writeFile(join(root, "Counter", "default", "deeper", "x.json"), "{}");
    // Assess
    for (let waited = 0; noticed.size < 3 && waited < 5_000; waited += 50) await sleep(50);
    expect(watcher).toBeDefined();
    expect([...noticed].sort()).toEqual(["Counter/default/gone", "Counter/default/old", "Gauge/default/fresh"]);
    expect(lost).toBe(false);
    const signatures = await store.signaturesOf([
      { kind: "Counter", namespace: "default", name: "old" },
      { kind: "Counter", namespace: "default", name: "gone" },
    ]);
    expect(signatures[0]!.signature).toEqual((await store.signatures()).find((s) => s.key.name === "old")?.signature);
    expect(signatures[1]!.signature).toBeUndefined();
    // Act: the same object written again (a second rename over it, which Node's recursive watch would miss).
    noticed.clear();
    const again = await other.get({ kind: "Counter", namespace: "default", name: "old" });
    await other.update(object("old", { v: 3 }), again!.version);
    // Assess
    for (let waited = 0; noticed.size < 1 && waited < 5_000; waited += 50) await sleep(50);
    expect([...noticed]).toEqual(["Counter/default/old"]);
    watcher!.close();
  });

  it("keeps every increment when four processes race on one object", async () => {
    // Arrange
    const root = await scratch();
    await new FileStore(root).create(object("shared", { count: 0 }));
    // Act
    await Promise.all(
      Array.from({ length: 4 }, () =>
        run(process.execPath, ["--import", "tsx", "test/fixtures/store-increment.ts", root]),
      ),
    );
    // Assess
    expect(
      (await new FileStore(root).get({ kind: "Counter", namespace: "default", name: "shared" }))?.object.data,
    ).toEqual({ count: 80 });
  }, 60_000);
});

describe("MemoryQueue (local Queue adapter)", () => {
  function recorder(ms = 20) {
    const runs: string[] = [];
    let concurrent = 0;
    let maxPerKey = 0;
    const active = new Map<string, number>();
    let maxConcurrent = 0;
    const handler = async (request: ReconcileRequest) => {
      active.set(request.key, (active.get(request.key) ?? 0) + 1);
      maxPerKey = Math.max(maxPerKey, active.get(request.key)!);
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      runs.push(request.key);
      await sleep(ms);
      concurrent--;
      active.set(request.key, active.get(request.key)! - 1);
    };
    return { runs, handler, stats: () => ({ maxPerKey, maxConcurrent }) };
  }

  it("merges waiting duplicates into one run, and runs different keys in parallel up to the limit", async () => {
    // Arrange
    const queue = new MemoryQueue({ clock: systemClock, concurrency: 2 });
    const r = recorder();
    // Act
    for (let i = 0; i < 5; i++) await queue.enqueue({ key: "K/ns/a", reason: "webhook" });
    await queue.enqueue({ key: "K/ns/b", reason: "interval" });
    await queue.enqueue({ key: "K/ns/c", reason: "interval" });
    queue.start(r.handler);
    await sleep(5);
    await queue.idle();
    // Assess
    expect(r.runs.sort()).toEqual(["K/ns/a", "K/ns/b", "K/ns/c"]);
    expect(r.stats().maxConcurrent).toBe(2);
  });

  it("keeps a request that arrives while its key runs, and runs it once after", async () => {
    const queue = new MemoryQueue({ clock: systemClock });
    const r = recorder(40);
    queue.start(r.handler);
    await queue.enqueue({ key: "K/ns/a", reason: "first" });
    await sleep(10);
    await queue.enqueue({ key: "K/ns/a", reason: "during" });
    await queue.enqueue({ key: "K/ns/a", reason: "during again" });
    await sleep(5);
    await queue.idle();
    expect(r.runs).toEqual(["K/ns/a", "K/ns/a"]);
    expect(r.stats().maxPerKey).toBe(1);
  });

  it("runs a delayed requeue after its delay, not before, and stop() waits for runs in flight", async () => {
    const queue = new MemoryQueue({ clock: systemClock, jitter: 0 });
    const r = recorder(30);
    queue.start(r.handler);
    const start = Date.now();
    await queue.enqueue({ key: "K/ns/later", reason: "interval" }, { delayMs: 80 });
    await sleep(40);
    expect(r.runs).toEqual([]);
    await sleep(60);
    expect(r.runs).toEqual(["K/ns/later"]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(80);
    await queue.stop();
    expect(queue.running()).toEqual([]);
  });
});

describe("FileArtifactStore (local ArtifactStore adapter)", () => {
  it("stores content-addressed blobs, verifies digests, lists by prefix and refuses escaping paths", async () => {
    const store = new FileArtifactStore(await scratch());
    const stored = await store.put("gitrepository/ns/app/abc.tar.gz", Buffer.from("data"));
    expect(stored).toMatchObject({
      digest: "sha256:3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7",
      size: 4,
    });
    await expect(store.get(stored.path, stored.digest)).resolves.toEqual(Buffer.from("data"));
    await expect(store.get(stored.path, "sha256:00")).rejects.toThrow("does not match");
    await expect(store.get("gitrepository/ns/app/none.tar.gz")).resolves.toBeUndefined();
    expect(await store.list("gitrepository/ns/")).toEqual(["gitrepository/ns/app/abc.tar.gz"]);
    await expect(store.put("../escape", Buffer.from("x"))).rejects.toThrow(
      "must be relative and stay inside the store",
    );
  });
});
