import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { request, createServer, type Server } from "node:https";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { KubeClient } from "../../src/cluster/kube-client.js";
import { MetadataWatch, type WatchedRef } from "../../src/cluster/metadata-watch.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Log } from "../../src/ports/log.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";
import { until } from "../controllers/helpers.js";
import type { Cluster } from "../../src/cluster/cluster.js";

// The config watch's list-then-watch against the test bed's real kube-apiserver, reached through a TLS proxy the
// test controls: it cuts watch streams, holds reconnections, keeps every byte the server sent, and answers a watch
// with 410 Gone in the apiserver's words. (A young apiserver's watch cache still serves any old resourceVersion, so
// a real expiry would take its window rolling past, minutes of churn.)

const { kube } = inject("testbed");
const run = promisify(execFile);
const LABEL = "reconcile.fluxcd.io/watch";
const SELECTOR = `${LABEL}=Enabled`;

interface Proxy {
  server: string;
  ca: string;
  /** Everything the API server answered, concatenated. */
  received: string;
  /** Watch requests relayed, and answered by the proxy itself. */
  watches: number;
  answered: number;
  /** Ends every open watch stream. */
  cut(): void;
  /** Holds new watch requests until `release`. */
  hold(): void;
  release(): void;
  /** The proxy answers the next watch itself (every watch with `always`, until `undefined`), given its resourceVersion. */
  answerNext(answer: ((since: string) => { status: number; body: string }) | undefined, always?: boolean): void;
  close(): Promise<void>;
}

async function watchProxy(): Promise<Proxy> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-watch-proxy-"));
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
    ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
  ]);
  const [key, cert] = await Promise.all([readFile(join(dir, "key.pem")), readFile(join(dir, "cert.pem"), "utf8")]);
  const streams = new Set<ServerResponse>();
  const held: (() => void)[] = [];
  let holding = false;
  let answerNext: ((since: string) => { status: number; body: string }) | undefined;
  let answerAlways = false;
  const state = { received: "", watches: 0, answered: 0 };
  const upstream = new URL(kube.server);
  const server: Server = createServer({ key, cert }, (req, res) => {
    const url = new URL(req.url!, kube.server);
    const watching = url.searchParams.get("watch") === "1";
    const forward = () => {
      if (watching && answerNext) {
        const { status, body } = answerNext(url.searchParams.get("resourceVersion") ?? "");
        res.writeHead(status, { "content-type": "application/json" }).end(body);
        if (!answerAlways) answerNext = undefined;
        state.answered++;
        return;
      }
      if (watching) {
        state.watches++;
        streams.add(res);
        res.on("close", () => streams.delete(res));
      }
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: url.pathname + url.search,
          method: req.method,
          headers: { ...req.headers, host: upstream.host },
          ca: kube.caPem,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.on("data", (chunk: Buffer) => {
            const text = chunk.toString("utf8");
            state.received += text;
            res.write(chunk);
          });
          answer.on("end", () => res.end());
          answer.on("error", () => res.destroy());
          res.on("close", () => answer.destroy());
        },
      );
      out.on("error", () => res.destroy());
      req.pipe(out);
    };
    if (watching && holding) held.push(forward);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    ca: cert,
    get received() {
      return state.received;
    },
    get watches() {
      return state.watches;
    },
    get answered() {
      return state.answered;
    },
    cut: () => streams.forEach((s) => s.destroy()),
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      held.splice(0).forEach((go) => go());
    },
    answerNext: (answer, always = false) => {
      answerNext = answer;
      answerAlways = always;
    },
    close: () =>
      new Promise<void>((resolve) => {
        streams.forEach((s) => s.destroy());
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const lines: string[] = [];
const log: Log = {
  info: (fields, message) => void lines.push(JSON.stringify({ ...fields, message })),
  warn: (fields, message) => void lines.push(JSON.stringify({ ...fields, err: String(fields.err), message })),
  error: (fields, message) => void lines.push(JSON.stringify({ ...fields, err: String(fields.err), message })),
  child: () => log,
};

let proxy: Proxy;
let admin: Cluster;
let namespace: { name: string; remove(): Promise<void> };
const watches: MetadataWatch[] = [];

beforeAll(async () => {
  proxy = await watchProxy();
  admin = await adminCluster(kube);
  namespace = await freshNamespace(kube, "metadata-watch");
});
// Each test's watch stops with it, so the proxy's hold and expiry reach the next test's watch only.
afterEach(async () => void (await Promise.all(watches.splice(0).map((w) => w.stop()))));
afterAll(async () => {
  await proxy?.close();
  await namespace?.remove();
});

/** A watch of one collection through the proxy, collecting what it tells about the test's namespace. */
async function startWatch(path: string, options: { watchSeconds?: number } = {}) {
  const told: string[] = [];
  const client = new KubeClient(proxy.server, { ca: proxy.ca, headers: { authorization: `Bearer ${kube.token}` } });
  const watch = new MetadataWatch({
    client,
    path,
    labelSelector: SELECTOR,
    log,
    clock: systemClock,
    backoffMs: 100,
    watchSeconds: options.watchSeconds ? () => options.watchSeconds! : undefined,
    onChange: async (ref: WatchedRef) => void (ref.namespace === namespace.name && told.push(ref.name)),
  });
  watches.push(watch);
  await watch.start();
  return { told, watch };
}

const base = () => `/api/v1/namespaces/${namespace.name}/configmaps`;
const labelled = { [LABEL]: "Enabled" };
const createMap = (name: string, data: Record<string, string>, labels?: Record<string, string>) =>
  admin.client.send({ method: "POST", path: base(), body: { metadata: { name, labels }, data } });
const patchMap = (name: string, patch: unknown) =>
  admin.client.send({
    method: "PATCH",
    path: `${base()}/${name}`,
    body: patch,
    contentType: "application/merge-patch+json",
  });
const deleteMap = (name: string) => admin.client.send({ method: "DELETE", path: `${base()}/${name}` });
/**
 * How the apiserver answers a watch from a resourceVersion it no longer has: 410 Gone, as an ERROR event in the stream
 * (the watch cache) or as the HTTP status (a watch that cannot start).
 */
function expired(since: string, form: "event" | "status"): { status: number; body: string } {
  const message = `too old resource version: ${since} (${Number(since) + 1000})`;
  const gone = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: "Expired",
    code: 410,
  };
  return form === "event"
    ? { status: 200, body: `${JSON.stringify({ type: "ERROR", object: gone })}\n` }
    : { status: 410, body: JSON.stringify(gone) };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`metadata watch of ConfigMaps and Secrets, kube-apiserver ${kube.version}`, () => {
  it("tells of labelled objects created, changed and deleted; not of unlabelled ones, nor of one relabelled away", async () => {
    await createMap("before", { a: "1" }, labelled);
    const { told } = await startWatch("/api/v1/configmaps");
    await createMap("quiet", { a: "1" });
    await createMap("loud", { a: "1" }, labelled);
    await patchMap("loud", { data: { a: "2" } });
    await patchMap("quiet", { data: { a: "2" } });
    // The label added to an existing object: it enters the selection, as Flux's predicate sees the new labels.
    await patchMap("quiet", { metadata: { labels: labelled } });
    await patchMap("before", { metadata: { labels: { [LABEL]: null } } });
    await patchMap("before", { data: { a: "3" } });
    await deleteMap("loud");
    await until("the deletion told", async () => told.filter((n) => n === "loud").length === 3);
    await sleep(500);
    expect(told).toEqual(["loud", "loud", "quiet", "loud"]);
  });

  it("resumes where it was when the server ends a watch or the connection breaks, missing nothing in between", async () => {
    const { told } = await startWatch("/api/v1/configmaps", { watchSeconds: 2 });
    const watchesBefore = proxy.watches;
    await createMap("resumed", { a: "1" }, labelled);
    await until("the creation told", async () => told.includes("resumed"));
    // The server ends each watch after 2 s; changes after a few of those are still seen.
    await until("two watches ended by the server", async () => proxy.watches >= watchesBefore + 2, 10_000);
    await patchMap("resumed", { data: { a: "2" } });
    await until("the change after expiries told", async () => told.length === 2);
    // A broken stream: what changes while the watcher is away comes with the resumed watch.
    proxy.hold();
    proxy.cut();
    await patchMap("resumed", { data: { a: "3" } });
    await createMap("meanwhile", { a: "1" }, labelled);
    proxy.release();
    await until("the changes made while cut told", async () => told.length === 4);
    expect(told).toEqual(["resumed", "resumed", "resumed", "meanwhile"]);
  });

  it.each(["event", "status"] as const)(
    "lists again when its resourceVersion has expired (410 Gone as %s) and tells what changed or went meanwhile",
    async (form) => {
      const made = (name: string) => `${form}-${name}`;
      for (const name of ["kept", "edited", "removed", "unlabelled-later"])
        await createMap(made(name), { a: "1" }, labelled);
      const { told } = await startWatch("/api/v1/configmaps");
      const answered = proxy.answered;
      const relists = lines.filter((l) => l.includes("watch expired: listing again")).length;
      proxy.hold();
      proxy.cut();
      await patchMap(made("edited"), { data: { a: "2" } });
      await deleteMap(made("removed"));
      await patchMap(made("unlabelled-later"), { metadata: { labels: { [LABEL]: null } } });
      await createMap(made("arrived"), { a: "1" }, labelled);
      proxy.answerNext((since) => expired(since, form));
      proxy.release();
      await until("the relist's changes told", async () => told.length >= 3, 10_000);
      expect(proxy.answered).toBe(answered + 1);
      // Watching goes on from the new list.
      await patchMap(made("kept"), { data: { a: "2" } });
      await until("a change after the relist told", async () => told.includes(made("kept")));
      expect(told.toSorted()).toEqual(["arrived", "edited", "kept", "removed"].map(made));
      expect(lines.filter((l) => l.includes("watch expired: listing again")).length).toBe(relists + 1);
    },
  );

  it("asks for Secrets' metadata only: their data never reaches the process", async () => {
    const value = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const secrets = `/api/v1/namespaces/${namespace.name}/secrets`;
    await admin.client.send({
      method: "POST",
      path: secrets,
      body: { metadata: { name: "listed", labels: labelled }, stringData: { token: value } },
    });
    const { told } = await startWatch("/api/v1/secrets");
    await admin.client.send({
      method: "POST",
      path: secrets,
      body: { metadata: { name: "watched", labels: labelled }, stringData: { token: value } },
    });
    await admin.client.send({
      method: "PATCH",
      path: `${secrets}/listed`,
      body: { stringData: { token: `${value}-2` } },
      contentType: "application/merge-patch+json",
    });
    await until("both secrets told", async () => told.length === 2);
    expect(told).toEqual(["watched", "listed"]);
    const base64 = Buffer.from(value).toString("base64").slice(0, 12);
    expect(proxy.received).toContain('"kind":"PartialObjectMetadataList"');
    expect(proxy.received).not.toContain(value);
    expect(proxy.received).not.toContain(base64);
    expect(lines.join("\n")).not.toContain(value);
  });

  it("survives a watch answer that is not JSON without quoting it (an object's annotations may hold a Secret's data)", async () => {
    const value = `leak-${Math.random().toString(36).slice(2)}`;
    const { told } = await startWatch("/api/v1/configmaps");
    const failures = lines.filter((l) => l.includes("watch failed")).length;
    proxy.answerNext(() => ({
      status: 200,
      body: `{"type":"MODIFIED","object":{"metadata":{"annotations":{"last-applied":"${value}"}},}\n`,
    }));
    proxy.cut();
    await until("the failure logged", async () => lines.filter((l) => l.includes("watch failed")).length > failures);
    await createMap("after-garbage", { a: "1" }, labelled);
    await until("a change after the garbage told", async () => told.includes("after-garbage"));
    expect(lines.join("\n")).toContain("an event that is not JSON");
    expect(lines.join("\n")).not.toContain(value);
  });

  it("backs off from a server that expires every watch at once instead of listing in a tight loop", async () => {
    const { told } = await startWatch("/api/v1/configmaps");
    const answered = proxy.answered;
    proxy.answerNext((since) => expired(since, "event"), true);
    proxy.cut();
    await sleep(2_000);
    proxy.answerNext(undefined);
    // Waits of 0.1, 0.2, 0.4, 0.8 s after the first relist: a handful of lists in 2 s, not hundreds.
    expect(proxy.answered - answered).toBeGreaterThanOrEqual(3);
    expect(proxy.answered - answered).toBeLessThanOrEqual(7);
    await createMap("after-expiries", { a: "1" }, labelled);
    await until("a change after the expiries told", async () => told.includes("after-expiries"), 10_000);
  });

  it("starts without list and watch rights, saying why, and keeps trying", async () => {
    const failures = () => lines.filter((l) => l.includes("watch failed") && l.includes("forbidden")).length;
    const before = failures();
    const watch = new MetadataWatch({
      client: admin.client.impersonating({ user: "nobody" }),
      path: "/api/v1/secrets",
      labelSelector: SELECTOR,
      log,
      clock: systemClock,
      backoffMs: 100,
      onChange: async () => undefined,
    });
    watches.push(watch);
    await watch.start();
    await until("a retry refused too", async () => failures() >= before + 2, 5_000);
  });
});
