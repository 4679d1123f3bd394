import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { FileEvents } from "../src/notify/file-events.js";
import { systemClock } from "../src/ports/clock.js";
import { FileStore } from "../src/store/fs-store.js";
import { writeStatus } from "../src/store/objects.js";
import type { ObjectRow } from "../src/ui/api/types.js";
import { loadAssets } from "../src/ui/assets.js";
import { startUiServer, type UiServer } from "../src/ui/server.js";
import { launchChromium } from "../test/ui/chromium.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// The web UI with 1,000 Kustomizations in a file Store (issue 19's goals: overview API ≤ 200 ms, first paint ≤ 1 s,
// filter ≤ 100 ms), in Debian's headless Chromium, each against a baseline in the same run:
// - API: GET /api/v1/objects over HTTP, against the Store read it cannot avoid (store.list() of the same objects);
// - first paint: the overview until its rows fill the first screen (it draws the rows around the viewport only),
//   against a static HTML page of all 1,000 rows until the same;
// - filter: typing a search that leaves one row until only it is drawn, against hiding the static page's rows by a
//   plain DOM loop over the same text.

const FLEET = 1_000;
let dir: string;
let ui: UiServer;
let staticServer: Server;
let browser: BrowserContext;

export async function cleanup(): Promise<void> {
  await browser?.close();
  await ui?.close();
  staticServer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}

async function seed(store: FileStore): Promise<void> {
  for (let i = 0; i < FLEET; i++) {
    const name = `app-${String(i).padStart(4, "0")}`;
    const failing = i % 50 === 0;
    await store.create({
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name, namespace: `team-${i % 20}`, generation: 1 },
      spec: { sourceRef: { kind: "GitRepository", name: "fleet" }, path: `./apps/${name}`, prune: true },
    });
    await writeStatus(
      store,
      { kind: "Kustomization", namespace: `team-${i % 20}`, name },
      {
        conditions: [
          {
            type: "Ready",
            status: failing ? "False" : "True",
            reason: failing ? "BuildFailed" : "ReconciliationSucceeded",
            message: failing ? `kustomization path not found: ./apps/${name}` : "Applied revision: main@sha1:0123abcd",
            lastTransitionTime: "2026-12-02T04:00:00Z",
          },
        ],
        lastAppliedRevision: "main@sha1:0123abcd",
        inventory: { entries: [{ id: `team-${i % 20}_${name}__ConfigMap`, v: "v1" }] },
      },
    );
  }
}

/** The same rows as plain server-written HTML: what a page of that size costs the browser without the app. */
function staticPage(rows: ObjectRow[]): string {
  const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = rows
    .map(
      (r) =>
        `<tr><th><a href="#">${escape(`${r.namespace}/${r.name}`)}</a></th><td>${r.kind}</td><td>-</td><td>${r.ready}</td><td>${escape(r.revision)}</td><td>${r.since}</td><td>${escape(r.message)}</td></tr>`,
    )
    .join("");
  return `<!doctype html><html lang="en"><head><title>static</title></head><body><input id="q" type="search"><table class="objects"><tbody>${body}</tbody></table></body></html>`;
}

// Drawn rows: the static page hides rows, the app leaves spacer rows for those it does not draw.
const DRAWN = "table.objects tbody tr:not([hidden]):not(.spacer)";
const rowsDrawn = (page: Page, count: number) =>
  page.waitForFunction(`document.querySelectorAll(${JSON.stringify(DRAWN)}).length === ${count}`, undefined, {
    polling: "raf",
  });
const screenFilled = (page: Page) =>
  page.waitForFunction(
    `[...document.querySelectorAll(${JSON.stringify(DRAWN)})].at(-1)?.getBoundingClientRect().bottom >= innerHeight`,
    undefined,
    { polling: "raf" },
  );

export default async function benchmarks(): Promise<Benchmark[]> {
  dir = await mkdtemp(join(tmpdir(), "sluice-ui-bench-"));
  const store = new FileStore(join(dir, "store"));
  await seed(store);
  ui = await startUiServer({
    ports: {
      store,
      events: new FileEvents(join(dir, "events.jsonl")),
      clock: systemClock,
      readEvents: async () => [],
    },
    assets: (() => {
      const built = loadAssets();
      return () => built;
    })(),
    host: "127.0.0.1",
    port: 0,
    actor: "bench",
    subscribe: () => () => {},
  });
  const rows = (await (await fetch(`${ui.url}/api/v1/objects`)).json()) as ObjectRow[];
  const html = staticPage(rows);
  staticServer = createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end(html));
  await new Promise<void>((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
  const staticUrl = `http://127.0.0.1:${(staticServer.address() as { port: number }).port}/`;
  // The page's CSP forbids eval, which playwright's polling of a predicate needs; the app is the same without it.
  browser = await launchChromium({ bypassCSP: true });
  const app = await browser.newPage();
  const plain = await browser.newPage();
  const target = "app-0777"; // one row matches
  process.stderr.write(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}\n`,
  );
  return [
    defineBenchmark({
      name: `ui: overview API, ${FLEET} Kustomizations (vs store.list)`,
      subject: {
        name: "GET /api/v1/objects",
        run: async () => void (await (await fetch(`${ui.url}/api/v1/objects`)).text()),
      },
      baseline: { name: "store.list()", run: async () => void (await store.list()) },
      iterations: 10,
    }),
    defineBenchmark({
      name: `ui: first screenful of the overview, ${FLEET} rows (vs static HTML)`,
      subject: {
        name: "app overview",
        run: async () => {
          await app.goto(`${ui.url}/`);
          await screenFilled(app);
        },
      },
      baseline: {
        name: "static table",
        run: async () => {
          await plain.goto(staticUrl);
          await screenFilled(plain);
        },
      },
      iterations: 8,
    }),
    defineBenchmark({
      name: `ui: filter ${FLEET} rows to one (vs a DOM loop)`,
      subject: {
        name: "app search box (input event)",
        prepare: async () => {
          await app.goto(`${ui.url}/`);
          await screenFilled(app);
        },
        run: async () => {
          // The input event a keystroke sends, without playwright's actionability waits (the baseline has none).
          await app.evaluate(
            `{ const i = document.querySelector("input[type=search]"); i.value = ${JSON.stringify(target)}; i.dispatchEvent(new Event("input", { bubbles: true })); }`,
          );
          await rowsDrawn(app, 1);
        },
      },
      baseline: {
        name: "hide rows by text",
        prepare: async () => {
          await plain.goto(staticUrl);
          await rowsDrawn(plain, FLEET);
        },
        run: async () => {
          await plain.evaluate(
            `for (const tr of document.querySelectorAll("table.objects tbody tr")) tr.hidden = !tr.textContent.includes(${JSON.stringify(target)})`,
          );
          await rowsDrawn(plain, 1);
        },
      },
      iterations: 8,
    }),
  ];
}
