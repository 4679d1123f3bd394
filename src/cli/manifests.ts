import { stringify } from "yaml";
import { CLUSTER_ANNOTATION } from "../api/cluster.js";
import { formatDuration, parseDuration } from "../api/duration.js";
import { GIT_REPOSITORY_API_VERSION } from "../api/gitrepository.js";
import { KUSTOMIZATION_API_VERSION } from "../api/kustomization.js";
import type { KubeObject } from "../apply/object.js";

// The objects `sluice create` and `sluice bootstrap` write, shaped exactly like `flux create … --export`.

export interface GitSourceFlags {
  url: string;
  branch?: string;
  tag?: string;
  tagSemver?: string;
  commit?: string;
  interval: string;
  secretRef?: string;
  ignorePaths?: string[];
}

export function gitRepositoryManifest(name: string, namespace: string, flags: GitSourceFlags): KubeObject {
  const ref = flags.commit
    ? { branch: flags.branch, commit: flags.commit }
    : flags.tagSemver
      ? { semver: flags.tagSemver }
      : flags.tag
        ? { tag: flags.tag }
        : { branch: flags.branch ?? "master" };
  return {
    apiVersion: GIT_REPOSITORY_API_VERSION,
    kind: "GitRepository",
    metadata: { name, namespace },
    spec: {
      ...(flags.ignorePaths?.length && { ignore: flags.ignorePaths.join("\n") }),
      interval: goDuration(flags.interval, "--interval"),
      ref: Object.fromEntries(Object.entries(ref).filter(([, v]) => v !== undefined)),
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      url: flags.url,
    },
  };
}

export interface KustomizationFlags {
  source: string;
  path: string;
  prune: boolean;
  interval: string;
  targetNamespace?: string;
  dependsOn?: string[];
  wait?: boolean;
  healthCheck?: string[];
  healthCheckTimeout?: string;
  retryInterval?: string;
  serviceAccount?: string;
  /** A registered Sluice cluster to target (annotation `sluice.dev/cluster`); the control plane's own when unset. */
  cluster?: string;
}

export function kustomizationManifest(name: string, namespace: string, flags: KustomizationFlags): KubeObject {
  const [sourceKind, sourceName] = flags.source.includes("/")
    ? flags.source.split("/", 2)
    : ["GitRepository", flags.source];
  const [sourceName2, sourceNamespace] = (sourceName ?? "").split(".", 2);
  return {
    apiVersion: KUSTOMIZATION_API_VERSION,
    kind: "Kustomization",
    metadata: { name, namespace, ...(flags.cluster && { annotations: { [CLUSTER_ANNOTATION]: flags.cluster } }) },
    spec: {
      ...(flags.dependsOn?.length && { dependsOn: flags.dependsOn.map(dependency) }),
      ...(flags.healthCheck?.length && { healthChecks: flags.healthCheck.map(healthCheck) }),
      interval: goDuration(flags.interval, "--interval"),
      path: flags.path,
      prune: flags.prune,
      ...(flags.retryInterval && { retryInterval: goDuration(flags.retryInterval, "--retry-interval") }),
      ...(flags.serviceAccount && { serviceAccountName: flags.serviceAccount }),
      sourceRef: { kind: sourceKind, name: sourceName2, ...(sourceNamespace && { namespace: sourceNamespace }) },
      ...(flags.targetNamespace && { targetNamespace: flags.targetNamespace }),
      ...(flags.healthCheckTimeout && { timeout: goDuration(flags.healthCheckTimeout, "--health-check-timeout") }),
      ...(flags.wait && { wait: true }),
    },
  };
}

/** `name` or `namespace/name`, as `flux create kustomization --depends-on`. */
function dependency(text: string): { name: string; namespace?: string } {
  const [first, second] = text.split("/", 2);
  return second ? { namespace: first, name: second } : { name: first! };
}

/** `Kind/name.namespace`, as `flux create kustomization --health-check`. */
function healthCheck(text: string): { apiVersion?: string; kind: string; name: string; namespace?: string } {
  const match = /^([^/]+)\/([^.]+)(?:\.(.+))?$/.exec(text);
  if (!match) throw new Error(`--health-check '${text}': expected <kind>/<name>.<namespace>`);
  const [, kind, name, namespace] = match as unknown as [string, string, string, string | undefined];
  const apiVersion = (
    { Deployment: "apps/v1", StatefulSet: "apps/v1", DaemonSet: "apps/v1", Job: "batch/v1", Service: "v1" } as Record<
      string,
      string
    >
  )[kind];
  return { ...(apiVersion && { apiVersion }), kind, name, ...(namespace && { namespace }) };
}

/** Durations echoed the way Go prints them (`1m0s`), as flux does. */
function goDuration(text: string, flag: string): string {
  try {
    return formatDuration(parseDuration(text));
  } catch (error) {
    throw new Error(`${flag}: ${(error as Error).message}`, { cause: error });
  }
}

/** `---`-separated YAML documents, the shape of `flux … --export`. */
export function exportYaml(objects: KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o)}`).join("");
}
