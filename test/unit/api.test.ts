import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/api/duration.js";
import { gitRepositoryDefaults, type GitRepository } from "../../src/api/gitrepository.js";
import { kustomizationTimeoutMs } from "../../src/api/kustomization.js";
import { InvalidObjectError, parseFluxObject } from "../../src/api/parse.js";

// Shaped like the examples in Flux's documentation and `flux create … --export` output.
const fluxExamples = {
  gitRepository: `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: default
spec:
  interval: 5m0s
  url: https://github.com/stefanprodan/podinfo
  ref:
    branch: master
  ignore: |
    # exclude all
    /*
    # include deploy dir
    !/deploy
`,
  gitRepositorySemver: `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1m
  timeout: 30s
  url: https://github.com/stefanprodan/podinfo
  secretRef:
    name: https-credentials
  ref:
    semver: ">=6.0.0 <7.0.0"
  include:
    - repository:
        name: config
      fromPath: deploy
      toPath: base/app
`,
  kustomization: `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: default
spec:
  interval: 10m
  targetNamespace: default
  sourceRef:
    kind: GitRepository
    name: podinfo
  path: "./kustomize"
  prune: true
  timeout: 1m
`,
  kustomizationFull: `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 1h
  retryInterval: 2m
  timeout: 5m
  dependsOn:
    - name: infra-controllers
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps/production
  prune: true
  wait: true
  force: false
  deletionPolicy: Delete
  commonMetadata:
    labels:
      app.kubernetes.io/part-of: apps
  patches:
    - patch: |-
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: not-used
        spec:
          replicas: 2
      target:
        kind: Deployment
        labelSelector: "app.kubernetes.io/part-of=apps"
    - patch: |
        - op: add
          path: /metadata/annotations/example
          value: "true"
      target:
        kind: Service
  images:
    - name: podinfo
      newName: ghcr.io/stefanprodan/podinfo
      newTag: 6.5.0
  postBuild:
    substitute:
      cluster_env: "prod"
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
      - kind: Secret
        name: cluster-secret-vars
        optional: true
  healthChecks:
    - apiVersion: apps/v1
      kind: Deployment
      name: podinfo
      namespace: apps
  decryption:
    provider: sops
    secretRef:
      name: sops-age
  kubeConfig:
    secretRef:
      name: prod-kubeconfig
      key: value.yaml
`,
};

describe("Flux API: GitRepository and Kustomization", () => {
  it.each(Object.entries(fluxExamples))("parses Flux's %s example unchanged", (_name, yaml) => {
    // Prepare
    const input = parse(yaml) as unknown;
    // Act
    const parsed = parseFluxObject(input);
    // Assess
    expect(parsed).toEqual(input);
  });

  it("names every unknown field and wrong type by its path", () => {
    // Prepare
    const input = parse(fluxExamples.kustomization) as { spec: Record<string, unknown> };
    input.spec.prun = true;
    input.spec.prune = "yes";
    input.spec.interval = "10 minutes";
    input.spec.sourceRef = { kind: "GitRepo", name: "podinfo" };
    // Act
    const error = (() => {
      try {
        parseFluxObject(input);
      } catch (e) {
        return e as InvalidObjectError;
      }
    })();
    // Assess
    expect(error).toBeInstanceOf(InvalidObjectError);
    expect(error?.message).toMatch(/^Kustomization\/default\/podinfo is invalid: /);
    expect(error?.problems).toEqual(
      expect.arrayContaining([
        "spec.prun: unknown field",
        expect.stringMatching(/^spec\.prune: .*boolean/),
        "spec.interval: must be a duration like 30s, 5m or 1h30m (units ms, s, m, h)",
        expect.stringMatching(/^spec\.sourceRef\.kind: /),
      ]),
    );
  });

  it("rejects kinds it does not reconcile, and GitRepository URLs of other schemes", () => {
    expect(() => parseFluxObject({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } })).toThrow(
      /ConfigMap\/x is invalid: kind: must be one of GitRepository, Kustomization/,
    );
    const repo = parse(fluxExamples.gitRepository) as { spec: { url: string } };
    repo.spec.url = "git@github.com:org/repo.git";
    expect(() => parseFluxObject(repo)).toThrow(/spec\.url: must start with http:\/\/, https:\/\/ or ssh:\/\//);
  });

  it("applies Flux's defaults: ref master, timeout 60s; Kustomization timeout interval−30s, at least 30s", () => {
    const repo = parseFluxObject({
      ...(parse(fluxExamples.gitRepository) as object),
      spec: { interval: "1m", url: "https://example.com/r.git" },
    });
    expect(repo.kind).toBe("GitRepository");
    expect(gitRepositoryDefaults((repo as GitRepository).spec)).toEqual({ timeout: "60s", ref: { branch: "master" } });
    expect(
      kustomizationTimeoutMs({ interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "x" } }),
    ).toBe(570_000);
    expect(
      kustomizationTimeoutMs({ interval: "40s", prune: true, sourceRef: { kind: "GitRepository", name: "x" } }),
    ).toBe(30_000);
  });
});

describe("durations in Flux's syntax", () => {
  it.each([
    ["500ms", 500, "500ms"],
    ["30s", 30_000, "30s"],
    ["1m30s", 90_000, "1m30s"],
    ["10m", 600_000, "10m0s"],
    ["1.5h", 5_400_000, "1h30m0s"],
    ["2h0m0s", 7_200_000, "2h0m0s"],
  ])("%s is %d ms and prints as %s", (text, ms, printed) => {
    expect(parseDuration(text)).toBe(ms);
    expect(formatDuration(ms)).toBe(printed);
  });

  it.each(["", "10", "5 m", "1d", "-1m"])("rejects %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration/);
  });
});
