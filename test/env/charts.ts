import { execFile } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir as defaultCacheDir } from "../../src/runtime/cache-dir.js";

const run = promisify(execFile);

/**
 * Runs the project's helm with its own config, cache and data folders, so tests never read or
 * change the user's Helm repositories.
 */
export async function helm(
  cacheDir: string,
  args: string[],
  home?: string,
): Promise<{ stdout: string; stderr: string }> {
  const tools = await resolveTools({ cacheDir });
  const isolated = home ?? (await mkdtemp(join(tmpdir(), "sluice-helm-home-")));
  return run(tools.helm, args, {
    env: {
      ...process.env,
      HELM_CONFIG_HOME: join(isolated, "config"),
      HELM_CACHE_HOME: join(isolated, "cache"),
      HELM_DATA_HOME: join(isolated, "data"),
    },
  });
}

/** Helm invocations for tests, from the default cache. */
export const testHelm = (args: string[], home?: string) => helm(defaultCacheDir(), args, home);

/** Writes a minimal chart (one ConfigMap template) and returns its folder. */
export async function tinyChart(name: string, version: string): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "sluice-chart-")), name);
  await mkdir(join(dir, "templates"), { recursive: true });
  await writeFile(
    join(dir, "Chart.yaml"),
    `apiVersion: v2\nname: ${name}\nversion: ${version}\ndescription: test chart\n`,
  );
  await writeFile(join(dir, "values.yaml"), "greeting: hello\n");
  await writeFile(
    join(dir, "templates", "configmap.yaml"),
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
  );
  return dir;
}

/** Packages `chartDir` into the repository folder and regenerates its index. */
export async function publishChart(repo: { url: string; dir: string }, chartDir: string): Promise<void> {
  await testHelm(["package", chartDir, "--destination", repo.dir]);
  await testHelm(["repo", "index", repo.dir, "--url", repo.url]);
}
