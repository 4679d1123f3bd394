import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { publishChart, testHelm, tinyChart } from "../env/charts.js";

const repo = inject("testbed").helmRepo;

describe(`Helm HTTP repository (${repo.version})`, () => {
  it("serves a published chart to helm repo add, search and template", async () => {
    // Prepare
    await publishChart(repo, await tinyChart("greeter", "1.2.3"));
    const home = await mkdtemp(join(tmpdir(), "helm-home-"));
    // Act
    await testHelm(["repo", "add", "testbed", repo.url], home);
    const search = await testHelm(["search", "repo", "testbed/greeter", "--output", "json"], home);
    const rendered = await testHelm(
      ["template", "hello", "testbed/greeter", "--version", "1.2.3", "--set", "greeting=hi"],
      home,
    );
    // Assess
    expect(JSON.parse(search.stdout)).toEqual([expect.objectContaining({ name: "testbed/greeter", version: "1.2.3" })]);
    expect(rendered.stdout).toContain("name: hello-config");
    expect(rendered.stdout).toContain('greeting: "hi"');
  });

  it("serves nothing outside its folder", async () => {
    // Act
    const traversal = await fetch(`${repo.url}/..%2F..%2F..%2Fetc%2Fpasswd`);
    const write = await fetch(`${repo.url}/index.yaml`, { method: "PUT", body: "x" });
    // Assess
    expect(traversal.status).toBe(404);
    expect(write.status).toBe(404);
  });
});
