import type { FluxKind, FluxObject } from "./parse.js";

// The fields of Flux's API that Sluice does not implement yet. A field that changes where or what is
// deployed is never ignored: an object that sets one is refused (Ready=False, Stalled) naming the
// field and why. This one list decides the refusal and the README's table of Flux fields.

/** A Flux field Sluice refuses, and why. */
export interface UnsupportedField {
  /** The field, `.`-separated from the object's root; `[]` stands for every item of a list. */
  path: string;
  reason: string;
  /** Refused only for these values (the rest work); without it, any value but false, "" or an empty list is. */
  when?: { describe: string; test(value: unknown): boolean };
}

/** The Provider types Sluice delivers to (src/notify/providers/registry.ts); the CRD's other types are refused by name. */
export const DELIVERED_PROVIDER_TYPES = [
  "generic",
  "generic-hmac",
  "slack",
  "msteams",
  "discord",
  "github",
  "gitlab",
  "gitea",
  "bitbucketserver",
  "bitbucket",
  "azuredevops",
  "githubdispatch",
  "googlechat",
  "rocket",
  "webex",
  "telegram",
  "matrix",
  "lark",
  "zulip",
  "opsgenie",
  "alertmanager",
  "grafana",
  "datadog",
  "pagerduty",
  "sentry",
  "nats",
  "githubpullrequestcomment",
  "gitlabmergerequestcomment",
  "giteapullrequestcomment",
  "otel",
] as const;

const notYet = (what: string) => `${what} is not supported by Sluice yet`;
const isNot = (...supported: string[]) => ({
  describe: `other than ${supported.map((s) => `\`${s}\``).join(", ")}`,
  test: (value: unknown) => !supported.includes(String(value)),
});

/**
 * `verify` (at `path`) is checked with cosign public keys from its secretRef; keyless (Sigstore) and notation
 * signatures are refused, and the keyless-only fields the kind has (`keyless`).
 */
function cosignKeysOnly(path: string, what: string, keyless: string[]): UnsupportedField[] {
  return [
    {
      path: `${path}.provider`,
      reason: `${notYet(`verifying ${what}'s notation signature`)}; sign it with cosign and a key pair`,
      when: isNot("cosign"),
    },
    {
      path,
      reason: `${notYet(`verifying ${what}'s keyless (Sigstore) signature`)}; give its cosign public keys in ${path}.secretRef`,
      when: { describe: "without `secretRef`", test: (verify) => !(verify as { secretRef?: unknown }).secretRef },
    },
    ...keyless.map((field) => ({ path: `${path}.${field}`, reason: notYet("keyless (Sigstore) verification") })),
  ];
}

export const UNSUPPORTED_FIELDS: Record<FluxKind, UnsupportedField[]> = {
  GitRepository: [
    {
      path: "spec.ref.commit",
      reason: notYet("a SHA-256 repository"),
      when: { describe: "a SHA-256 object name", test: (commit) => String(commit).length === 64 },
    },
    {
      path: "spec.provider",
      reason: `${notYet("cloud or GitHub App authentication")}; use a secretRef`,
      when: isNot("generic"),
    },
    { path: "spec.serviceAccountName", reason: notYet("authentication as a service account's cloud identity") },
    { path: "spec.verify", reason: notYet("commit signature verification") },
    { path: "spec.proxySecretRef", reason: notYet("Git through a proxy") },
    { path: "spec.recurseSubmodules", reason: notYet("checking out submodules") },
    { path: "spec.include", reason: notYet("including other GitRepositories' artifacts") },
    { path: "spec.sparseCheckout", reason: notYet("sparse checkout") },
  ],
  HelmRepository: [
    {
      path: "spec.provider",
      reason: `${notYet("Azure and Google registry authentication")}; use a secretRef with a kubernetes.io/dockerconfigjson Secret`,
      when: isNot("generic", "aws"),
    },
  ],
  HelmChart: cosignKeysOnly("spec.verify", "a chart", ["matchOIDCIdentity"]),
  HelmRelease: [
    ...cosignKeysOnly("spec.chart.spec.verify", "a chart", []),
    {
      path: "spec.kubeConfig.configMapRef",
      reason: `${notYet("reaching a remote cluster with a cloud identity")}; use kubeConfig.secretRef`,
    },
  ],
  OCIRepository: [
    {
      path: "spec.provider",
      reason: `${notYet("Azure and Google registry authentication")}; use a secretRef with a kubernetes.io/dockerconfigjson Secret`,
      when: isNot("generic", "aws"),
    },
    ...cosignKeysOnly("spec.verify", "an artifact", ["matchOIDCIdentity", "trustedRootSecretRef"]),
    {
      path: "spec.serviceAccountName",
      reason: `${notYet("pulling with a service account's image pull secrets")}; use a secretRef`,
    },
    { path: "spec.proxySecretRef", reason: notYet("reaching a registry through a proxy") },
  ],
  Bucket: [
    {
      path: "spec.provider",
      reason: `${notYet("reading from Google Cloud Storage or Azure Blob Storage")}; use an S3-compatible endpoint with provider generic`,
      when: isNot("generic", "aws"),
    },
    {
      path: "spec.sts",
      reason: `${notYet("fetching credentials from a security token service")}; use a secretRef, or provider aws for the runtime's identity`,
    },
    {
      path: "spec.serviceAccountName",
      reason: `${notYet("authentication as a service account's cloud identity")}; provider aws uses the runtime's identity`,
    },
    { path: "spec.proxySecretRef", reason: notYet("reaching a bucket through a proxy") },
  ],
  Kustomization: [
    {
      path: "spec.kubeConfig.configMapRef",
      reason: `${notYet("reaching a remote cluster with a cloud identity")}; use kubeConfig.secretRef`,
    },
    {
      path: "spec.decryption.serviceAccountName",
      reason: `${notYet("decryption as a service account's cloud identity")}; use decryption.secretRef`,
    },
  ],
  Receiver: [
    {
      path: "spec.type",
      reason: notYet("this receiver type"),
      when: isNot(
        "generic",
        "generic-hmac",
        "github",
        "gitlab",
        "bitbucket",
        "harbor",
        "dockerhub",
        "quay",
        "gcr",
        "nexus",
        "acr",
      ),
    },
    { path: "spec.oidcProviders", reason: notYet("verifying deliveries with OIDC") },
    { path: "spec.resources[].filter", reason: notYet("a CEL filter on a resource") },
    { path: "spec.resourceFilter", reason: notYet("a CEL resource filter") },
  ],
  Alert: [],
  ImageRepository: [
    {
      path: "spec.provider",
      reason: `${notYet("Azure and Google registry authentication")}; use a secretRef with a kubernetes.io/dockerconfigjson Secret`,
      when: isNot("generic", "aws"),
    },
    {
      path: "spec.serviceAccountName",
      reason: `${notYet("scanning with a service account's image pull secrets")}; use a secretRef`,
    },
    { path: "spec.proxySecretRef", reason: notYet("reaching a registry through a proxy") },
  ],
  ImagePolicy: [],
  ImageUpdateAutomation: [],
  ArtifactGenerator: [
    {
      path: "spec.pathPattern",
      reason: `${notYet("generating one artifact per matched directory")}; list the artifacts by name`,
    },
  ],
  ExternalArtifact: [],
  Provider: [
    {
      path: "spec.type",
      reason: notYet("this provider type"),
      when: isNot(...DELIVERED_PROVIDER_TYPES),
    },
    {
      path: "spec.serviceAccountName",
      // Flux exchanges the service account's token for Azure or Google credentials (azureeventhub, azuredevops,
      // googlepubsub), behind its ObjectLevelWorkloadIdentity feature gate (off by default).
      reason: `${notYet("authentication as a service account's Azure or Google workload identity")}; use a secretRef`,
    },
  ],
};

/**
 * What in an object Sluice would have to ignore, one `path (value): reason` each with the item's
 * index in place of `[]`; empty when Sluice implements everything it sets.
 */
export function unsupportedFields(object: FluxObject): string[] {
  return UNSUPPORTED_FIELDS[object.kind].flatMap((field) =>
    valuesAt(object, field.path)
      .filter(({ value }) => (field.when ? value !== undefined && field.when.test(value) : isSet(value)))
      .map(({ path, value }) => `${path}${field.when ? ` (${JSON.stringify(value)})` : ""}: ${field.reason}`),
  );
}

/** false, "" and an empty list mean the same as leaving the field out. */
function isSet(value: unknown): boolean {
  return value !== undefined && value !== false && value !== "" && !(Array.isArray(value) && value.length === 0);
}

/** The values at a path, each with its concrete path (`spec.dependsOn[1].readyExpr`). */
function valuesAt(root: unknown, path: string): { path: string; value: unknown }[] {
  let found = [{ path: "", value: root }];
  for (const segment of path.split(".")) {
    const each = segment.endsWith("[]");
    const key = each ? segment.slice(0, -2) : segment;
    found = found.flatMap(({ path: at, value }) => {
      const child = (value as Record<string, unknown> | undefined)?.[key];
      const named = at ? `${at}.${key}` : key;
      if (!each) return [{ path: named, value: child }];
      return Array.isArray(child) ? child.map((item, i) => ({ path: `${named}[${i}]`, value: item as unknown })) : [];
    });
  }
  return found;
}
