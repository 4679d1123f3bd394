import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { version } from "../../src/version.js";
import { buildAll } from "../../scripts/build.js";

const run = promisify(execFile);

describe("npm run build (esbuild bundles)", () => {
  it("bundles the CLI and the agent into minified files with source maps that run without node_modules' tsx", async () => {
    // Act
    const bundles = await buildAll();
    // Assess
    const cli = bundles.find((b) => b.name === "cli");
    expect(cli?.bytes).toBeGreaterThan(100_000);
    await expect(stat(`${cli?.outfile}.map`)).resolves.toBeDefined();
    for (const bundle of bundles) expect((await stat(bundle.outfile)).size).toBe(bundle.bytes);
    await expect(run(process.execPath, [cli?.outfile ?? "", "--version"])).resolves.toMatchObject({
      stdout: `${version}\n`,
    });
    // The agent bundle starts and explains what its environment lacks (a Deployment sets it).
    const agent = bundles.find((b) => b.name === "agent");
    await expect(
      run(process.execPath, [agent?.outfile ?? ""], { env: { PATH: process.env.PATH } }),
    ).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringContaining("environment variable SLUICE_BUNDLE_KEY is not set"),
    });
  }, 60_000);
});
