import { existsSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { build, type Metafile } from "esbuild";

// `npm run build`: one minified ESM bundle (with source map) per Lambda function, the CLI and the
// agent, in dist/ (Dockerfile.agent packs dist/agent into the agent's image). Lambda's Node runtime has the AWS SDK v3, but we bundle our pinned clients so
// local and Lambda runs use the same code.

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
      const source = join(functionsDir, name, "handler.ts");
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
  bytes: number;
}

export async function buildAll(): Promise<Built[]> {
  const { version } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  await rm(join(root, "dist"), { recursive: true, force: true });
  const built: Built[] = [];
  for (const entry of await entries()) {
    const result = await build({
      entryPoints: [entry.source],
      outfile: entry.outfile,
      bundle: true,
      minify: true,
      sourcemap: true,
      platform: "node",
      target: "node24",
      format: "esm",
      metafile: true,
      logLevel: "warning",
      define: { SLUICE_VERSION: JSON.stringify(version) },
      // CommonJS dependencies call require(); ESM output needs one in scope.
      banner: {
        js: 'import { createRequire as __sluiceRequire } from "node:module"; const require = __sluiceRequire(import.meta.url);',
      },
    });
    built.push({ ...entry, bytes: outputBytes(result.metafile, entry.outfile) });
  }
  return built;
}

function outputBytes(metafile: Metafile, outfile: string): number {
  return metafile.outputs[relative(root, outfile)]?.bytes ?? 0;
}

if (import.meta.main) {
  const started = performance.now();
  for (const bundle of await buildAll()) {
    console.log(
      `${bundle.name.padEnd(20)} ${relative(root, bundle.outfile).padEnd(36)} ${(bundle.bytes / 1024).toFixed(0).padStart(6)} KiB`,
    );
  }
  console.error(`✔ built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
