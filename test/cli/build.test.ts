import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { version } from "../../src/version.js";
import { buildAll } from "../../scripts/build.js";

const run = promisify(execFile);

describe("npm run build (esbuild bundles)", () => {
  it("bundles the CLI into one minified file with a source map that runs without node_modules' tsx", async () => {
    // Act
    const bundles = await buildAll();
    // Assess
    const cli = bundles.find((b) => b.name === "cli");
    expect(cli?.bytes).toBeGreaterThan(100_000);
    await expect(stat(`${cli?.outfile}.map`)).resolves.toBeDefined();
    for (const bundle of bundles) expect((await stat(bundle.outfile)).size).toBe(bundle.bytes);
    await expect(run(process.execPath, [cli?.outfile ?? "", "--version"])).resolves.toMatchObject({ stdout: `${version}\n` });
  }, 60_000);
});
