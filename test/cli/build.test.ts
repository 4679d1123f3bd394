import { execFile } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { version } from "../../src/version.js";
import { buildAll, loadedOutputs } from "../../scripts/build.js";

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
      "function ui",
      "function webhook",
      "function worker",
    ]);
    for (const fn of functions) {
      const script = `const m = await import(${JSON.stringify(fn.outfile)}); console.log(typeof m.handler);`;
      await expect(
        run(process.execPath, ["--input-type=module", "-e", script], { env: lambdaEnv }),
        fn.name,
      ).resolves.toMatchObject({ stdout: "function\n" });
      // Every chunk a message may load later (a kind's reconciler, SOPS, ssh…) resolves and evaluates from the
      // function's folder, as deployed: a broken one would only show on the first message that needs it.
      const chunks = (await readdir(join(dirname(fn.outfile), "chunks"))).filter((file) => file.endsWith(".mjs"));
      const loadAll = `for (const c of ${JSON.stringify(chunks)}) await import(${JSON.stringify(`${dirname(fn.outfile)}/chunks/`)} + c); console.log("ok");`;
      await expect(
        run(process.execPath, ["--input-type=module", "-e", loadAll], { env: lambdaEnv }),
        `${fn.name} chunks`,
      ).resolves.toMatchObject({ stdout: "ok\n" });
    }
    // The worker starts with the queue, the Store and the dispatcher; admission (every kind's schema), each
    // kind's reconciler and the libraries only they use come with the first object that needs them.
    const worker = functions.find((b) => b.name === "function worker")!;
    const atStart = loadedOutputs(worker.metafile, worker.outfile).flatMap((output) =>
      Object.keys(worker.metafile.outputs[output]!.inputs),
    );
    expect(atStart).toContain("src/controllers/dispatch.ts");
    expect(atStart.some((input) => input.includes("node_modules/@aws-sdk/client-s3/"))).toBe(true);
    const lazy =
      /^src\/(api\/parse\.ts|controllers\/(kustomize\/kustomization\.ts|(helm|image|source)\/)|sources\/|helm\/|render\/(sops|kustomize)\.ts)|node_modules\/(isomorphic-git|openpgp|ssh2|@marcbachmann\/cel-js|age-encryption)\//;
    expect(atStart.filter((input) => lazy.test(input))).toEqual([]);
    expect(Object.keys(worker.metafile.inputs)).toContain("src/controllers/kustomize/kustomization.ts"); // in a chunk
    expect(worker.loadedBytes).toBeLessThan(3 * 1024 * 1024);
    // Zod's translations are left out of every bundle (Sluice speaks English only); English stays.
    for (const bundle of bundles)
      expect(Object.keys(bundle.metafile.inputs).filter((input) => /zod\/v4\/locales\/(?!en\.js)/.test(input))).toEqual(
        [],
      );
    expect(Object.keys(cli!.metafile.inputs).some((input) => input.endsWith("zod/v4/locales/en.js"))).toBe(true);
  }, 600_000); // esbuild, then a process per function and per function's chunks: minutes on a loaded machine
});
