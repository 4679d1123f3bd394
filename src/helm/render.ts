import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../apply/object.js";
import { overMemoryMessage, watchMemory } from "../render/memory-watch.js";

// Rendering a release with the real Helm: `helm template` runs Helm's own template engine, sub-charts,
// schema validation and capabilities, with nothing reaching a cluster or a network. Its output is
// Helm's release manifest (`---\n# Source: <path>\n<content>\n` per template, in Helm's install
// order) followed by the hooks in the same form; this module splits the two as Helm's install
// does, so the manifest stored in the release record is byte for byte what Helm would store.

const run = promisify(execFile);

/** Helm's hook record (helm v4 pkg/release/v1 Hook) in its JSON field order. */
export interface HookRecord {
  name: string;
  kind: string;
  path: string;
  manifest: string;
  events: string[];
  last_run: { started_at?: string; completed_at?: string; phase: string };
  weight?: number;
  delete_policies?: string[];
}

export interface RenderRequest {
  helm: string;
  /** The chart: an archive or an extracted folder. */
  chart: string;
  releaseName: string;
  namespace: string;
  values: Record<string, unknown>;
  /** The cluster's version (`v1.36.3`): `.Capabilities.KubeVersion`. */
  kubeVersion: string;
  /** `.Capabilities.APIVersions`: the cluster's group/versions and group/version/Kinds. */
  apiVersions: string[];
  isUpgrade: boolean;
  /** Render the chart's crds/ folder too (install with a CRD policy other than Skip). */
  includeCrds: boolean;
  skipSchemaValidation?: boolean;
  /** Private scratch folder (values file, Helm's home folders); removed by the caller. */
  workDir: string;
  timeoutMs?: number;
  /** Resident memory `helm template` may use (renderLimits.maxMemoryBytes); past it, the render fails. */
  maxMemoryBytes: number;
}

export interface RenderedRelease {
  /** Helm's release manifest: the non-hook templates, as Helm stores it. */
  manifest: string;
  /** The manifest's objects, parsed. */
  objects: KubeObject[];
  /** CRDs from crds/ (when asked for), applied before everything else and never stored in the manifest. */
  crds: KubeObject[];
  hooks: HookRecord[];
}

/** `helm template` failed: its own `Error:` line, which names the template and line. */
export class RenderError extends Error {
  override name = "RenderError";
}

const SECTION = /^---\n# Source: (.+)\n/gm;
const HOOK = "helm.sh/hook";
/** The most output one render may produce. */
const MAX_OUTPUT_BYTES = 64 << 20;

export async function renderRelease(request: RenderRequest): Promise<RenderedRelease> {
  const home = await mkdtemp(join(request.workDir, "helm-"));
  const plugins = join(home, "plugins");
  await mkdir(plugins);
  const valuesFile = join(home, "values.yaml");
  // JSON, not YAML: Helm reads values files as YAML 1.1, where a string "yes" or "on" written plain is a boolean.
  await writeFile(valuesFile, JSON.stringify(request.values), { mode: 0o600 });
  const args = [
    "template",
    request.releaseName,
    request.chart,
    "--namespace",
    request.namespace,
    "--values",
    valuesFile,
    "--kube-version",
    request.kubeVersion,
    ...request.apiVersions.flatMap((v) => ["--api-versions", v]),
    ...(request.isUpgrade ? ["--is-upgrade"] : []),
    ...(request.includeCrds ? ["--include-crds"] : []),
    ...(request.skipSchemaValidation ? ["--skip-schema-validation"] : []),
  ];
  let stdout: string;
  let overMemory = false;
  let unwatch: () => void = () => undefined;
  try {
    const running = run(request.helm, args, {
      maxBuffer: MAX_OUTPUT_BYTES,
      timeout: request.timeoutMs ?? 60_000,
      // Helm's own folders, empty: no repository, registry credential or plugin from anywhere is used.
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        HELM_CONFIG_HOME: join(home, "config"),
        HELM_CACHE_HOME: join(home, "cache"),
        HELM_DATA_HOME: join(home, "data"),
        HELM_PLUGINS: plugins,
        // A render lives a fraction of a second: Go's collector would run several times while Helm's packages start
        // (a sixth of its CPU) to keep a heap of some MiB small. It runs only near 512 MiB instead, or near half the
        // memory limit when that is lower, so that garbage alone never takes a render past the limit.
        GOGC: "off",
        GOMEMLIMIT: `${Math.min(512, Math.floor(request.maxMemoryBytes / 2 ** 21))}MiB`,
      },
    });
    unwatch = watchMemory(running.child.pid, request.maxMemoryBytes, () => {
      overMemory = true;
      running.child.kill("SIGKILL");
    });
    ({ stdout } = await running);
  } catch (error) {
    throw new RenderError(overMemory ? overMemoryMessage("helm template", request.maxMemoryBytes) : helmError(error));
  } finally {
    unwatch();
    await rm(home, { recursive: true, force: true });
  }
  return splitOutput(stdout);
}

/** Splits `helm template` output into the stored manifest, the CRDs and the hooks. */
export function splitOutput(output: string): RenderedRelease {
  const headed = [...output.matchAll(SECTION)];
  // A post-rendered manifest has no `# Source:` headers: one section of the whole.
  if (headed.length === 0 && output.trim() !== "") {
    const objects = parseObjects(output, "the post-rendered manifest");
    return { manifest: output, objects, crds: [], hooks: [] };
  }
  const rendered: RenderedRelease = { manifest: "", objects: [], crds: [], hooks: [] };
  for (const { path, block, content } of templateSections(output)) {
    const objects = parseObjects(content, path);
    if (/^[^/]+\/crds\//.test(path)) {
      rendered.crds.push(...objects);
      continue;
    }
    const hook = objects.length === 1 ? objects[0]!.metadata.annotations?.[HOOK] : undefined;
    if (hook !== undefined) {
      rendered.hooks.push(hookRecord(objects[0]!, path, content.replace(/\n$/, ""), hook));
      continue;
    }
    rendered.manifest += block;
    rendered.objects.push(...objects);
  }
  return rendered;
}

/** The `---\n# Source: <path>\n<content>` sections of Helm's output: each template's path, whole block and content. */
export function templateSections(output: string): { path: string; block: string; content: string }[] {
  return [...output.matchAll(SECTION)].map((match, i, all) => ({
    path: match[1]!,
    block: output.slice(match.index, all[i + 1]?.index ?? output.length),
    content: output.slice(match.index + match[0].length, all[i + 1]?.index ?? output.length),
  }));
}

export function parseObjects(content: string, path: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(content)) {
    if (doc.errors.length > 0) throw new RenderError(`${path}: ${doc.errors[0]!.message}`);
    const value = doc.toJS({ maxAliasCount: 1_000 }) as KubeObject | null;
    if (value === null) continue;
    if (typeof value !== "object" || !value.kind || !value.metadata?.name)
      throw new RenderError(`${path}: a rendered document without kind or metadata.name`);
    objects.push(value);
  }
  return objects;
}

function hookRecord(object: KubeObject, path: string, manifest: string, events: string): HookRecord {
  const annotations = object.metadata.annotations ?? {};
  const weight = Number.parseInt(annotations["helm.sh/hook-weight"] ?? "0", 10) || 0;
  const policies = annotations["helm.sh/hook-delete-policy"];
  return {
    name: object.metadata.name,
    kind: object.kind,
    path,
    manifest,
    events: events.split(",").map((e) => e.trim()),
    last_run: { phase: "" },
    ...(weight !== 0 && { weight }),
    ...(policies && { delete_policies: policies.split(",").map((p) => p.trim()) }),
  };
}

/** Helm's last `Error:` line (or its stderr, bounded): never the values, which Helm does not print. */
function helmError(error: unknown): string {
  const { stderr, killed, message } = error as { stderr?: string; killed?: boolean; message: string };
  if (killed) return "helm template timed out";
  const lines = (stderr ?? "").split("\n").filter((l) => l.trim() !== "");
  const last = lines.filter((l) => l.startsWith("Error: ")).pop() ?? lines.pop() ?? message;
  return last.replace(/^Error: /, "").slice(0, 2_048);
}
