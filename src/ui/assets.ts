import { existsSync } from "node:fs";
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type * as Esbuild from "esbuild";

// The browser app's files (index.html, app.js, style.css), prebuilt by esbuild into dist/ui by npm's prepare script
// and `npm run build` (scripts/build.ts), and read from there when the first page is asked for. What is served is the
// code that runs: a bundle older than any file it was built from is rebuilt first in a checkout (as bin/sluice.js
// rebuilds the CLI), and refused with the file named where esbuild, a development dependency, is not installed.

export interface Asset {
  type: string;
  body: Buffer;
}

/** `/assets/app.js` etc., and `index.html` for every page route. */
export type Assets = Map<string, Asset>;

const APP = join("src", "ui", "app", "main.tsx");

/** The project root: where src/ui/app is, from the source tree or from the CLI's bundle under node_modules/.cache. */
function projectRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, APP))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find ${APP} above ${import.meta.dirname}`);
  }
}

/** esbuild's options for the app (buildUi adds the AWS sign-in entry and the output folder). */
export function appBuildOptions(root = projectRoot()): Esbuild.BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: { app: APP, style: join("src", "ui", "app", "style.css") },
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    jsx: "automatic",
    jsxImportSource: "preact",
    entryNames: "[name]",
    legalComments: "none",
    logLevel: "warning",
  };
}

export const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="color-scheme" content="light dark" />
    <title>Sluice</title>
    <link rel="stylesheet" href="/assets/style.css" />
    <script type="module" src="/assets/app.js"></script>
  </head>
  <body>
    <div id="app"></div>
  </body>
</html>
`;

/** dist/ui/current.json: the build to serve and every project file it was built from, as it was before the build. */
interface UiBundle {
  /** The build's folder, relative to the project root. */
  dir: string;
  inputs: Record<string, Fingerprint>;
}

/** A file as last seen: [mtimeMs, size]; [-1, -1] never matches (a file that appeared while esbuild ran). */
type Fingerprint = [number, number];

const UI_DIR = join("dist", "ui");
// Besides the app's sources: the bundled dependencies' versions (the lock), and how the bundle is built (this file).
const BUILD_INPUTS = ["package-lock.json", join("src", "ui", "assets.ts")];
// The AWS page's extra entry (scripts/build-ui.ts): built with the app, never served by the local server.
export const AWS_SIGN_IN = "sign-in.js";
// Another process may be reading a build this one replaces.
const KEEP_REPLACED_MS = 60_000;

/** Loads esbuild at run time, named so the CLI's bundle leaves it (a native binary) to node_modules. */
async function importEsbuild(): Promise<typeof Esbuild> {
  const name = "esbuild";
  return (await import(name)) as typeof Esbuild;
}

async function fingerprints(root: string, files: string[]): Promise<Map<string, Fingerprint>> {
  const seen = await Promise.all(files.map((file) => stat(join(root, file)).catch(() => undefined)));
  return new Map(files.flatMap((file, i) => (seen[i]?.isFile() ? [[file, [seen[i].mtimeMs, seen[i].size]]] : [])));
}

/** Builds the app into dist/ui/builds/<id>/ and makes it current (atomically: a reader never sees half a build). */
export async function buildUi(root = projectRoot(), esbuild?: typeof Esbuild): Promise<UiBundle> {
  const ui = join(root, UI_DIR);
  const sources = (await readdir(join(root, "src", "ui"), { recursive: true })).map((f) => join("src", "ui", f));
  const before = await fingerprints(root, [...sources, ...BUILD_INPUTS]);
  const id = `${Date.now()}-${process.pid}`;
  const dir = join(UI_DIR, "builds", id);
  const options = appBuildOptions(root);
  const result = await (esbuild ?? (await importEsbuild())).build({
    ...options,
    entryPoints: { ...(options.entryPoints as Record<string, string>), "sign-in": "src/ui/app/aws-sign-in.ts" },
    outdir: dir,
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).filter((file) => !file.includes("node_modules/"));
  const bundle: UiBundle = {
    dir,
    inputs: Object.fromEntries(
      [...inputs, ...BUILD_INPUTS].map((file) => [file, before.get(file) ?? ([-1, -1] as Fingerprint)]),
    ),
  };
  const pending = join(ui, `current.json.${id}`);
  await writeFile(pending, JSON.stringify(bundle));
  await rename(pending, join(ui, "current.json"));
  for (const old of await readdir(join(ui, "builds")))
    if (old !== id && Date.now() - Number.parseInt(old, 10) > KEEP_REPLACED_MS)
      await rm(join(ui, "builds", old), { recursive: true, force: true });
  return bundle;
}

/** Why dist/ui cannot be served as it is (missing, or the first input changed since the build); undefined: fresh. */
async function staleness(root: string): Promise<{ bundle?: UiBundle; stale?: string }> {
  let bundle: UiBundle;
  try {
    bundle = JSON.parse(await readFile(join(root, UI_DIR, "current.json"), "utf8")) as UiBundle;
  } catch {
    return { stale: `missing (no ${join(UI_DIR, "current.json")})` };
  }
  const files = Object.keys(bundle.inputs);
  const now = await fingerprints(root, files);
  const changed = files.find((file) => {
    const [mtime, size] = bundle.inputs[file]!;
    return now.get(file)?.[0] !== mtime || now.get(file)?.[1] !== size;
  });
  return changed ? { stale: `older than ${changed}` } : { bundle };
}

/** The current build's files by name (app.js, style.css, sign-in.js), rebuilt first when stale and esbuild is here. */
export async function uiBundleFiles(
  root = projectRoot(),
  loadEsbuild: () => Promise<typeof Esbuild> = importEsbuild,
): Promise<Map<string, Buffer>> {
  const fresh = await staleness(root);
  let bundle = fresh.bundle;
  if (!bundle) {
    const esbuild = await loadEsbuild().catch(() => undefined);
    if (!esbuild)
      throw new Error(
        `the web UI bundle in ${join(root, UI_DIR)} is ${fresh.stale}, and esbuild (a development dependency) is not installed to rebuild it: run \`npm run build\` where it is`,
      );
    bundle = await buildUi(root, esbuild);
  }
  const dir = join(root, bundle.dir);
  const names = await readdir(dir);
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const)));
}

/** What the local server serves: index.html for every page route, and `/assets/app.js` and `/assets/style.css`. */
export async function loadAssets(root = projectRoot()): Promise<Assets> {
  const assets: Assets = new Map([["index.html", { type: "text/html; charset=utf-8", body: Buffer.from(INDEX_HTML) }]]);
  for (const [name, body] of await uiBundleFiles(root)) {
    if (name === AWS_SIGN_IN) continue;
    const type = name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    assets.set(`/assets/${name}`, { type, body });
  }
  return assets;
}
