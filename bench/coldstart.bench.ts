import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { bundleOptions, functionBuildOptions, functionSource, loadedBytes, loadedOutputs } from "../scripts/build.js";
import { defineBenchmark, type Benchmark, type Metrics } from "./harness.js";

// A Lambda cold start as the function pays it: a fresh Node process that imports the function's bundle (what
// Lambda's init phase does), timed from spawn to exit, against a floor bundle built in the same run from the
// function's real dependencies only (the AWS clients, middy and Powertools it uses; for the worker, also
// client-node, isomorphic-git and yaml). Goals (issue 18): webhook and tick ≤ 1.2× their floor, worker ≤ 1.15×.
// A function is built as deployed (scripts/build.ts, code-split): what a start loads is its entry and the chunks it
// imports statically. Reported per side: the KiB a start loads (and the whole bundle's), the import alone as
// measured inside the process (Lambda's INIT), the process's CPU time (user + system: less sensitive than wall time
// to a loaded machine) and peak RSS. The worker's chunks move code to the first message that needs it, so a second
// worker benchmark also imports what a first Kustomization needs beyond the start (admission, the refused-field
// check, the Kustomization reconciler's chunks), still against the same floor.

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

/** The chunks a first Kustomization loads beyond the start, by the source each chunk's dynamic import names. */
const FIRST_KUSTOMIZATION = [
  "src/api/parse.ts",
  "src/api/unsupported.ts",
  "src/controllers/kustomize/kustomization.ts",
];

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

interface Bundle {
  /** What a start imports: the entry, then (the worker's second benchmark) chunks a first message loads. */
  files: string[];
  /** The KiB those files and their static imports hold, and the whole bundle's. */
  loadedKiB: number;
  bundleKiB: number;
}

/** A floor: `entry` (a file) bundled into one file, as scripts/build.ts bundles. */
async function floorBundle(entry: string, outfile: string): Promise<Bundle> {
  // The floor entries live in a temporary folder: packages resolve from the project.
  const nodePaths = [join(root, "node_modules")];
  const { metafile } = await build({ ...bundleOptions(), entryPoints: [entry], outfile, sourcemap: false, nodePaths });
  const kiB = loadedBytes(metafile, outfile) / 1024;
  return { files: [outfile], loadedKiB: kiB, bundleKiB: kiB };
}

/** A function as the CDK app deploys it (code-split); `then`: sources whose chunks a first message loads too. */
async function functionBundle(name: string, outdir: string, then: string[] = []): Promise<Bundle> {
  const { metafile } = await build({ ...functionBuildOptions(functionSource(name), outdir), sourcemap: false });
  const outputs = Object.entries(metafile.outputs);
  const chunkOf = (source: string) => outputs.find(([, output]) => output.entryPoint === source)?.[0];
  const chunks = then.map((source) => chunkOf(source) ?? source);
  const missing = chunks.filter((chunk) => !metafile.outputs[chunk]);
  if (missing.length > 0) throw new Error(`no chunk is loaded dynamically for ${missing.join(", ")}`);
  const files = [join(outdir, "index.mjs"), ...chunks.map((chunk) => join(root, chunk))];
  const loaded = new Set(files.flatMap((file) => loadedOutputs(metafile, file)));
  const kiB = (list: Iterable<string>) => [...list].reduce((sum, out) => sum + metafile.outputs[out]!.bytes, 0) / 1024;
  return { files, loadedKiB: kiB(loaded), bundleKiB: kiB(Object.keys(metafile.outputs)) };
}

/** One cold start: a fresh process imports the files in order; the imports' own time comes back on stdout. */
async function coldStart({ files, loadedKiB, bundleKiB }: Bundle): Promise<Metrics> {
  const imports = files.map((file) => `await import(${JSON.stringify(file)});`).join(" ");
  const script = `const t = performance.now(); ${imports} console.log(performance.now() - t);`;
  const { stdout, stderr } = await run(
    TIME,
    ["-f", "%M %U %S", process.execPath, "--input-type=module", "-e", script],
    { env: { ...LAMBDA_ENV, PATH: process.env.PATH } },
  );
  const [rssKiB, user, system] = stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  return {
    importMs: Number(stdout.trim()),
    cpuMs: (user! + system!) * 1000,
    peakRssMiB: rssKiB! / 1024,
    loadedKiB,
    bundleKiB,
  };
}

export default async function coldStartBenchmarks(): Promise<Benchmark[]> {
  workDir = await mkdtemp(join(tmpdir(), "sluice-bench-coldstart-"));
  const dir = workDir;
  const measured = FUNCTIONS.map((fn) => ({ ...fn, id: fn.name, what: "start + import", then: [] as string[] }));
  const worker = measured.find((fn) => fn.name === "worker")!;
  measured.push({
    ...worker,
    id: "worker-first-kustomization",
    what: "start + a first Kustomization's code",
    then: FIRST_KUSTOMIZATION,
  });
  return measured.map(({ name, floor, floorName, id, what, then }) => {
    let bundles: { real: Bundle; floor: Bundle } | undefined;
    return defineBenchmark({
      name: `coldstart-${id}`,
      setup: async () => {
        const floorEntry = join(dir, `${id}-floor.ts`);
        await writeFile(floorEntry, floorSource(floor));
        bundles = {
          real: await functionBundle(name, join(dir, id), then),
          floor: await floorBundle(floorEntry, join(dir, `${id}-floor`, "index.mjs")),
        };
      },
      subject: { name: `${name} function bundle: ${what}`, run: () => coldStart(bundles!.real) },
      baseline: { name: `floor (${floorName})`, run: () => coldStart(bundles!.floor) },
    });
  });
}
