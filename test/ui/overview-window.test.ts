import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import axe from "axe-core";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileEvents } from "../../src/notify/file-events.js";
import { systemClock } from "../../src/ports/clock.js";
import { FileStore } from "../../src/store/fs-store.js";
import { writeStatus } from "../../src/store/objects.js";
import { loadAssets } from "../../src/ui/assets.js";
import { startUiServer, type UiServer } from "../../src/ui/server.js";
import { launchChromium } from "./chromium.js";

// The overview of a fleet larger than a screen, in Debian's Chromium: it draws only the rows around the viewport,
// and still reaches every row by keyboard and by scrolling, reports the full row count, and passes axe-core.

const FLEET = 300;
let dir: string;
let ui: UiServer;
let context: BrowserContext;
let page: Page;
const drawn = () => page.locator("table.objects tbody tr:not(.spacer)");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-ui-window-"));
  const store = new FileStore(join(dir, "store"));
  for (let i = 0; i < FLEET; i++) {
    const name = `app-${String(i).padStart(4, "0")}`;
    await store.create({
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name, namespace: "team", generation: 1 },
      spec: { sourceRef: { kind: "GitRepository", name: "fleet" }, path: `./${name}`, prune: true, interval: "5m" },
    });
    // Every tenth message is long enough to wrap: rows of unequal height.
    const message = i % 10 === 0 ? `Applied revision: main@sha1:${"0123456789abcdef".repeat(12)}` : "Applied";
    await writeStatus(
      store,
      { kind: "Kustomization", namespace: "team", name },
      { conditions: [{ type: "Ready", status: "True", reason: "ReconciliationSucceeded", message }] },
    );
  }
  const assets = loadAssets();
  ui = await startUiServer({
    ports: { store, events: new FileEvents(join(dir, "events.jsonl")), clock: systemClock, readEvents: async () => [] },
    assets: () => assets,
    host: "127.0.0.1",
    port: 0,
    actor: "test",
    subscribe: () => () => {},
  });
  context = await launchChromium({ bypassCSP: true }); // for axe-core's injection
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await context?.close();
  await ui?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the overview of a fleet larger than the screen", () => {
  it("draws a screenful and some, while the table says how many rows there are", async () => {
    await page.goto(`${ui.url}/`);
    await expect.poll(() => drawn().count()).toBeGreaterThan(10);
    expect(await drawn().count()).toBeLessThan(100);
    expect(await page.locator("table.objects").getAttribute("aria-rowcount")).toBe(String(FLEET + 1));
    await expect.poll(() => page.locator("output").textContent()).toBe(`${FLEET} shown`);
  });

  it("arrow keys walk past the drawn rows, one row at a time, to the last", async () => {
    await page.goto(`${ui.url}/`);
    await page.locator("a.row-link").first().focus();
    for (let i = 0; i < FLEET - 1; i++) await page.keyboard.press("ArrowDown");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("team/app-0299");
    expect(await page.evaluate('document.activeElement?.closest("tr")?.getAttribute("aria-rowindex")')).toBe(
      String(FLEET + 1),
    );
    await page.keyboard.press("ArrowUp");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("team/app-0298");
  });

  it("scrolling to the middle draws the rows there", async () => {
    await page.goto(`${ui.url}/`);
    await expect.poll(() => drawn().count()).toBeGreaterThan(10);
    await page.evaluate("scrollTo(0, document.body.scrollHeight / 2)");
    await expect.poll(() => page.getByText("team/app-0150", { exact: true }).isVisible()).toBe(true);
    expect(await page.getByText("team/app-0000", { exact: true }).count()).toBe(0);
  });

  it("a search draws only what matches, and the URL follows once typing pauses", async () => {
    await page.goto(`${ui.url}/`);
    await page.locator("input[type=search]").fill("app-0123");
    await expect.poll(() => drawn().count()).toBe(1);
    await expect.poll(() => new URL(page.url()).searchParams.get("q")).toBe("app-0123");
    // A pasted URL with a search opens filtered.
    await page.goto(`${ui.url}/?q=${encodeURIComponent("app-02")}`);
    await expect.poll(() => page.locator("output").textContent()).toBe(`${FLEET - 200} shown`);
  });

  it("axe-core finds no serious violations on the windowed table", async () => {
    await page.goto(`${ui.url}/`);
    await expect.poll(() => drawn().count()).toBeGreaterThan(10);
    await page.evaluate(axe.source);
    const result = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as axe.AxeResults;
    const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
  });
});
