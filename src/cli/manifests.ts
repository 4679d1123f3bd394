import { posix } from "node:path";
import { stringify } from "yaml";
import { CLUSTER_ANNOTATION } from "../api/cluster.js";
import { formatDuration, parseDuration } from "../api/duration.js";
import { ALERT_API_VERSION } from "../api/alert.js";
import { GIT_REPOSITORY_API_VERSION } from "../api/gitrepository.js";
import { HELM_REPOSITORY_API_VERSION } from "../api/helmrepository.js";
import { KUSTOMIZATION_API_VERSION } from "../api/kustomization.js";
import { OCI_REPOSITORY_API_VERSION } from "../api/ocirepository.js";
import { BUCKET_API_VERSION } from "../api/bucket.js";
import { PROVIDER_API_VERSION } from "../api/provider.js";
import { RECEIVER_API_VERSION } from "../api/receiver.js";
import type { KubeObject } from "../apply/object.js";

// The objects `sluice create` and `sluice bootstrap` write, shaped exactly like `flux create … --export`
// (flux2 v2.9 cmd/flux/create_*.go): the same fields from the same flags, the same checks and messages.

export interface GitSourceFlags {
  url: string;
  branch?: string;
  tag?: string;
  tagSemver?: string;
  refName?: string;
  commit?: string;
  interval: string;
  secretRef?: string;
  proxySecretRef?: string;
  provider?: string;
  recurseSubmodules?: boolean;
  ignorePaths?: string[];
  sparseCheckoutPaths?: string[];
  fetchTimeout?: string;
  label?: string[];
}

export function gitRepositoryManifest(name: string, namespace: string, flags: GitSourceFlags): KubeObject {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(flags.url)?.[1]?.toLowerCase();
  if (!scheme || !["ssh", "http", "https"].includes(scheme))
    throw new Error(`git URL scheme '${scheme ?? ""}' not supported, can be: ssh, http and https`);
  if (!flags.branch && !flags.tag && !flags.tagSemver && !flags.commit && !flags.refName)
    throw new Error(
      "a Git ref is required, use one of the following: --branch, --tag, --commit, --ref-name or --tag-semver",
    );
  // flux's precedence when several are given: commit (with its branch), then name, semver, tag, branch.
  const ref = flags.commit
    ? { ...(flags.branch && { branch: flags.branch }), commit: flags.commit }
    : flags.refName
      ? { name: flags.refName }
      : flags.tagSemver
        ? { semver: flags.tagSemver }
        : flags.tag
          ? { tag: flags.tag }
          : { branch: flags.branch };
  return {
    apiVersion: GIT_REPOSITORY_API_VERSION,
    kind: "GitRepository",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.ignorePaths?.length && { ignore: flags.ignorePaths.join("\n") }),
      interval: goDuration(flags.interval, "--interval"),
      ...(flags.provider && { provider: flags.provider }),
      ...(flags.proxySecretRef && { proxySecretRef: { name: flags.proxySecretRef } }),
      ...(flags.recurseSubmodules && { recurseSubmodules: true }),
      ref,
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      ...(flags.sparseCheckoutPaths?.length && { sparseCheckout: flags.sparseCheckoutPaths }),
      ...(flags.fetchTimeout && { timeout: goDuration(flags.fetchTimeout, "--fetch-timeout") }),
      url: flags.url,
    },
  };
}

export interface HelmSourceFlags {
  url?: string;
  interval: string;
  secretRef?: string;
  ociProvider?: string;
  passCredentials?: boolean;
  fetchTimeout?: string;
  label?: string[];
}

/** A HelmRepository as `flux create source helm` builds it: `oci://` makes it type oci; passCredentials only with a secretRef. */
export function helmRepositoryManifest(name: string, namespace: string, flags: HelmSourceFlags): KubeObject {
  if (!flags.url) throw new Error("url is required");
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(flags.url);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(flags.url)?.[1]?.toLowerCase() ?? "";
  if (!["http", "https", "oci"].includes(scheme))
    throw new Error(`url scheme '${scheme}' not supported, can be: http, https and oci`);
  if (!match?.[2]) throw new Error("url host is required");
  const oci = scheme === "oci";
  return {
    apiVersion: HELM_REPOSITORY_API_VERSION,
    kind: "HelmRepository",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      interval: goDuration(flags.interval, "--interval"),
      ...(flags.secretRef && flags.passCredentials && { passCredentials: true }),
      ...(oci && flags.ociProvider && { provider: flags.ociProvider }),
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      ...(flags.fetchTimeout && { timeout: goDuration(flags.fetchTimeout, "--fetch-timeout") }),
      ...(oci && { type: "oci" }),
      url: flags.url,
    },
  };
}

export interface OciSourceFlags {
  url?: string;
  interval: string;
  tag?: string;
  tagSemver?: string;
  digest?: string;
  secretRef?: string;
  proxySecretRef?: string;
  serviceAccount?: string;
  certRef?: string;
  verifyProvider?: string;
  verifySecretRef?: string;
  verifySubject?: string;
  verifyIssuer?: string;
  ignorePaths?: string[];
  provider: string;
  insecure?: boolean;
  layerSelector?: string;
  fetchTimeout?: string;
  label?: string[];
}

/** An OCIRepository as `flux create source oci` builds it, with its checks and messages. */
export function ociRepositoryManifest(name: string, namespace: string, flags: OciSourceFlags): KubeObject {
  if (!flags.url) throw new Error("url is required");
  if (!flags.tagSemver && !flags.tag && !flags.digest) throw new Error("--tag, --tag-semver or --digest is required");
  const layerSelector = flags.layerSelector && parseLayerSelector(flags.layerSelector);
  const verify = flags.verifyProvider && {
    ...((flags.verifyIssuer || flags.verifySubject) && {
      matchOIDCIdentity: [{ issuer: flags.verifyIssuer ?? "", subject: flags.verifySubject ?? "" }],
    }),
    provider: flags.verifyProvider,
    ...(flags.verifySecretRef && { secretRef: { name: flags.verifySecretRef } }),
  };
  if (!verify && flags.verifySecretRef)
    throw new Error("a verification provider must be specified when a secret is specified");
  if (!verify && (flags.verifyIssuer || flags.verifySubject))
    throw new Error("a verification provider must be specified when OIDC issuer/subject is specified");
  return {
    apiVersion: OCI_REPOSITORY_API_VERSION,
    kind: "OCIRepository",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.certRef && { certSecretRef: { name: flags.certRef } }),
      ...(flags.ignorePaths?.length && { ignore: flags.ignorePaths.join("\n") }),
      ...(flags.insecure && { insecure: true }),
      interval: goDuration(flags.interval, "--interval"),
      ...(layerSelector && { layerSelector }),
      provider: flags.provider,
      ...(flags.proxySecretRef && { proxySecretRef: { name: flags.proxySecretRef } }),
      ref: {
        ...(flags.digest && { digest: flags.digest }),
        ...(flags.tagSemver && { semver: flags.tagSemver }),
        ...(flags.tag && { tag: flags.tag }),
      },
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      ...(flags.serviceAccount && { serviceAccountName: flags.serviceAccount }),
      ...(flags.fetchTimeout && { timeout: goDuration(flags.fetchTimeout, "--fetch-timeout") }),
      url: flags.url,
      ...(verify && { verify }),
    },
  };
}

export interface BucketSourceFlags {
  bucketName?: string;
  endpoint?: string;
  provider: string;
  region?: string;
  insecure?: boolean;
  secretRef?: string;
  proxySecretRef?: string;
  ignorePaths?: string[];
  interval: string;
  fetchTimeout?: string;
  label?: string[];
}

/** A Bucket as `flux create source bucket` builds it, with its checks and messages. */
export function bucketManifest(name: string, namespace: string, flags: BucketSourceFlags): KubeObject {
  if (!flags.bucketName) throw new Error("bucket-name is required");
  if (!flags.endpoint) throw new Error("endpoint is required");
  return {
    apiVersion: BUCKET_API_VERSION,
    kind: "Bucket",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      bucketName: flags.bucketName,
      endpoint: flags.endpoint,
      ...(flags.ignorePaths?.length && { ignore: flags.ignorePaths.join("\n") }),
      ...(flags.insecure && { insecure: true }),
      interval: goDuration(flags.interval, "--interval"),
      provider: flags.provider,
      ...(flags.proxySecretRef && { proxySecretRef: { name: flags.proxySecretRef } }),
      ...(flags.region && { region: flags.region }),
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      ...(flags.fetchTimeout && { timeout: goDuration(flags.fetchTimeout, "--fetch-timeout") }),
    },
  };
}

/** `--layer-selector <media-type>:<operation>`, as flux's parseLayerSelector reads it. */
function parseLayerSelector(selector: string): { mediaType: string; operation: string } {
  const at = selector.indexOf(":");
  const [mediaType, operation] = at < 0 ? [selector, ""] : [selector.slice(0, at), selector.slice(at + 1)];
  if (at < 0 || !mediaType || !operation)
    throw new Error(`invalid --layer-selector "${selector}": must be in the format '<media-type>:<operation>'`);
  if (operation !== "extract" && operation !== "copy")
    throw new Error(`invalid --layer-selector "${selector}": operation must be "extract" or "copy"`);
  return { mediaType, operation };
}

export interface AlertProviderFlags {
  type?: string;
  channel?: string;
  username?: string;
  address?: string;
  secretRef?: string;
  label?: string[];
}

/** A Provider as `flux create alert-provider` builds it. */
export function providerManifest(name: string, namespace: string, flags: AlertProviderFlags): KubeObject {
  if (!flags.type) throw new Error("Provider type is required");
  return {
    apiVersion: PROVIDER_API_VERSION,
    kind: "Provider",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.address && { address: flags.address }),
      ...(flags.channel && { channel: flags.channel }),
      ...(flags.secretRef && { secretRef: { name: flags.secretRef } }),
      type: flags.type,
      ...(flags.username && { username: flags.username }),
    },
  };
}

export interface AlertFlags {
  providerRef?: string;
  eventSeverity?: string;
  eventSource?: string[];
  label?: string[];
}

/** An Alert as `flux create alert` builds it: event sources `<kind>/<name>[.<namespace>]`. */
export function alertManifest(name: string, namespace: string, flags: AlertFlags): KubeObject {
  if (!flags.providerRef) throw new Error("provider ref is required");
  const eventSources = (flags.eventSource ?? []).map(eventSource);
  if (eventSources.length === 0) throw new Error("at least one event source is required");
  return {
    apiVersion: ALERT_API_VERSION,
    kind: "Alert",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.eventSeverity && { eventSeverity: flags.eventSeverity }),
      eventSources,
      providerRef: { name: flags.providerRef },
    },
  };
}

/** `<kind>/<name>[.<namespace>]`, as flux's ParseObjectKindNameNamespace reads it (the namespace after the last dot). */
function eventSource(text: string): { kind: string; name: string; namespace?: string } {
  const parts = text.split("/");
  const [kind, rest] = parts.length === 2 ? (parts as [string, string]) : ["", text];
  if (!kind) throw new Error(`invalid event source '${text}', must be in format <kind>/<name>`);
  const dot = rest.lastIndexOf(".");
  return dot >= 0 ? { kind, name: rest.slice(0, dot), namespace: rest.slice(dot + 1) } : { kind, name: rest };
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
  /** The Kustomization's `timeout`, set with health checks or `wait` only, as flux sets it. */
  healthCheckTimeout?: string;
  retryInterval?: string;
  serviceAccount?: string;
  decryptionProvider?: string;
  decryptionSecret?: string;
  kubeconfigSecretRef?: string;
  label?: string[];
  /** A registered Sluice cluster to target (annotation `sluice.dev/cluster`); the control plane's own when unset. */
  cluster?: string;
}

export function kustomizationManifest(name: string, namespace: string, flags: KustomizationFlags): KubeObject {
  // flux ignores --health-check under --wait: wait checks everything applied.
  const healthChecks = flags.wait ? [] : (flags.healthCheck ?? []).map(healthCheck);
  const checked = flags.wait || healthChecks.length > 0;
  return {
    apiVersion: KUSTOMIZATION_API_VERSION,
    kind: "Kustomization",
    metadata: {
      ...(flags.cluster && { annotations: { [CLUSTER_ANNOTATION]: flags.cluster } }),
      ...labelsOf(flags.label),
      name,
      namespace,
    },
    spec: {
      ...(flags.decryptionProvider && {
        decryption: {
          provider: flags.decryptionProvider,
          ...(flags.decryptionSecret && { secretRef: { name: flags.decryptionSecret } }),
        },
      }),
      ...(flags.dependsOn?.length && { dependsOn: flags.dependsOn.map(dependency) }),
      ...(healthChecks.length > 0 && { healthChecks }),
      interval: goDuration(flags.interval, "--interval"),
      ...(flags.kubeconfigSecretRef && { kubeConfig: { secretRef: { name: flags.kubeconfigSecretRef } } }),
      path: relativePath(flags.path),
      prune: flags.prune,
      ...(flags.retryInterval && { retryInterval: goDuration(flags.retryInterval, "--retry-interval") }),
      ...(flags.serviceAccount && { serviceAccountName: flags.serviceAccount }),
      sourceRef: sourceRef(flags.source),
      ...(flags.targetNamespace && { targetNamespace: flags.targetNamespace }),
      ...(checked &&
        flags.healthCheckTimeout && { timeout: goDuration(flags.healthCheckTimeout, "--health-check-timeout") }),
      ...(flags.wait && { wait: true }),
    },
  };
}

export interface ReceiverFlags {
  type: string;
  secretRef: string;
  event?: string[];
  resource?: string[];
  label?: string[];
}

export function receiverManifest(name: string, namespace: string, flags: ReceiverFlags): KubeObject {
  const resources = (flags.resource ?? []).map((text) => {
    const [kind, resourceName] = text.split("/");
    if (!kind || !resourceName || text.split("/").length !== 2)
      throw new Error(`invalid event source '${text}', must be in format <kind>/<name>`);
    return { kind, name: resourceName };
  });
  if (resources.length === 0) throw new Error("at least one --resource is required");
  return {
    apiVersion: RECEIVER_API_VERSION,
    kind: "Receiver",
    metadata: { ...labelsOf(flags.label), name, namespace },
    spec: {
      ...(flags.event?.length && { events: flags.event }),
      resources,
      secretRef: { name: flags.secretRef },
      type: flags.type,
    },
  };
}

/** The source kinds a Kustomization may name (flux's `--source` list; Sluice reconciles GitRepository). */
const SOURCE_KINDS = ["OCIRepository", "GitRepository", "Bucket"];

/** `[<kind>/]<name>[.<namespace>]`, the kind case-insensitive and GitRepository by default, as `flux create kustomization --source`. */
function sourceRef(text: string): { kind: string; name: string; namespace?: string } {
  if (!text.trim()) throw new Error(`--source: no Kustomization source given`);
  const parts = text.split("/");
  const [kindText, nameText] = parts.length === 2 ? parts : ["", text];
  const dot = nameText!.lastIndexOf(".");
  const [name, namespace] = dot >= 0 ? [nameText!.slice(0, dot), nameText!.slice(dot + 1)] : [nameText!, undefined];
  if (!name) throw new Error(`--source: no name given for source of kind '${kindText}'`);
  if (!kindText && SOURCE_KINDS.includes(name)) throw new Error(`--source: no kind specified for source '${name}'`);
  const kind = kindText ? SOURCE_KINDS.find((k) => k.toLowerCase() === kindText.toLowerCase()) : "GitRepository";
  if (!kind)
    throw new Error(`--source: source kind '${kindText}' is not supported, must be one of: ${SOURCE_KINDS.join(", ")}`);
  return { kind, name, ...(namespace && { namespace }) };
}

/**
 * A path inside the source, made relative to its root as flux's safeRelativePath flag makes it:
 * `clusters/dev`, `/clusters/dev` and `../clusters/dev/` all become `./clusters/dev`; empty is `./`.
 */
export function relativePath(text: string): string {
  const inside = posix.normalize(`/${text.trim()}`).replace(/^\/+|\/+$/g, "");
  return `./${inside}`;
}

/** `name` or `namespace/name`, as `flux create kustomization --depends-on`. */
function dependency(text: string): { name: string; namespace?: string } {
  const [first, second] = text.split("/", 2);
  return second ? { name: second, namespace: first } : { name: first! };
}

/**
 * `<kind>/<name>.<namespace>`, as `flux create kustomization --health-check`. Unlike flux, the
 * apiVersion of the common workload kinds is written out: Sluice does not look up a preferred version.
 */
function healthCheck(text: string): { apiVersion?: string; kind: string; name: string; namespace?: string } {
  const match = /^([^/]+)\/([^.]+)(?:\.(.+))?$/.exec(text);
  if (!match) throw new Error(`invalid health check '${text}' must be in the format 'kind/name.namespace'`);
  const [, kind, name, namespace] = match as unknown as [string, string, string, string | undefined];
  const apiVersion = (
    { Deployment: "apps/v1", StatefulSet: "apps/v1", DaemonSet: "apps/v1", Job: "batch/v1", Service: "v1" } as Record<
      string,
      string
    >
  )[kind];
  return { ...(apiVersion && { apiVersion }), kind, name, ...(namespace && { namespace }) };
}

/** `--label key=value` (repeatable, or comma-separated) as metadata, as flux's parseLabels reads it. */
export function labelsOf(labels: string[] | undefined): { labels?: Record<string, string> } {
  if (!labels?.length) return {};
  return {
    labels: Object.fromEntries(
      labels.map((label) => {
        const parts = label.split("=");
        if (parts.length !== 2) throw new Error(`invalid label format '${label}', must be key=value`);
        return parts as [string, string];
      }),
    ),
  };
}

/** Durations echoed the way Go prints them (`1m0s`), as flux does. */
export function goDuration(text: string, flag: string): string {
  try {
    return formatDuration(parseDuration(text));
  } catch (error) {
    throw new Error(`${flag}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * `---`-separated YAML documents, the shape of `flux … --export` (Go's sigs.k8s.io/yaml): list items at
 * their key's indentation. The manifests above write their keys in the alphabetical order Go writes them.
 */
export function exportYaml(objects: KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { indentSeq: false })}`).join("");
}
