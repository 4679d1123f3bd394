import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { ObjectKey } from "../../src/api/object-key.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { FileEvents, readEvents } from "../../src/notify/file-events.js";
import { systemClock } from "../../src/ports/clock.js";
import { FileStore } from "../../src/store/fs-store.js";
import { writeStatus } from "../../src/store/objects.js";
import { ACTION_HEADER } from "../../src/ui/api/guard.js";
import { NO_CLUSTER, type HealthReader } from "../../src/ui/api/health.js";
import { uiApi, type UiApiPorts } from "../../src/ui/api/router.js";
import {
  DRIFT_LIMIT,
  HEALTH_LIMIT,
  type ClusterRow,
  type InventoryHealth,
  type ObjectDetail,
  type ObjectRow,
  type SourceRow,
  type UiResponse,
} from "../../src/ui/api/types.js";

const HOST = "127.0.0.1:9294";
let dir: string;
let store: FileStore;
let eventsFile: string;
let ports: UiApiPorts;

const condition = (status: string, reason: string, message: string) => ({
  type: "Ready",
  status,
  reason,
  message,
  lastTransitionTime: "2026-12-02T04:00:00Z",
});

async function put(kind: string, name: string, spec: object, status?: object, annotations?: Record<string, string>) {
  const apiVersion = kind === "Cluster" ? "sluice.dev/v1alpha1" : `${kind.toLowerCase()}.toolkit.fluxcd.io/v1`;
  const namespace = kind === "Cluster" ? "sluice-system" : "apps";
  await store.create({ apiVersion, kind, metadata: { name, namespace, generation: 1, annotations }, spec });
  if (status) await writeStatus(store, { kind, namespace, name }, status);
}

const call = (method: string, path: string, headers: Record<string, string> = {}, actor = "alice") => {
  // Split by hand, not by URL: the attacker's path reaches the router as sent (no `..` resolved).
  const [pathname = "", search = ""] = path.split("?");
  return uiApi(ports)({
    method,
    path: pathname,
    query: new URLSearchParams(search),
    headers: { host: HOST, ...headers },
    actor,
  });
};
const post = (path: string, headers: Record<string, string> = {}) =>
  call("POST", path, { [ACTION_HEADER]: "1", origin: `http://${HOST}`, "sec-fetch-site": "same-origin", ...headers });
const body = <T>(response: UiResponse) => JSON.parse(response.body) as T;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-ui-api-"));
  store = new FileStore(join(dir, "store"));
  eventsFile = join(dir, "events.jsonl");
  ports = {
    store,
    events: new FileEvents(eventsFile),
    clock: systemClock,
    hosts: [HOST, "localhost:9294"],
    readEvents: async (key?: ObjectKey) =>
      (await readEvents(eventsFile)).filter(
        (e) =>
          !key ||
          (e.involvedObject.kind === key.kind &&
            e.involvedObject.namespace === key.namespace &&
            e.involvedObject.name === key.name),
      ),
  };
  await put(
    "GitRepository",
    "fleet",
    { url: "https://git.example/fleet.git", interval: "1m" },
    {
      conditions: [condition("True", "Succeeded", "stored artifact")],
      artifact: { revision: "main@sha1:abc", lastUpdateTime: "2026-12-02T04:01:00Z", size: 1234, url: "u", path: "p" },
    },
  );
  await put(
    "Kustomization",
    "good",
    { sourceRef: { kind: "GitRepository", name: "fleet" }, path: "./", prune: true },
    {
      conditions: [condition("True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")],
      lastAppliedRevision: "main@sha1:abc",
      inventory: {
        entries: [
          { id: "apps_web_apps_Deployment", v: "v1" },
          { id: "apps_bad_kustomize.toolkit.fluxcd.io_Kustomization", v: "v1" },
          { id: "not-an-id", v: "v1" },
        ],
      },
    },
  );
  await put(
    "Kustomization",
    "bad",
    { sourceRef: { kind: "GitRepository", name: "fleet" }, path: "./nope", prune: true },
    { conditions: [condition("False", "BuildFailed", "kustomization path not found: <script>alert(1)</script>")] },
    { "sluice.dev/cluster": "edge" },
  );
  await put("Cluster", "edge", { mode: "agent" });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the web UI's API (transport-free, over a file Store)", () => {
  it("lists every Flux object failing first, with kind, cluster, Ready, revision and message", async () => {
    // Act
    const response = await call("GET", "/api/v1/objects");
    // Assert
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
    const rows = body<ObjectRow[]>(response);
    expect(rows.map((r) => `${r.kind}/${r.name}`)).toEqual([
      "Kustomization/bad",
      "GitRepository/fleet",
      "Kustomization/good",
    ]);
    expect(rows[0]).toMatchObject({ ready: "False", reason: "BuildFailed", cluster: "edge", suspended: false });
    expect(rows[0]!.message).toContain("<script>"); // data, not markup: escaping is the page's job
    expect(rows[2]).toMatchObject({ ready: "True", revision: "main@sha1:abc", since: "2026-12-02T04:00:00Z" });
  });

  it("shows one object: conditions, inventory (Flux objects with their Ready), graph source → it → objects", async () => {
    // Act
    const response = await call("GET", "/api/v1/objects/Kustomization/apps/good");
    // Assert
    expect(response.status).toBe(200);
    const detail = body<ObjectDetail>(response);
    expect(detail.conditions[0]).toMatchObject({ type: "Ready", reason: "ReconciliationSucceeded" });
    expect(detail.inventory).toEqual([
      { namespace: "apps", name: "web", group: "apps", kind: "Deployment", version: "v1" },
      {
        namespace: "apps",
        name: "bad",
        group: "kustomize.toolkit.fluxcd.io",
        kind: "Kustomization",
        version: "v1",
        ready: "False",
      },
    ]);
    expect(detail.graph.edges).toEqual(
      expect.arrayContaining([
        ["GitRepository/apps/fleet", "Kustomization/apps/good"],
        ["Kustomization/apps/good", "Deployment/apps/web"],
        ["Kustomization/apps/good", "Kustomization/apps/bad"],
      ]),
    );
    expect(detail.actions).toEqual({ reconcile: true, suspend: true, resume: false, withSource: true });
  });

  it("lists sources with revision, last fetch and artifact size, and clusters with their counts", async () => {
    // Act
    const sources = body<SourceRow[]>(await call("GET", "/api/v1/sources"));
    const clusters = body<ClusterRow[]>(await call("GET", "/api/v1/clusters"));
    // Assert
    expect(sources).toEqual([
      expect.objectContaining({
        name: "fleet",
        revision: "main@sha1:abc",
        lastFetch: "2026-12-02T04:01:00Z",
        size: 1234,
        url: "https://git.example/fleet.git",
      }),
    ]);
    expect(clusters).toEqual([{ name: "edge", mode: "agent", objects: 1, ready: 0, failing: 1 }]);
  });

  it("reconcile sets requestedAt as the CLI does and records who asked; suspend and resume set spec.suspend", async () => {
    // Act
    const reconciled = await post("/api/v1/objects/Kustomization/apps/good/reconcile");
    const suspended = await post("/api/v1/objects/Kustomization/apps/good/suspend");
    const refused = await post("/api/v1/objects/Kustomization/apps/good/reconcile");
    const afterSuspend = await store.get({ kind: "Kustomization", namespace: "apps", name: "good" });
    const resumed = await post("/api/v1/objects/Kustomization/apps/good/resume");
    // Assert
    expect(reconciled.status).toBe(202);
    const { token } = body<{ token: string }>(reconciled);
    const after = await store.get({ kind: "Kustomization", namespace: "apps", name: "good" });
    expect(after?.object.metadata.annotations?.[REQUESTED_AT]).toBe(token);
    expect(suspended.status).toBe(202);
    expect((afterSuspend?.object.spec as { suspend?: boolean }).suspend).toBe(true);
    expect(refused.status).toBe(409);
    expect(body<{ error: string }>(refused).error).toContain("resume Kustomization 'good' first");
    expect(resumed.status).toBe(202);
    expect((after?.object.spec as { suspend?: boolean }).suspend).toBeUndefined();
    const events = await readEvents(eventsFile);
    expect(events.map((e) => [e.reason, e.message, e.metadata["sluice.dev/actor"]])).toEqual([
      ["ReconcileRequested", "reconcile requested by alice from the web UI", "alice"],
      ["SuspendRequested", "suspend requested by alice from the web UI", "alice"],
      ["ResumeRequested", "resume requested by alice from the web UI", "alice"],
    ]);
    const detail = body<ObjectDetail>(await call("GET", "/api/v1/objects/Kustomization/apps/good"));
    expect(detail.events.map((e) => e.actor)).toEqual(["alice", "alice", "alice"]);
  });

  it("reconcile with source waits for the source's request to be handled, then asks the object", async () => {
    // Arrange: the control plane's part, answering the source's request as `sluice run` does.
    const source = { kind: "GitRepository", namespace: "apps", name: "fleet" };
    let answered = false;
    const answer = setInterval(async () => {
      const requested = (await store.get(source))?.object.metadata.annotations?.[REQUESTED_AT];
      if (!requested || answered) return;
      answered = true;
      const status = (await store.get(source))!.object.status as object;
      await writeStatus(store, source, { ...status, lastHandledReconcileAt: requested });
    }, 20);
    // Act
    const response = await post("/api/v1/objects/Kustomization/apps/good/reconcile?withSource=true").finally(() =>
      clearInterval(answer),
    );
    // Assert
    expect(response.status).toBe(202);
    expect(answered).toBe(true);
    const ks = await store.get({ kind: "Kustomization", namespace: "apps", name: "good" });
    expect(ks?.object.metadata.annotations?.[REQUESTED_AT]).toBe(body<{ token: string }>(response).token);
  });

  it("reconcile with source gives up when no control plane handles the source, asking nothing of the object", async () => {
    // Arrange
    ports.sourceWaitMs = 300;
    // Act
    const response = await post("/api/v1/objects/Kustomization/apps/good/reconcile?withSource=true");
    // Assert
    expect(response.status).toBe(504);
    const ks = await store.get({ kind: "Kustomization", namespace: "apps", name: "good" });
    expect(ks?.object.metadata.annotations?.[REQUESTED_AT]).toBeUndefined();
  });

  it("health: read only for the inventory's non-Flux objects, keyed as the graph's nodes, at most HEALTH_LIMIT", async () => {
    // Arrange: a stand-in for the cluster reader (the real one runs against kube-apiserver in browser.test.ts)
    const asked: string[][] = [];
    ports.health = async (_owner, entries) => {
      asked.push(entries.map((e) => e.id));
      return {
        identity: "user system:serviceaccount:apps:deployer",
        objects: Object.fromEntries(entries.map((e) => [e.id, { status: "Failed", message: "Ready: 0/1" }])),
      };
    };
    const many = Array.from({ length: HEALTH_LIMIT + 50 }, (_, i) => ({ id: `apps_c${i}__ConfigMap`, v: "v1" }));
    await put(
      "Kustomization",
      "big",
      { sourceRef: { kind: "GitRepository", name: "fleet" }, path: "./" },
      {
        inventory: { entries: many },
      },
    );
    // Act
    const good = body<InventoryHealth>(await call("GET", "/api/v1/objects/Kustomization/apps/good/health"));
    const big = body<InventoryHealth>(await call("GET", "/api/v1/objects/Kustomization/apps/big/health"));
    // Assert
    expect(asked[0]).toEqual(["apps_web_apps_Deployment"]); // not the Kustomization, not the malformed id
    expect(good).toMatchObject({
      identity: "user system:serviceaccount:apps:deployer",
      objects: { "Deployment/apps/web": { status: "Failed", message: "Ready: 0/1" } },
      skipped: 0,
    });
    expect(good.notChecked).toBeUndefined();
    expect(asked[1]).toHaveLength(HEALTH_LIMIT);
    expect(big.skipped).toBe(50);
    expect(Object.keys(big.objects)).toHaveLength(HEALTH_LIMIT);
  });

  it("health: where the UI reaches no cluster, or the reader cannot, it says why instead of guessing", async () => {
    // Act
    const unread = body<InventoryHealth>(await call("GET", "/api/v1/objects/Kustomization/apps/good/health"));
    ports.health = (async () => ({ notChecked: "its objects are in agent cluster 'edge'" })) satisfies HealthReader;
    const agent = body<InventoryHealth>(await call("GET", "/api/v1/objects/Kustomization/apps/good/health"));
    const missing = await call("GET", "/api/v1/objects/Kustomization/apps/nope/health");
    const posted = await post("/api/v1/objects/Kustomization/apps/good/health");
    // Assert
    expect(unread).toMatchObject({ notChecked: NO_CLUSTER, objects: {} });
    expect(agent).toMatchObject({ notChecked: "its objects are in agent cluster 'edge'", objects: {} });
    expect(missing.status).toBe(404);
    expect(posted.status).toBe(405);
  });

  it("an event's drift report reaches the page as rows: object, field, before, after; the newest DRIFT_LIMIT only", async () => {
    // Arrange: a controller fighting Sluice over a field makes a correction every interval
    const correction = (level: string, timestamp: string): FluxEvent => ({
      involvedObject: {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        namespace: "apps",
        name: "good",
      },
      severity: "info",
      reason: "ReconciliationSucceeded",
      message: "drift corrected:\nConfigMap/apps/settings configured",
      metadata: { revision: "main@sha1:abc" },
      reportingController: "kustomize-controller",
      timestamp,
      drift: {
        objects: [
          {
            subject: "ConfigMap/apps/settings",
            diff: { changes: [{ path: "data.level", before: level, after: '"info"' }], omitted: 2 },
          },
        ],
        omitted: 3,
      },
    });
    const events = new FileEvents(eventsFile);
    for (let i = 0; i < DRIFT_LIMIT; i++) await events.emit(correction(`"old-${i}"`, "2026-12-02T04:00:00Z"));
    await events.emit(correction('"debug"', "2026-12-02T05:00:00Z"));
    // Act
    const detail = body<ObjectDetail>(await call("GET", "/api/v1/objects/Kustomization/apps/good"));
    // Assert
    expect(detail.events[0]).toMatchObject({
      drift: [
        {
          subject: "ConfigMap/apps/settings",
          changes: [{ path: "data.level", before: '"debug"', after: '"info"' }],
          omitted: 2,
        },
      ],
      driftOmitted: 3,
    });
    expect(detail.events.filter((e) => e.drift)).toHaveLength(DRIFT_LIMIT);
    expect(detail.events.at(-1)).toMatchObject({ message: expect.stringContaining("drift corrected") });
    expect(detail.events.at(-1)!.drift).toBeUndefined();
  });

  describe("refuses what an attacker would send", () => {
    it("a form POST from another origin, or a cross-site fetch, or a POST without the action header", async () => {
      // Act
      const fromForm = await call("POST", "/api/v1/objects/Kustomization/apps/good/suspend", {
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      });
      const crossSite = await post("/api/v1/objects/Kustomization/apps/good/suspend", {
        "sec-fetch-site": "cross-site",
      });
      const noHeader = await call("POST", "/api/v1/objects/Kustomization/apps/good/suspend");
      const nullOrigin = await post("/api/v1/objects/Kustomization/apps/good/suspend", { origin: "null" });
      // Assert
      expect([fromForm.status, crossSite.status, noHeader.status, nullOrigin.status]).toEqual([403, 403, 403, 403]);
      const ks = await store.get({ kind: "Kustomization", namespace: "apps", name: "good" });
      expect((ks?.object.spec as { suspend?: boolean }).suspend).toBeUndefined();
      expect(await readEvents(eventsFile)).toEqual([]);
    });

    it("a DNS-rebinding Host, even for reads; preflights and other methods", async () => {
      // Act
      const rebound = await call("GET", "/api/v1/objects", { host: "attacker.example:9294" });
      const noHost = await uiApi(ports)({
        method: "GET",
        path: "/api/v1/objects",
        query: new URLSearchParams(),
        headers: {},
        actor: "x",
      });
      const preflight = await call("OPTIONS", "/api/v1/objects/Kustomization/apps/good/suspend", {
        origin: "https://evil.example",
      });
      const put = await call("PUT", "/api/v1/objects/Kustomization/apps/good", { [ACTION_HEADER]: "1" });
      // Assert
      expect(rebound.status).toBe(421);
      expect(rebound.body).not.toContain("good");
      expect(noHost.status).toBe(421);
      expect(preflight.status).toBe(405);
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
      expect(put.status).toBe(405);
    });

    it("paths that would leave the Store, and kinds that take no action", async () => {
      // Act
      const traversal = await call("GET", "/api/v1/objects/Kustomization/..%2F..%2F..%2Fetc/passwd");
      const dots = await call("GET", "/api/v1/objects/Kustomization/apps/..");
      const badEncoding = await call("GET", "/api/v1/objects/Kustomization/apps/%E0%A4%A");
      const cluster = await post("/api/v1/objects/Cluster/sluice-system/edge/suspend");
      const missing = await post("/api/v1/objects/Kustomization/apps/nope/reconcile");
      // Assert
      expect([traversal.status, dots.status, badEncoding.status]).toEqual([400, 400, 400]);
      expect(cluster.status).toBe(400);
      expect(missing.status).toBe(404);
      expect(body<{ error: string }>(missing).error).toBe("Kustomization 'nope' not found in apps namespace");
    });
  });
});
