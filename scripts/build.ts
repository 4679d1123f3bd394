import { existsSync, readFileSync } from "node:fs";
import { readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { build, type BuildOptions, type Metafile, type Plugin } from "esbuild";
import { buildUi } from "../src/ui/assets.js";

// `npm run build`: minified ESM (with source maps) in dist/: each Lambda function code-split into its folder
// (index.mjs and chunks/, what the CDK app deploys), the CLI and the agent as one file each (Dockerfile.agent packs
// dist/agent into the agent's image), and the web UI's bundle in dist/ui (src/ui/assets.ts). Lambda's Node runtime has the AWS SDK v3, but we bundle our pinned clients so
// local and Lambda runs use the same code, and so a function's rare clients (EKS, KMS…) stay in chunks it loads
// only when used.
// `tsx scripts/build.ts cli` (npm's prepare script, so `npm ci` runs it): only the code-split CLI bundle `npx sluice`
// runs, in node_modules/.cache/sluice/cli/ (see buildCli), and the web UI's bundle it serves (dist/ui). `tsx scripts/build.ts functions <outdir>`: the
// functions' bundles alone, as the CDK app builds them while it synthesizes.

const root = join(import.meta.dirname, "..");

export interface Entry {
  name: string;
  source: string;
  outfile: string;
}

/** Every bundle the project ships: functions/<name>/handler.ts, the CLI and the pull agent. */
export async function entries(): Promise<Entry[]> {
  const found: Entry[] = [];
  const functionsDir = join(root, "functions");
  if (existsSync(functionsDir)) {
    for (const name of (await readdir(functionsDir)).sort()) {
      const source = functionSource(name);
      if (existsSync(source))
        found.push({ name: `function ${name}`, source, outfile: join(root, "dist", "functions", name, "index.mjs") });
    }
  }
  found.push({
    name: "cli",
    source: join(root, "src", "cli", "main.ts"),
    outfile: join(root, "dist", "cli", "sluice.mjs"),
  });
  found.push({
    name: "agent",
    source: join(root, "src", "agent", "main.ts"),
    outfile: join(root, "dist", "agent", "agent.mjs"),
  });
  return found;
}

export interface Built extends Entry {
  /** The entry file's size. */
  bytes: number;
  /** What importing it loads: the entry and every chunk it imports statically (dynamic imports wait for use). */
  loadedBytes: number;
  /** esbuild's account of what each output holds. */
  metafile: Metafile;
}

/**
 * Native add-ons an optional dependency tries to load (inside a try): never bundled, so the require fails at
 * run time and the dependency falls back to JavaScript, the same in a Lambda, the agent and the CLI.
 */
export const NATIVE_ADDONS = ["*.node", "cpu-features"];

/**
 * CommonJS dependencies call require() and read __dirname/__filename (ssh2 does at load), which ESM output does not
 * have in scope: every bundle (and chunk) defines them first.
 */
export const ESM_BANNER = [
  'import { createRequire as __sluiceRequire } from "node:module";',
  'import { fileURLToPath as __sluiceFilePath } from "node:url";',
  "const require = __sluiceRequire(import.meta.url);",
  "const __filename = __sluiceFilePath(import.meta.url);",
  'const __dirname = __sluiceFilePath(new URL(".", import.meta.url));',
].join(" ");

/**
 * Zod's translations of its messages into other languages: a quarter of a MiB every process would compile at start
 * (zod exports them all as `z.locales`, which a bundler cannot leave out). Sluice never selects one; English, its
 * default, comes with the schemas themselves.
 */
const ENGLISH_ONLY_ZOD: Plugin = {
  name: "english-only-zod",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, ({ importer }) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(importer)
        ? { path: "zod-locales", namespace: "english-only-zod" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "english-only-zod" }, () => ({ contents: "export {};", loader: "js" }));
  },
};

/** What every bundle is built with: minified ESM for Node 24, the package version inlined. */
export function bundleOptions(): BuildOptions & { metafile: true } {
  // Synchronous: the CDK app builds the functions while it synthesizes, and constructs cannot await.
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return {
    bundle: true,
    minify: true,
    platform: "node",
    target: "node24",
    format: "esm",
    metafile: true,
    logLevel: "warning",
    define: { SLUICE_VERSION: JSON.stringify(version) },
    // ssh2's optional native crypto (and cpu-features'): left out, so its pure-JS ciphers are used.
    external: NATIVE_ADDONS,
    banner: { js: ESM_BANNER },
    plugins: [ENGLISH_ONLY_ZOD],
  };
}

/** Code splitting (ESM only): dynamic imports become chunks loaded when first reached. */
const SPLIT = {
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  outExtension: { ".js": ".mjs" },
} satisfies BuildOptions;

/** functions/<name>/handler.ts: a Lambda function's handler. */
export function functionSource(name: string): string {
  return join(root, "functions", name, "handler.ts");
}

/**
 * A Lambda function's bundle: its handler code-split, as the CLI is, into `outdir`/index.mjs (Lambda's handler
 * `index.handler`) and the chunks it imports. A cold start compiles only the entry and its static imports; a kind's
 * reconciler, its schema and rare features (SOPS, CEL, ssh, cosign…) come with the first message that needs them.
 */
export function functionBuildOptions(source: string, outdir: string): BuildOptions & { metafile: true } {
  return {
    ...bundleOptions(),
    ...SPLIT,
    entryPoints: { index: source },
    outdir,
    sourcemap: true,
    absWorkingDir: root,
  };
}

export async function buildAll(): Promise<Built[]> {
  await rm(join(root, "dist"), { recursive: true, force: true });
  const built: Built[] = [];
  for (const entry of await entries()) {
    const options = entry.name.startsWith("function ")
      ? functionBuildOptions(entry.source, dirname(entry.outfile))
      : { ...bundleOptions(), entryPoints: [entry.source], outfile: entry.outfile, sourcemap: true };
    const result = await build(options);
    const { metafile } = result;
    built.push({
      ...entry,
      bytes: outputBytes(metafile, entry.outfile),
      loadedBytes: loadedBytes(metafile, entry.outfile),
      metafile,
    });
  }
  return built;
}

/**
 * Where `npx sluice` runs from: builds/<id>/ (sluice.mjs, its chunks, meta.json), and current.json naming the fresh
 * one. Under node_modules/.cache, as other tools' caches: no linter or formatter looks there, `npm ci` starts it afresh,
 * and the bundle finds the packages it resolves at run time (the kubectl layer) in the node_modules above it.
 */
const cliBundleDir = join(root, "node_modules", ".cache", "sluice", "cli");

/** A file as last seen: [mtimeMs, size]. */
type Fingerprint = [number, number];

/** What bin/sluice.js reads from current.json: the entry to import, and the inputs that must be unchanged. */
export interface CliBundle {
  /** sluice.mjs, relative to the project root. */
  entry: string;
  /** Every project file the bundle was built from (paths relative to the root), as it was before the build. */
  inputs: Record<string, Fingerprint>;
}

// Besides its sources: the version it inlines, the dependencies it bundles (installing changes the lock), how it is built.
const CLI_BUILD_INPUTS = ["package.json", "package-lock.json", "scripts/build.ts"];
// An input that appeared while esbuild ran: recorded as never matching, so the next run rebuilds.
const UNSEEN: Fingerprint = [-1, -1];
// Other processes may still be importing chunks of the build a new one replaces: give them time.
const KEEP_REPLACED_BUILDS_MS = 10 * 60_000;

/**
 * The bundle `npx sluice` runs: src/cli/main.ts code-split by esbuild, so a command loads only
 * its own chunks (`--version` loads commander and the flag definitions, nothing else).
 * bin/sluice.js rebuilds it when any input's mtime or size differs from what current.json
 * records: fingerprints taken before the build, so an edit made while esbuild runs is caught next
 * time. Each build goes to its own folder and current.json is replaced atomically, so processes
 * starting at once may both build but never load a half-written bundle.
 */
export async function buildCli(): Promise<CliBundle> {
  const before = await fingerprints();
  const id = `${Date.now()}-${process.pid}`;
  const outdir = join(cliBundleDir, "builds", id);
  const result = await build({
    ...bundleOptions(),
    ...SPLIT,
    entryPoints: { sluice: join(root, "src", "cli", "main.ts") },
    outdir,
    absWorkingDir: root,
  });
  await writeFile(join(outdir, "meta.json"), JSON.stringify(result.metafile));
  // A plugin's virtual module (`namespace:path`, e.g. english-only-zod's) is no file: fingerprinted, it would never
  // match a stat, and every `npx sluice` would rebuild the bundle.
  const sources = Object.keys(result.metafile.inputs).filter(
    (file) => !file.includes("node_modules/") && !/^[a-z-]+:/.test(file),
  );
  const bundle: CliBundle = {
    entry: relative(root, join(outdir, "sluice.mjs")),
    inputs: Object.fromEntries([
      ...sources.map((file) => [file, before.get(file) ?? UNSEEN]),
      ...CLI_BUILD_INPUTS.filter((file) => before.has(file)).map((file) => [file, before.get(file)]),
    ]),
  };
  const pending = join(cliBundleDir, `current.json.${id}`);
  await writeFile(pending, JSON.stringify(bundle));
  await rename(pending, join(cliBundleDir, "current.json"));
  await removeReplacedBuilds(id);
  return bundle;
}

/** The fingerprint of every file under src/ and of the other build inputs. */
async function fingerprints(): Promise<Map<string, Fingerprint>> {
  const files = [
    ...(await readdir(join(root, "src"), { recursive: true })).map((file) => join("src", file)),
    ...CLI_BUILD_INPUTS,
  ];
  const seen = await Promise.all(files.map((file) => stat(join(root, file)).catch(() => undefined)));
  return new Map(
    files.flatMap((file, i) => {
      const s = seen[i];
      return s?.isFile() ? [[file, [s.mtimeMs, s.size] as Fingerprint]] : [];
    }),
  );
}

async function removeReplacedBuilds(current: string): Promise<void> {
  const builds = join(cliBundleDir, "builds");
  for (const name of await readdir(builds)) {
    if (name !== current && Date.now() - Number.parseInt(name, 10) > KEEP_REPLACED_BUILDS_MS)
      await rm(join(builds, name), { recursive: true, force: true });
  }
}

function outputBytes(metafile: Metafile, outfile: string): number {
  return metafile.outputs[relative(root, outfile)]?.bytes ?? 0;
}

/** The outputs importing `outfile` loads at once (as metafile keys): it and what it imports statically, transitively. */
export function loadedOutputs(metafile: Metafile, outfile: string): string[] {
  const seen = new Set<string>();
  const visit = (output: string) => {
    if (seen.has(output) || !metafile.outputs[output]) return;
    seen.add(output);
    for (const imported of metafile.outputs[output].imports)
      if (imported.kind === "import-statement" && !imported.external) visit(imported.path);
  };
  visit(relative(root, outfile));
  return [...seen];
}

export function loadedBytes(metafile: Metafile, outfile: string): number {
  return loadedOutputs(metafile, outfile).reduce((sum, output) => sum + metafile.outputs[output]!.bytes, 0);
}

if (import.meta.main && process.argv[2] === "functions") {
  // `tsx scripts/build.ts functions <outdir>`: every function into <outdir>/<name>/, which the CDK app deploys.
  const outdir = process.argv[3];
  if (!outdir) throw new Error("usage: tsx scripts/build.ts functions <outdir>");
  const names = (await readdir(join(root, "functions"))).filter((name) => existsSync(functionSource(name)));
  await Promise.all(names.map((name) => build(functionBuildOptions(functionSource(name), join(outdir, name)))));
} else if (import.meta.main && process.argv[2] === "cli") {
  const started = performance.now();
  const [{ entry }, ui] = await Promise.all([buildCli(), buildUi(root)]);
  console.error(`✔ ${entry} and ${ui.dir} built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} else if (import.meta.main) {
  const started = performance.now();
  for (const bundle of await buildAll()) {
    const loaded =
      bundle.loadedBytes === bundle.bytes ? "" : ` (${(bundle.loadedBytes / 1024).toFixed(0)} KiB loaded at start)`;
    console.log(
      `${bundle.name.padEnd(20)} ${relative(root, bundle.outfile).padEnd(36)} ${(bundle.bytes / 1024).toFixed(0).padStart(6)} KiB${loaded}`,
    );
  }
  console.log(`${"web UI".padEnd(20)} ${(await buildUi(root)).dir}`);
  console.error(`✔ built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
