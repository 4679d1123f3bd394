import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect } from "vitest";
import { stringify } from "yaml";
import type { Kustomization } from "../../src/api/kustomization.js";
import { BuildError } from "../../src/render/kustomize.js";
import { resolveTools, toolVersions } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";

const tools = await resolveTools({ cacheDir: cacheDir() });

/** The kubectl (with its kustomize) that kustomize-controller's build runs, and helm, from the tool cache. */
export const { kubectl, helm } = tools;

/** The versions of the resolved tools, for test titles. */
export const versions = await toolVersions(tools);

/** A Kustomization spec from a GitRepository `src`, with `fields` over the defaults. */
export const kustomizationSpec = (fields: Partial<Kustomization["spec"]> = {}): Kustomization["spec"] => ({
  interval: "1m",
  prune: true,
  sourceRef: { kind: "GitRepository", name: "src" },
  ...fields,
});

/** A ConfigMap object without a namespace. */
export const configMap = (name: string, data: Record<string, string> = { a: "1" }) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name },
  data,
});

/** Writes `files` under `root`, creating folders; a value that is not a string is written as YAML. */
export async function writeTree(root: string, files: Record<string, unknown>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), typeof content === "string" ? content : stringify(content));
  }
}

/** A new temporary folder named `<prefix><random>` holding `files` (as writeTree writes them); returns its path. */
export async function tempTree(prefix: string, files: Record<string, unknown>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await writeTree(root, files);
  return root;
}

/** The BuildError `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function refusal(promise: Promise<unknown>): Promise<BuildError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BuildError);
  return error as BuildError;
}

/** The billion laughs: ten levels of ten aliases each, 10^9 strings once expanded. */
export const aliasBomb = [
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata: {name: bomb}",
  'a0: &a0 ["lol"]',
  ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]`),
  "data: {x: *a9}",
].join("\n");
