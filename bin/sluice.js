#!/usr/bin/env node
// `npx sluice`: runs the code-split CLI bundle in node_modules/.cache/sluice/cli/ (scripts/build.ts buildCli), which
// `npm ci`/`npm install` build through the prepare script. When it is missing, or a file it was built from has changed
// since (its mtime or size differs from what current.json records: one stat per source file, about 2 ms), it is rebuilt
// here first; if it cannot be built (no esbuild, say), the CLI runs from its TypeScript source through tsx.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

const root = join(import.meta.dirname, "..");
const pinnedNode = join(root, "node_modules", "node", "bin", "node");

// npx puts node_modules/.bin first on PATH, so `node` is the project's Node 24 (the `node` package); run
// another way (a global link, `./bin/sluice.js`) an older Node may answer: hand over to the pinned one.
if (Number.parseInt(process.versions.node, 10) < 24 && existsSync(pinnedNode)) {
  const child = spawn(pinnedNode, process.argv.slice(1), { stdio: "inherit" });
  process.on("SIGINT", () => {}); // Ctrl-C reaches the child too: it decides when to stop.
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
} else {
  const entry = freshBundle() ?? (await rebuild());
  if (entry) await import(pathToFileURL(entry).href);
  else await runFromSource();
}

/** The bundle's entry when every input is as it was when it was built (see buildCli's CliBundle). */
function freshBundle() {
  let bundle;
  try {
    bundle = JSON.parse(readFileSync(join(root, "node_modules", ".cache", "sluice", "cli", "current.json"), "utf8"));
  } catch {
    return undefined;
  }
  for (const [file, [mtimeMs, size]] of Object.entries(bundle.inputs)) {
    const now = statSync(join(root, file), { throwIfNoEntry: false });
    if (now?.mtimeMs !== mtimeMs || now.size !== size) return undefined;
  }
  const entry = join(root, bundle.entry);
  return existsSync(entry) ? entry : undefined;
}

async function rebuild() {
  try {
    const { tsImport } = await import("tsx/esm/api");
    const { buildCli } = await tsImport("../scripts/build.ts", import.meta.url);
    return join(root, (await buildCli()).entry);
  } catch (error) {
    process.stderr.write(`sluice: the CLI bundle could not be built, running from source: ${error.message}\n`);
    return undefined;
  }
}

async function runFromSource() {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
