import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { mergeMaps } from "../api/helm-values.js";
import { HELM_RELEASE_API_VERSION } from "../api/helmrelease.js";
import { ValuesYamlError, readValues } from "../api/values-yaml.js";
import { marshalYaml } from "../api/values-digest.js";
import type { KubeObject } from "../apply/object.js";
import { globals } from "./context.js";
import { admitted, register } from "./create.js";
import { goDuration, labelsOf } from "./manifests.js";

// `sluice create helmrelease`, shaped exactly like `flux create helmrelease … --export` (flux2 v2.9
// cmd/flux/create_helmrelease.go): the same fields from the same flags, the same checks and messages,
// printed as flux prints it (sigs.k8s.io/yaml: go-yaml v2, its key order and quoting).

/** The flags of `sluice create helmrelease` (defined in commands/create.ts). */
export interface CreateHelmReleaseFlags {
  interval: string;
  label?: string[];
  export: boolean;
  releaseName?: string;
  source?: string;
  chart?: string;
  chartVersion?: string;
  chartRef?: string;
  dependsOn?: string[];
  targetNamespace?: string;
  storageNamespace?: string;
  createTargetNamespace: boolean;
  serviceAccount?: string;
  reconcileStrategy: string;
  chartInterval?: string;
  values?: string[];
  valuesFrom?: string[];
  crds?: string;
  kubeconfigSecretRef?: string;
}

const CHART_SOURCE_KINDS = ["HelmRepository", "GitRepository", "Bucket"];
const CHART_REF_KINDS = ["OCIRepository", "HelmChart"];
const VALUES_FROM_KINDS = ["Secret", "ConfigMap"];
const CRDS_POLICIES = ["Skip", "Create", "CreateReplace"];
const RECONCILE_STRATEGIES = ["Revision", "ChartVersion"];

/** `sluice create helmrelease NAME`: registers the HelmRelease, or prints it with --export. */
export async function createHelmRelease(name: string, flags: CreateHelmReleaseFlags, command: Command): Promise<void> {
  const object = await helmReleaseManifest(name, globals(command).namespace, flags, (path) => readFile(path, "utf8"));
  if (flags.export) {
    // flux trims the document (bytes.TrimSpace) and ends it with one newline.
    process.stdout.write(`---\n${marshalYaml(object).replace(/[\t\n\v\f\r \u0085\u00a0]+$/, "")}\n`);
    return;
  }
  await register(admitted(object), command);
}

/** A HelmRelease as `flux create helmrelease` builds it; `read` reads a `--values` file. */
export async function helmReleaseManifest(
  name: string,
  namespace: string,
  flags: CreateHelmReleaseFlags,
  read: (path: string) => Promise<string>,
): Promise<KubeObject> {
  // flux's create checks every name so (validateObjectName): at least two characters.
  if (!/^[a-z0-9]([a-z0-9-]){0,61}[a-z0-9]$/.test(name))
    throw new Error(
      `name '${name}' is invalid, it should adhere to standard defined in RFC 1123, the name can only contain alphanumeric characters or '-'`,
    );
  if (!flags.chart && !flags.chartRef) throw new Error("chart or chart-ref is required");
  if (flags.chart && flags.chartRef) throw new Error("cannot use --chart in combination with --chart-ref");
  if (!RECONCILE_STRATEGIES.includes(flags.reconcileStrategy))
    throw new Error(
      `'${flags.reconcileStrategy}' is an invalid reconcile strategy(valid: ${RECONCILE_STRATEGIES.join(", ")})`,
    );
  // flux reads --source and --crds as it parses them, before anything else.
  const source = flags.source === undefined ? undefined : chartSource(flags.source);
  if (flags.crds !== undefined && !CRDS_POLICIES.includes(flags.crds))
    throw new Error(
      `invalid argument "${flags.crds}" for "--crds" flag: unsupported upgrade CRDs policy '${flags.crds}', must be one of: ${CRDS_POLICIES.join(", ")}`,
    );
  const values = flags.values?.length ? await valuesOf(flags.values, read) : undefined;
  const install = {
    ...(flags.createTargetNamespace && { createNamespace: true }),
    // flux's quirk, kept: --crds sets the upgrade policy, while installs always create CRDs.
    ...(flags.crds && { crds: "Create" }),
  };
  return {
    apiVersion: HELM_RELEASE_API_VERSION,
    kind: "HelmRelease",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.chart && {
        chart: {
          spec: {
            chart: flags.chart,
            ...(flags.chartInterval && { interval: goDuration(flags.chartInterval, "--chart-interval") }),
            reconcileStrategy: flags.reconcileStrategy,
            sourceRef: {
              kind: source?.kind ?? "",
              name: source?.name ?? "",
              ...(source?.namespace && { namespace: source.namespace }),
            },
            ...(flags.chartVersion && { version: flags.chartVersion }),
          },
        },
      }),
      ...(flags.chartRef && { chartRef: chartRef(flags.chartRef) }),
      ...(flags.dependsOn?.length && { dependsOn: flags.dependsOn.map(dependency) }),
      ...(Object.keys(install).length > 0 && { install }),
      interval: goDuration(flags.interval, "--interval"),
      ...(flags.kubeconfigSecretRef && { kubeConfig: { secretRef: { name: flags.kubeconfigSecretRef } } }),
      ...(flags.releaseName && { releaseName: flags.releaseName }),
      ...(flags.serviceAccount && { serviceAccountName: flags.serviceAccount }),
      // flux stores the release where it installs it unless told otherwise.
      ...((flags.storageNamespace || flags.targetNamespace) && {
        storageNamespace: flags.storageNamespace || flags.targetNamespace,
      }),
      ...(flags.targetNamespace && { targetNamespace: flags.targetNamespace }),
      ...(flags.crds && { upgrade: { crds: flags.crds } }),
      ...(values && { values }),
      ...(flags.valuesFrom?.length && { valuesFrom: flags.valuesFrom.map(valuesReference) }),
    },
  };
}

/** `--values` files merged in order, each read as flux reads it (sigs.k8s.io/yaml, so YAML 1.1). */
async function valuesOf(paths: string[], read: (path: string) => Promise<string>): Promise<Record<string, unknown>> {
  let merged = Object.create(null) as Record<string, unknown>;
  for (const path of paths) {
    let text: string;
    try {
      text = await read(path);
    } catch (error) {
      throw new Error(`reading values from ${path} failed: ${(error as Error).message}`, { cause: error });
    }
    try {
      merged = mergeMaps(merged, readValues(text));
    } catch (error) {
      if (error instanceof ValuesYamlError)
        throw new Error(`reading values from ${path} failed: ${error.message}`, { cause: error });
      throw error;
    }
  }
  return merged;
}

/** `--source <kind>/<name>[.<namespace>]`, the kind in any case (flux's HelmChartSource flag). */
function chartSource(text: string): { kind: string; name: string; namespace?: string } {
  const invalid = (message: string) => new Error(`invalid argument "${text}" for "--source" flag: ${message}`);
  if (!text.trim())
    throw invalid(
      `no helm chart source given, please specify source that contains the chart in the format '<kind>/<name>.<namespace>', where kind must be one of: (${CHART_SOURCE_KINDS.join(", ")})`,
    );
  const { kind, name, namespace } = kindNameNamespace(text);
  if (!kind || !name) throw invalid(`invalid helm chart source '${text}', must be in format <kind>/<name>`);
  const known = CHART_SOURCE_KINDS.find((k) => k.toLowerCase() === kind.toLowerCase());
  if (!known) throw invalid(`source kind '${kind}' is not supported, must be one of: ${CHART_SOURCE_KINDS.join(", ")}`);
  return { kind: known, name, ...(namespace && { namespace }) };
}

/** `--chart-ref <kind>/<name>[.<namespace>]`, the kind as written (flux compares it exactly). */
function chartRef(text: string): { kind: string; name: string; namespace?: string } {
  const { kind, name, namespace } = kindNameNamespace(text);
  if (!CHART_REF_KINDS.includes(kind))
    throw new Error(`chart reference kind '${kind}' is not supported, must be one of: ${CHART_REF_KINDS.join(", ")}`);
  return { kind, name, ...(namespace && { namespace }) };
}

/** `--values-from <kind>/<name>`, the kind in any case. */
function valuesReference(text: string): { kind: string; name: string } {
  const parts = text.split("/");
  const [kind, name] = parts.length === 2 ? (parts as [string, string]) : ["", text];
  if (!kind) throw new Error(`invalid Kubernetes object reference '${text}', must be in format <kind>/<name>`);
  const known = VALUES_FROM_KINDS.find((k) => k.toLowerCase() === kind.toLowerCase());
  if (!known)
    throw new Error(`reference kind '${kind}' is not supported, must be one of: ${VALUES_FROM_KINDS.join(", ")}`);
  return { kind: known, name };
}

/** flux's ParseObjectKindNameNamespace: `<kind>/<name>`, the namespace after the name's last dot. */
function kindNameNamespace(text: string): { kind: string; name: string; namespace?: string } {
  const parts = text.split("/");
  const [kind, rest] = parts.length === 2 ? (parts as [string, string]) : ["", text];
  const dot = rest.lastIndexOf(".");
  return dot >= 0 ? { kind, name: rest.slice(0, dot), namespace: rest.slice(dot + 1) } : { kind, name: rest };
}

/** `name` or `namespace/name` (meta.MakeDependsOn; a `@readyExpr` suffix is dropped, as a HelmRelease's create drops it). */
function dependency(text: string): { name: string; namespace?: string } {
  const at = text.indexOf("@");
  const ref = at >= 0 ? text.slice(0, at) : text;
  const slash = ref.indexOf("/");
  return slash >= 0 ? { name: ref.slice(slash + 1), namespace: ref.slice(0, slash) } : { name: ref };
}
