import { cp, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { createTwoFilesPatch } from "diff";
import { parseAllDocuments, stringify } from "yaml";
import type { Kustomization } from "../api/kustomization.js";
import { admitFluxObject, droppedFieldsWarning } from "../api/parse.js";
import { planAll, type PlannedChange } from "../apply/apply.js";
import type { KubeObject } from "../apply/object.js";
import { ownerLabels } from "../apply/policy.js";
import { redactPair } from "../apply/redact.js";
import { openCluster } from "../cluster/cluster.js";
import { substitutionVariables } from "../controllers/render.js";
import { isFluxObject } from "../controllers/fleet.js";
import { buildKustomization } from "../render/kustomize.js";
import { substituteAll } from "../render/substitute.js";
import { resolveTools } from "../render/tools.js";
import { cacheDir } from "../runtime/cache-dir.js";
import { systemClock } from "../ports/clock.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import type { Secrets } from "../secrets/secrets.js";
import { exportYaml } from "./manifests.js";
import { openStore, readKubeconfig, type GlobalOptions } from "./context.js";
import { say } from "./output.js";

/** The flags of `sluice build kustomization` and `sluice diff kustomization`. */
export interface BuildFlags {
  path: string;
  kustomizationFile?: string;
  dryRun?: boolean;
}

/** `sluice build kustomization NAME` (defined in commands/build.ts): the render, as YAML on stdout. */
export async function printBuild(name: string, flags: BuildFlags, options: GlobalOptions): Promise<void> {
  const { objects } = await render(name, flags, options);
  process.stdout.write(exportYaml(objects));
}

/** `sluice diff kustomization NAME` (defined in commands/build.ts): prints the changes; true when there are any. */
export async function diffKustomization(name: string, flags: BuildFlags, options: GlobalOptions): Promise<boolean> {
  say.action("Kustomization diffing...");
  const { objects: rendered, spec } = await render(name, flags, options);
  const objects = rendered.filter((o) => !isFluxObject(o));
  const cluster = await openCluster(
    { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
    systemClock,
  );
  const planned = await planAll(cluster, objects, {
    owner: { name, namespace: options.namespace },
    driftIgnoreRules: spec.ignore,
  });
  let changed = false;
  for (const change of planned) {
    if (change.entry.action === "unchanged" || change.entry.action === "skipped") continue;
    changed = true;
    process.stdout.write(`► ${change.entry.subject} ${change.entry.action === "created" ? "created" : "drifted"}\n`);
    if (change.entry.action === "configured") process.stdout.write(`${yamlDiff(change)}\n`);
  }
  if (changed) say.waiting("identified at least one change, exiting with non-zero exit code");
  else say.success("no changes");
  return changed;
}

/** A unified diff of the live object and the dry-run result, without server noise; Secret values masked. */
function yamlDiff(change: PlannedChange): string {
  const clean = (o: KubeObject | undefined) => {
    if (!o) return "";
    const metadata = { ...o.metadata };
    for (const noise of ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"])
      delete metadata[noise];
    const copy: KubeObject = { ...o, metadata };
    delete copy.status;
    return stringify(copy, { sortMapEntries: true });
  };
  const { live, desired } = redactPair(change.live, change.desired);
  const text = createTwoFilesPatch(
    change.entry.subject,
    change.entry.subject,
    clean(live),
    clean(desired),
    "live",
    "merged",
    { context: 3 },
  );
  const body = text.split("\n").slice(2).join("\n");
  return change.entry.object.kind === "Secret" ? `${body}\n(Secret values are masked)` : body;
}

/** The render `sluice run` would do, from a local folder: a private copy, Flux's overlay, substitution. */
async function render(
  name: string,
  flags: BuildFlags,
  options: GlobalOptions,
): Promise<{ objects: KubeObject[]; spec: Kustomization["spec"] }> {
  const ks = await kustomizationSpec(name, flags, options);
  const dir = resolve(flags.path);
  if (!(await stat(dir).catch(() => undefined))?.isDirectory())
    throw new Error(`--path ${flags.path}: not a directory`);
  // Copy from the enclosing repository root, so `../base` references resolve as they do in the source.
  const root = await repositoryRoot(dir);
  const work = await mkdtemp(join(tmpdir(), "sluice-build-"));
  try {
    // verbatimSymlinks: a relative link stays relative, inside the copy (cp would point it back at the original).
    await cp(root, join(work, "src"), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => !["node_modules", ".git"].includes(basename(source)),
    });
    const tools = await resolveTools({ cacheDir: cacheDir() });
    let objects = await buildKustomization(
      join(work, "src"),
      { ...ks.spec, path: relative(root, dir) || "./" },
      { kubectl: tools.kubectl },
    );
    if (ks.spec.postBuild) {
      const secrets: Secrets | undefined = flags.dryRun
        ? undefined
        : new KubeSecrets(
            (
              await openCluster(
                { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
                systemClock,
              )
            ).client,
          );
      const vars = await substitutionVariables(secrets, ks);
      if (vars) objects = substituteAll(objects, vars, { strict: !flags.dryRun });
    }
    const labels = ownerLabels({ name, namespace: options.namespace });
    return {
      objects: objects.map((o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...labels } } })),
      spec: ks.spec,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function kustomizationSpec(name: string, flags: BuildFlags, options: GlobalOptions): Promise<Kustomization> {
  if (flags.kustomizationFile) {
    const docs = parseAllDocuments(await readFile(flags.kustomizationFile, "utf8")).map((d) => d.toJS() as KubeObject);
    const found = docs.find((d) => d?.kind === "Kustomization" && d.metadata?.name === name);
    if (!found) throw new Error(`${flags.kustomizationFile}: no Kustomization named '${name}'`);
    return admitted({ ...found, metadata: { namespace: options.namespace, ...found.metadata } });
  }
  const store = await openStore(options);
  const stored = await store.get({ kind: "Kustomization", namespace: options.namespace, name });
  if (!stored)
    throw new Error(
      `Kustomization '${name}' not found in ${options.namespace} namespace (register it, or pass --kustomization-file)`,
    );
  return admitted(stored.object);
}

/** The Kustomization as Flux's API server admits it; the fields it drops are named on stderr, as `sluice run` warns of them. */
function admitted(input: unknown): Kustomization {
  const { object, dropped } = admitFluxObject(input);
  if (dropped.length > 0)
    process.stderr.write(`⚠️ Kustomization/${object.metadata.name}: ${droppedFieldsWarning(dropped)}\n`);
  return object as Kustomization;
}

async function repositoryRoot(dir: string): Promise<string> {
  for (let current = dir; ; current = dirname(current)) {
    if (await stat(join(current, ".git")).catch(() => undefined)) return current;
    if (dirname(current) === current) return dir;
  }
}
