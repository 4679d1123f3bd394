import { describe, expect, it } from "vitest";
import { RenderCache } from "../../src/controllers/kustomize/render-cache.js";
import { configMap, tempTree } from "../render/helpers.js";
import { sourceRenderer } from "../render/source-render.js";

const KiB = 1024;

/** A source of plain folders, one ConfigMap each, `size` bytes of data by folder name; and renders of it sharing a cache. */
async function renderer(sizes: Record<string, number>, cacheBytes: number) {
  const files = Object.fromEntries(
    Object.entries(sizes).map(([app, size]) => [`${app}/cm.yaml`, configMap(app, { blob: "x".repeat(size) })]),
  );
  const renders = new RenderCache(cacheBytes);
  const renderer = await sourceRenderer(await tempTree("sluice-src-", files), renders);
  return { renders, render: (app: string) => renderer(app, { path: `./${app}` }) };
}

describe("the render cache is bounded by bytes, whatever a tenant renders", () => {
  it("keeps large renders only within its budget, dropping the least recently used", async () => {
    // Arrange: five renders of 300 KiB against a 1 MiB budget
    const apps = ["a", "b", "c", "d", "e"];
    const { renders, render } = await renderer(Object.fromEntries(apps.map((app) => [app, 300 * KiB])), 1024 * KiB);
    // Act
    for (const app of apps) await render(app);
    const newest = await render("e");
    const oldest = await render("a");
    // Assess
    expect(renders.rendered.bytes).toBeLessThanOrEqual(1024 * KiB);
    expect(renders.rendered.bytes).toBeGreaterThan(600 * KiB);
    expect(newest.cached).toBe(true);
    expect(oldest.cached).toBe(false);
    expect(oldest.objects[0]!.data).toEqual({ blob: "x".repeat(300 * KiB) });
  });

  it("never keeps a render larger than the whole budget, nor lets it push the others out", async () => {
    // Arrange
    const { renders, render } = await renderer({ small: 10 * KiB, huge: 2048 * KiB }, 1024 * KiB);
    await render("small");
    const held = renders.rendered.bytes;
    // Act
    const first = await render("huge");
    const again = await render("huge");
    // Assess
    expect([first.cached, again.cached]).toEqual([false, false]);
    expect(again.objects[0]!.metadata.name).toBe("huge");
    expect(renders.rendered.bytes).toBe(held);
    expect((await render("small")).cached).toBe(true);
  });

  it("hands out copies: a caller changing what it got does not change the next render", async () => {
    // Arrange
    const { render } = await renderer({ app: 1 * KiB }, 1024 * KiB);
    const first = await render("app");
    // Act
    first.objects[0]!.metadata.name = "changed";
    const second = await render("app");
    // Assess
    expect(second.cached).toBe(true);
    expect(second.objects[0]!.metadata.name).toBe("app");
  });
});
