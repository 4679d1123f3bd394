import { describe, expect, it } from "vitest";
import { admitFluxObject, InvalidObjectError, parseFluxObject } from "../../src/api/parse.js";
import { unsupportedFields } from "../../src/api/unsupported.js";

// What a sloppy fleet repo or a hostile one sends, and what Flux v2.9's API server would make of it:
// Sluice admits exactly what Flux admits, and refuses by name what it cannot do.

const gitRepository = (spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name: "app", namespace: "flux-system", ...metadata },
  spec: { interval: "1m", url: "https://github.com/org/app", ref: { branch: "main" }, ...spec },
});
const kustomization = (spec: Record<string, unknown> = {}) => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace: "flux-system" },
  spec: { interval: "10m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "app" }, ...spec },
});
const receiver = (spec: Record<string, unknown> = {}) => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1",
  kind: "Receiver",
  metadata: { name: "github", namespace: "flux-system" },
  spec: {
    type: "github",
    secretRef: { name: "webhook-token" },
    resources: [{ kind: "GitRepository", name: "app" }],
    ...spec,
  },
});

function problems(input: unknown): string[] {
  try {
    admitFluxObject(input);
  } catch (error) {
    if (error instanceof InvalidObjectError) return error.problems;
    throw error;
  }
  throw new Error("admitted");
}

describe("Flux objects admitted as Flux v2.9's API server admits them", () => {
  it("drops the fields real repos carry that Flux's CRDs do not define, names them, and admits the rest", () => {
    // Prepare: the getting-started guide's Kustomization, and a GitRepository and Receiver from older Flux versions
    const ks = kustomization({ validation: "client" });
    const repo = gitRepository({ gitImplementation: "go-git", ref: { branch: "main", tagFilter: "v*" } });
    const hook = receiver({ accessFrom: { namespaceSelectors: [{ matchLabels: { team: "a" } }] } });
    // Act
    const admitted = [ks, repo, hook].map(admitFluxObject);
    // Assess
    expect(admitted.map((a) => a.dropped)).toEqual([
      ["spec.validation"],
      ["spec.gitImplementation", "spec.ref.tagFilter"],
      ["spec.accessFrom"],
    ]);
    expect(admitted[0]!.object.spec).not.toHaveProperty("validation");
    expect(admitted[1]!.object.spec).toMatchObject({ url: "https://github.com/org/app", ref: { branch: "main" } });
    expect(admitted.map((a) => unsupportedFields(a.object))).toEqual([[], [], []]);
  });

  it("still refuses wrong types and values in known fields next to unknown ones, naming every field", () => {
    expect(problems(kustomization({ validation: "client", prune: "yes", wait: 1 })).sort()).toEqual([
      "spec.prune: Invalid input: expected boolean, received string",
      "spec.validation: unknown field",
      "spec.wait: Invalid input: expected boolean, received number",
    ]);
  });

  it.each([
    ["GitRepository timeout in hours (the CRD allows ms, s and m)", gitRepository({ timeout: "1h" }), "spec.timeout: "],
    ["GitRepository URL without a scheme", gitRepository({ url: "github.com/org/app" }), "spec.url: "],
    [
      "GitRepository serviceAccountName without a cloud provider",
      gitRepository({ serviceAccountName: "sa" }),
      "spec: serviceAccountName can only be set when provider is 'azure' or 'aws'",
    ],
    [
      "GitRepository verify mode outside the enum",
      gitRepository({ verify: { mode: "all", secretRef: { name: "k" } } }),
      "spec.verify.mode: ",
    ],
    [
      "an empty kubeConfig",
      kustomization({ kubeConfig: {} }),
      "spec.kubeConfig: exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
    ],
    [
      "a kubeConfig naming a Secret and a ConfigMap",
      kustomization({ kubeConfig: { secretRef: { name: "a" }, configMapRef: { name: "b" } } }),
      "spec.kubeConfig: exactly one of",
    ],
    [
      "a targetNamespace over 63 characters",
      kustomization({ targetNamespace: "n".repeat(64) }),
      "spec.targetNamespace: ",
    ],
    [
      "a buildMetadata option kustomize lacks",
      kustomization({ buildMetadata: ["managedByLabel"] }),
      "spec.buildMetadata[0]: ",
    ],
    [
      "a substituteStrategy outside the enum",
      kustomization({ postBuild: { substituteStrategy: "Never" } }),
      "spec.postBuild.substituteStrategy: ",
    ],
    [
      "Receiver resources of a kind outside Flux's enum",
      receiver({ resources: [{ kind: "Secret", name: "db-password" }] }),
      "spec.resources[0].kind: must be one of Bucket, GitRepository, Kustomization",
    ],
    [
      "a Receiver resource named with 254 characters",
      receiver({ resources: [{ kind: "GitRepository", name: "a".repeat(254) }] }),
      "spec.resources[0].name: ",
    ],
    [
      "a Receiver without a secretRef",
      receiver({ secretRef: undefined }),
      "spec: secretRef is required when type is not generic-oidc",
    ],
    [
      "a generic-oidc Receiver with a secretRef and no provider",
      receiver({ type: "generic-oidc" }),
      "spec: generic-oidc receivers must define at least one oidcProvider; spec: secretRef cannot be set when type is generic-oidc",
    ],
    [
      "the same OIDC issuer twice",
      receiver({
        type: "generic-oidc",
        secretRef: undefined,
        oidcProviders: [1, 2].map(() => ({
          issuerURL: "https://token.actions.githubusercontent.com",
          validations: [{ expression: "true", message: "m" }],
        })),
      }),
      "spec.oidcProviders: issuerURL must be unique",
    ],
    ["a name over 253 characters", gitRepository({}, { name: `${"a".repeat(250)}.com` }), "metadata.name: "],
    ["an upper-case name", gitRepository({}, { name: "App" }), "metadata.name: must be a lowercase DNS-1123 name"],
    ["an empty namespace", gitRepository({}, { namespace: "" }), "metadata.namespace: must not be empty"],
    [
      "a namespace with a dot",
      gitRepository({}, { namespace: "team.a" }),
      "metadata.namespace: must be a lowercase DNS-1123 label",
    ],
    [
      "a label value over 63 characters",
      gitRepository({}, { labels: { team: "t".repeat(64) } }),
      "metadata.labels.team: ",
    ],
    ["a label key with a space", gitRepository({}, { labels: { "my team": "a" } }), "metadata.labels.my team: "],
    [
      "annotations over 256 KiB",
      gitRepository({}, { annotations: { big: "x".repeat(256 * 1024) } }),
      "metadata.annotations: must not exceed 262144 bytes in total",
    ],
  ])("refuses %s", (_case, input, problem) => {
    expect(problems(input).join("; ")).toContain(problem);
  });

  it("accepts what Flux accepts: a commit SHA in upper case or SHA-256, healthCheckExprs without kind, Flux's ignore rules", () => {
    const upper = admitFluxObject(gitRepository({ ref: { commit: "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567" } }));
    const sha256 = admitFluxObject(gitRepository({ ref: { commit: "ab".repeat(32) } }));
    const ks = admitFluxObject(
      kustomization({
        healthCheckExprs: [
          { apiVersion: "cert-manager.io/v1", current: "status.conditions.all(c, c.status == 'True')" },
        ],
        ignore: [{ paths: ["/spec/replicas"], target: { kind: "Deployment" } }],
        buildMetadata: ["originAnnotations"],
        postBuild: { substituteStrategy: "Always" },
      }),
    );
    expect([upper, sha256, ks].map((a) => a.dropped)).toEqual([[], [], []]);
    expect(unsupportedFields(upper.object)).toEqual([]);
  });

  it("fills Flux's defaults when admitting, and leaves the object as written when only parsing", () => {
    // Prepare
    const repo = gitRepository({ verify: { secretRef: { name: "keys" } } });
    const ks = kustomization({ postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "vars" }] } });
    const hook = receiver();
    // Act
    const admitted = [repo, ks, hook].map((o) => admitFluxObject(o).object.spec);
    // Assess
    expect(admitted[0]).toMatchObject({ timeout: "60s", verify: { mode: "HEAD" } });
    expect(admitted[1]).toMatchObject({ force: false, postBuild: { substituteFrom: [{ optional: false }] } });
    expect(admitted[2]).toMatchObject({ interval: "10m" });
    expect(parseFluxObject(repo)).toEqual(repo);
  });

  it.each([
    [
      gitRepository({ ref: { commit: "ab".repeat(32) } }),
      `spec.ref.commit ("${"ab".repeat(32)}"): a SHA-256 repository is not supported by Sluice yet`,
    ],
    [
      gitRepository({ verify: { secretRef: { name: "keys" } } }),
      "spec.verify: commit signature verification is not supported by Sluice yet",
    ],
    [
      gitRepository({ provider: "azure", serviceAccountName: "sa" }),
      'spec.provider ("azure"): cloud or GitHub App authentication',
    ],
    [
      gitRepository({ include: [{ repository: { name: "other" } }] }),
      "spec.include: including other GitRepositories' artifacts",
    ],
    [gitRepository({ recurseSubmodules: true }), "spec.recurseSubmodules: checking out submodules"],
    [gitRepository({ sparseCheckout: ["apps"] }), "spec.sparseCheckout: sparse checkout"],
    [gitRepository({ proxySecretRef: { name: "proxy" } }), "spec.proxySecretRef: Git through a proxy"],
    [
      kustomization({ kubeConfig: { configMapRef: { name: "remote" } } }),
      "spec.kubeConfig.configMapRef: reaching a remote cluster",
    ],
    [
      kustomization({ decryption: { provider: "sops", serviceAccountName: "sops" } }),
      "spec.decryption.serviceAccountName: decryption as a service account",
    ],
    [receiver({ type: "cdevents" }), 'spec.type ("cdevents"): this receiver type is not supported by Sluice yet'],
    [
      receiver({ resources: [{ kind: "GitRepository", name: "app", filter: "true" }] }),
      "spec.resources[0].filter: a CEL filter",
    ],
    [receiver({ resourceFilter: "true" }), "spec.resourceFilter: a CEL resource filter"],
  ])("refuses by name a field Sluice does not implement: %#", (input, refusal) => {
    expect(unsupportedFields(admitFluxObject(input).object).join("; ")).toContain(refusal);
  });

  it("takes a field left at its neutral value (false, an empty list, provider generic) as not set", () => {
    const repo = gitRepository({ recurseSubmodules: false, include: [], sparseCheckout: [], provider: "generic" });
    expect(unsupportedFields(admitFluxObject(repo).object)).toEqual([]);
  });
});
