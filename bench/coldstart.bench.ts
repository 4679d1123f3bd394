import { execFile } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { bundleOptions } from "../scripts/build.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

// A Lambda cold start as the function pays it: a fresh Node process that imports the function's bundle (what
// Lambda's init phase does), timed from spawn to exit, against a floor bundle built in the same run from the
// function's real dependencies only (the AWS clients, middy and Powertools it uses; for the worker, also
// client-node, isomorphic-git and yaml). Goals (issue 18): webhook and tick ≤ 1.2× their floor, worker ≤ 1.15×.
// Reported per side: bundle size, the import alone as measured inside the process (Lambda's INIT), and peak RSS.

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const TIME = "/usr/bin/time";
let workDir: string | undefined;

export async function cleanup(): Promise<void> {
  if (workDir) await rm(workDir, { recursive: true, force: true });
}

/** What a function's handler reads from its environment at load (values never used: nothing is sent). */
const LAMBDA_ENV = {
  AWS_REGION: "eu-west-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  SLUICE_BUCKET: "bench",
  SLUICE_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/000000000000/bench.fifo",
  SLUICE_DELAY_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/000000000000/bench-delay",
  SLUICE_NOTIFY_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/000000000000/notify.fifo",
};

const POWERTOOLS_LOGGER = [
  'import { Logger } from "@aws-lambda-powertools/logger";',
  'import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";',
  'import middy from "@middy/core";',
];
const POWERTOOLS_METRICS = ['import { Metrics } from "@aws-lambda-powertools/metrics";'];
const S3_SQS = ['import { S3Client } from "@aws-sdk/client-s3";', 'import { SQSClient } from "@aws-sdk/client-sqs";'];

/** A floor handler: imports `lines`, keeps every import alive, does nothing. */
function floorSource(lines: string[]): string {
  const names = lines.map((line) => /import (?:\{ )?(\w+)/.exec(line)![1]);
  return `${lines.join("\n")}\nexport const handler = [${names.join(", ")}];\n`;
}

const FUNCTIONS: { name: string; floor: string[]; floorName: string }[] = [
  {
    name: "webhook",
    floor: [...S3_SQS, ...POWERTOOLS_LOGGER],
    floorName: "S3 + SQS clients, middy, Powertools logger",
  },
  {
    name: "tick",
    floor: [...S3_SQS, ...POWERTOOLS_LOGGER, ...POWERTOOLS_METRICS],
    floorName: "S3 + SQS clients, middy, Powertools logger and metrics",
  },
  {
    name: "worker",
    floor: [
      ...S3_SQS,
      ...POWERTOOLS_LOGGER,
      ...POWERTOOLS_METRICS,
      'import { processPartialResponse } from "@aws-lambda-powertools/batch";',
      'import { KubeConfig } from "@kubernetes/client-node";',
      'import git from "isomorphic-git";',
      'import { parseAllDocuments } from "yaml";',
    ],
    floorName: "S3 + SQS, middy, Powertools, client-node, isomorphic-git, yaml",
  },
];

/** Bundles `entry` (a file) into `outfile` as scripts/build.ts bundles a function; its size in KiB. */
async function bundle(entry: string, outfile: string): Promise<number> {
  // The floor entries live in a temporary folder: packages resolve from the project.
  const nodePaths = [join(root, "node_modules")];
  await build({ ...(await bundleOptions()), entryPoints: [entry], outfile, sourcemap: false, nodePaths });
  return (await stat(outfile)).size / 1024;
}

/** One cold start: a fresh process imports `file`; the import's own time comes back on stdout. */
async function coldStart(file: string, bundleKiB: number): Promise<Metrics> {
  const script = `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`;
  const { stdout, stderr } = await run(TIME, ["-f", "%M", process.execPath, "--input-type=module", "-e", script], {
    env: { ...LAMBDA_ENV, PATH: process.env.PATH },
  });
  return {
    importMs: Number(stdout.trim()),
    peakRssMiB: Number(stderr.trim().split("\n").at(-1)) / 1024,
    bundleKiB,
  };
}

export default async function coldStartBenchmarks(): Promise<Benchmark[]> {
  workDir = await mkdtemp(join(tmpdir(), "sluice-bench-coldstart-"));
  const dir = workDir;
  return FUNCTIONS.map(({ name, floor, floorName }) => {
    const real = join(dir, name, "index.mjs");
    const floorFile = join(dir, `${name}-floor`, "index.mjs");
    let sizes = { real: 0, floor: 0 };
    return defineBenchmark({
      name: `coldstart-${name}`,
      setup: async () => {
        const floorEntry = join(dir, `${name}-floor.ts`);
        await writeFile(floorEntry, floorSource(floor));
        sizes = {
          real: await bundle(join(root, "functions", name, "handler.ts"), real),
          floor: await bundle(floorEntry, floorFile),
        };
      },
      subject: { name: `${name} function bundle: start + import`, run: () => coldStart(real, sizes.real) },
      baseline: { name: `floor (${floorName})`, run: () => coldStart(floorFile, sizes.floor) },
    });
  });
}
