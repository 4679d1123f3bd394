import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type * as Esbuild from "esbuild";

// The browser app's files (index.html, app.js, app.css), bundled by esbuild from src/ui/app when the server starts
// (about half a second): always the checkout's own code, nothing fetched from a CDN, nothing stale on disk.

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

/** esbuild's options for the app, also for `npm run build`'s copy (dist/ui) that the AWS side serves. */
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
    outdir: "ui",
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

export async function buildAssets(): Promise<Assets> {
  // Named at run time so the CLI's bundle leaves esbuild (a native binary) to node_modules.
  const esbuildModule = "esbuild";
  const esbuild = (await import(esbuildModule)) as typeof Esbuild;
  const result = await esbuild.build({ ...appBuildOptions(), write: false });
  const assets: Assets = new Map([["index.html", { type: "text/html; charset=utf-8", body: Buffer.from(INDEX_HTML) }]]);
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf("/") + 1);
    const type = name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    assets.set(`/assets/${name}`, { type, body: Buffer.from(file.contents) });
  }
  return assets;
}
