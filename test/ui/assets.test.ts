import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAssets, uiBundleFiles } from "../../src/ui/assets.js";

// The web UI's prebuilt bundle (dist/ui): served as built while its sources are unchanged, rebuilt in a checkout when
// one changed, and refused, naming the file, where esbuild is missing. Against a copy of the app in a temp folder, so
// the checkout's own dist/ui is left alone.

const project = join(import.meta.dirname, "..", "..");
let root: string;
const current = async () =>
  JSON.parse(await readFile(join(root, "dist", "ui", "current.json"), "utf8")) as { dir: string };
const appJs = async () => (await loadAssets(root)).get("/assets/app.js")!.body.toString();
const noEsbuild = () => Promise.reject(new Error("Cannot find package 'esbuild'"));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-ui-assets-"));
  await mkdir(join(root, "src"));
  await cp(join(project, "src", "ui"), join(root, "src", "ui"), { recursive: true });
  for (const file of ["package-lock.json", "tsconfig.json"]) await cp(join(project, file), join(root, file));
  await symlink(join(project, "node_modules"), join(root, "node_modules"));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the web UI's prebuilt bundle", () => {
  it("without a bundle and without esbuild, nothing is served and the error says to build", async () => {
    await expect(uiBundleFiles(root, noEsbuild)).rejects.toThrow(/dist\/ui is missing.*npm run build/);
  });

  it("is built once, then served as built (index.html, app.js, style.css; the AWS sign-in is not served)", async () => {
    const assets = await loadAssets(root);
    const built = await current();
    expect([...assets.keys()].sort()).toEqual(["/assets/app.js", "/assets/style.css", "index.html"]);
    expect(assets.get("/assets/app.js")!.body.toString()).toContain("Skip to content");
    await loadAssets(root);
    expect((await current()).dir).toBe(built.dir);
    // What scripts/build-ui.ts deploys to S3 is the same build's files.
    const files = await uiBundleFiles(root, noEsbuild);
    expect(files.get("app.js")).toEqual(assets.get("/assets/app.js")!.body);
    expect(files.has("sign-in.js")).toBe(true);
  });

  it("a source edited since the build: refused without esbuild (naming the file), rebuilt with it", async () => {
    const main = join(root, "src", "ui", "app", "main.tsx");
    await writeFile(main, (await readFile(main, "utf8")).replace("Skip to content", "Skip to the fleet"));
    await expect(uiBundleFiles(root, noEsbuild)).rejects.toThrow(/older than src\/ui\/app\/main\.tsx/);
    const before = (await current()).dir;
    expect(await appJs()).toContain("Skip to the fleet");
    expect((await current()).dir).not.toBe(before);
  });

  it("a changed lock file (other bundled dependencies) makes the bundle stale too", async () => {
    await writeFile(join(root, "package-lock.json"), `${await readFile(join(root, "package-lock.json"), "utf8")}\n`);
    await expect(uiBundleFiles(root, noEsbuild)).rejects.toThrow(/older than package-lock\.json/);
  });

  it("a corrupt current.json is a missing bundle: rebuilt, never read as a path", async () => {
    await writeFile(join(root, "dist", "ui", "current.json"), '{"dir": "../../../etc", "inputs": ');
    await expect(uiBundleFiles(root, noEsbuild)).rejects.toThrow(/missing/);
    expect(await appJs()).toContain("Skip to the fleet");
  });
});
