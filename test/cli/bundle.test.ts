import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Metafile } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repo = join(import.meta.dirname, "..", "..");
// What a command that needs none of them must not load: the AWS SDK, the Kubernetes client, Git, the schemas.
const HEAVY = /node_modules\/(@aws-sdk|@smithy|@kubernetes\/client-node|isomorphic-git|zod)\//;

// A copy of the project (its sources, bin, build script and package files; node_modules linked
// package by package, so it has a bundle cache of its own): its bundle is built, aged and rebuilt
// here without touching the checkout's, which other test files' processes are running.
let project: string;
let loadedLog: string;
let hook: string;

const bundleDir = () => join(project, "node_modules", ".cache", "sluice", "cli");
const currentEntry = async () =>
  (JSON.parse(await readFile(join(bundleDir(), "current.json"), "utf8")) as { entry: string }).entry;
const sluice = (...args: string[]) => run(process.execPath, [join(project, "bin", "sluice.js"), ...args]);

/** Runs the CLI with a module hook that notes every file it loads: its exit, and the inputs of the bundle files it loaded. */
async function traced(args: string[], env: Record<string, string> = {}) {
  await rm(loadedLog, { force: true });
  const { code, stderr } = await run(process.execPath, ["--import", hook, join(project, "bin", "sluice.js"), ...args], {
    env: { ...process.env, ...env, LOADED_LOG: loadedLog },
  }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (e: { code: number; stderr: string }) => e,
  );
  const files = (await readFile(loadedLog, "utf8"))
    .split("\n")
    .filter((url) => url.startsWith("file:"))
    .map((url) => fileURLToPath(url));
  const entry = files.find((file) => file.endsWith("/sluice.mjs"));
  if (!entry) throw new Error(`the bundle was not run; loaded:\n${files.join("\n")}`);
  const meta = JSON.parse(await readFile(join(dirname(entry), "meta.json"), "utf8")) as Metafile;
  const inputs = files
    .filter((file) => file.startsWith(dirname(entry)))
    .flatMap((file) => Object.keys(meta.outputs[relative(project, file)]!.inputs));
  return { code, stderr, inputs };
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), "sluice-bundle-"));
  for (const path of ["src", "bin", "scripts/build.ts", "package.json", "package-lock.json"])
    await cp(join(repo, path), join(project, path), { recursive: true });
  await mkdir(join(project, "node_modules"));
  for (const name of await readdir(join(repo, "node_modules")))
    if (name !== ".cache") await symlink(join(repo, "node_modules", name), join(project, "node_modules", name));
  loadedLog = join(project, "loaded.log");
  hook = join(project, "hook.mjs");
  await writeFile(
    hook,
    `import { registerHooks } from "node:module";
import { appendFileSync } from "node:fs";
registerHooks({
  load(url, context, nextLoad) {
    appendFileSync(process.env.LOADED_LOG, url + "\\n");
    return nextLoad(url, context);
  },
});
`,
  );
}, 120_000);

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

describe("npx sluice (bin/sluice.js): the prebuilt, code-split CLI bundle", () => {
  it("is built on first run, then answers --version and --help loading only the flag definitions", async () => {
    // Act
    const version = (await sluice("--version")).stdout;
    const versionRun = await traced(["--version"]);
    const helpRun = await traced(["--help"]);
    const getRun = await traced(["get", "kustomizations", "--state-dir", join(project, "state")]);
    // Assess
    const { version: packageVersion } = JSON.parse(await readFile(join(project, "package.json"), "utf8")) as {
      version: string;
    };
    expect(version).toBe(`${packageVersion}\n`);
    for (const { code, inputs } of [versionRun, helpRun]) {
      expect(code).toBe(0);
      expect(inputs).toContain("src/cli/commands/get.ts");
      expect(inputs.filter((i) => HEAVY.test(i))).toEqual([]);
      expect(inputs.filter((i) => /^src\/cli\/(get|run|create|agent)\.ts$/.test(i))).toEqual([]);
    }
    // A local `get` loads its own implementation, still without the AWS SDK or a Kubernetes client.
    expect(getRun).toMatchObject({ code: 0, stderr: "no Kustomization objects found in flux-system namespace\n" });
    expect(getRun.inputs).toContain("src/cli/get.ts");
    expect(getRun.inputs.filter((i) => HEAVY.test(i))).toEqual([]);
  }, 120_000);

  it("loads the AWS SDK for --aws-bucket and reaches AWS through it", async () => {
    // Act: an endpoint nothing listens on
    const { code, stderr, inputs } = await traced(["get", "kustomizations", "--aws-bucket", "fleet"], {
      SLUICE_AWS_ENDPOINT: "http://127.0.0.1:1",
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });
    // Assess: the SDK's own error, so the client was constructed and sent a request
    expect({ code, stderr }).toEqual({ code: 1, stderr: "✗ connect ECONNREFUSED 127.0.0.1:1\n" });
    expect(inputs.some((i) => /node_modules\/@aws-sdk\/client-s3\//.test(i))).toBe(true);
  }, 120_000);

  it("is rebuilt when a source file changed since it was built, and only then", async () => {
    // Arrange
    await sluice("--version");
    const built = await currentEntry();
    await sluice("--version");
    const unchanged = await currentEntry();
    const main = join(project, "src", "cli", "program.ts");
    const source = await readFile(main, "utf8");
    await writeFile(main, source.replace("speaking Flux's API", "speaking Flux's API (rebuilt)"));
    // Act
    const help = (await sluice("--help")).stdout;
    // Assess
    expect(unchanged).toBe(built);
    expect(await currentEntry()).not.toBe(built);
    expect(help).toContain("speaking Flux's API (rebuilt)");
  }, 120_000);

  it("runs from source through tsx when the bundle cannot be built", async () => {
    // Arrange: a build script that fails (changing it makes the bundle stale too)
    const build = join(project, "scripts", "build.ts");
    const script = await readFile(build, "utf8");
    await writeFile(build, `throw new Error("no esbuild here");\n`);
    try {
      // Act
      const { stdout, stderr } = await sluice("--version");
      // Assess
      expect(stdout).toMatch(/^\d+\.\d+\.\d+/);
      expect(stderr).toBe("sluice: the CLI bundle could not be built, running from source: no esbuild here\n");
    } finally {
      await writeFile(build, script);
    }
  }, 120_000);
});
