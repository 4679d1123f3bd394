import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { version } from "../../src/version.js";
import { buildAll } from "../../scripts/build.js";

const run = promisify(execFile);

describe("npm run build (esbuild bundles)", () => {
  it("bundles the CLI, the agent and each Lambda function into minified files with source maps that run without node_modules' tsx", async () => {
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
    // Each function bundle loads as Lambda's init phase loads it, and exports its handler (a dependency that reads
    // __dirname at load once made the worker's fail).
    const lambdaEnv = {
      PATH: process.env.PATH,
      AWS_REGION: "eu-west-1",
      SLUICE_BUCKET: "sluice",
      SLUICE_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/000000000000/jobs.fifo",
      SLUICE_DELAY_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/000000000000/delayed",
    };
    const functions = bundles.filter((b) => b.name.startsWith("function "));
    expect(functions.map((b) => b.name)).toEqual([
      "function notify",
      "function tick",
      "function webhook",
      "function worker",
    ]);
    for (const fn of functions) {
      const script = `const m = await import(${JSON.stringify(fn.outfile)}); console.log(typeof m.handler);`;
      await expect(
        run(process.execPath, ["--input-type=module", "-e", script], { env: lambdaEnv }),
        fn.name,
      ).resolves.toMatchObject({ stdout: "function\n" });
    }
  }, 120_000);
});
