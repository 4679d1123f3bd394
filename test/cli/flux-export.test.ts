import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { FLUX_VERSION, flux } from "./flux.js";

const run = promisify(execFile);
const sluice = (args: string[]) => run(process.execPath, ["bin/sluice.js", ...args]);

/** Each CLI's outcome: the parsed documents it printed, or that it refused (exit code, no output). */
async function outcome(cli: (args: string[]) => Promise<{ stdout: string }>, args: string[]): Promise<unknown> {
  try {
    return parseAllDocuments((await cli(args)).stdout).map((d) => d.toJS() as unknown);
  } catch (error) {
    return { refused: (error as { code?: number }).code !== 0 };
  }
}

let caFile: string;
let valuesFiles: string[];
let listFile: string;
/** `--values` twice, the second file merged over the first, with what YAML 1.1 and go-yaml's quoting make of it. */
const valuesFlags = () => valuesFiles.flatMap((file) => ["--values", file]);
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-export-"));
  caFile = join(dir, "ca.crt");
  await writeFile(caFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  valuesFiles = [join(dir, "base.yaml"), join(dir, "prod.yaml")];
  await writeFile(
    valuesFiles[0]!,
    "replicaCount: 1\nimage: {repository: ghcr.io/stefanprodan/podinfo, tag: 6.5.0}\nenabled: yes\nports: [80, 443]\n",
  );
  await writeFile(
    valuesFiles[1]!,
    [
      "replicaCount: 3",
      "image: {tag: '6.6.0'}",
      "a10: x",
      "a9: y",
      "version: 1.10",
      "octal: 0755",
      "date: 2024-01-01",
      "empty: ''",
      "text: |\n  two\n  lines\n",
      "long: The quick brown fox jumps over the lazy dog and keeps running until it is far away from here",
    ].join("\n"),
  );
  listFile = join(dir, "list.yaml");
  await writeFile(listFile, "- a\n- b\n");
});

/**
 * `create … --export` cases, the same arguments to both CLIs. `differs` names where Sluice's object
 * is meant to differ from flux's, as a patch applied to flux's objects before comparing.
 */
const CASES: { name: string; args: () => string[]; differs?: (fluxObjects: Record<string, unknown>[]) => void }[] = [
  {
    name: "image repository as flux's guide writes it",
    args: () => [
      "create",
      "image",
      "repository",
      "podinfo",
      "--image",
      "ghcr.io/stefanprodan/podinfo",
      "--interval",
      "5m",
    ],
  },
  {
    name: "image repository with every flag",
    args: () => [
      ...["-n", "apps", "create", "image", "repository", "app", "--image", "registry.example:5000/org/app"],
      ...["--secret-ref", "regcred", "--cert-ref", "tls", "--scan-timeout", "90s", "--label", "team=a"],
    ],
  },
  {
    name: "image repository with a tag is refused",
    args: () => ["create", "image", "repository", "app", "--image", "ghcr.io/org/app:1.0.0"],
  },
  {
    name: "image policy by semver range",
    args: () => ["create", "image", "policy", "podinfo", "--image-ref", "podinfo", "--select-semver", ">=1.0.0 <2.0.0"],
  },
  {
    name: "image policy by number, with a filter extracting a named group, digests always reflected",
    args: () => [
      ...["create", "image", "policy", "app", "--image-ref", "app", "--select-numeric", "asc"],
      ...["--filter-regex", "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "--filter-extract", "$ts"],
      ...["--reflect-digest", "Always", "--interval", "10m"],
    ],
  },
  {
    name: "image policy alphabetical desc, a filter without extract",
    args: () => [
      ...["create", "image", "policy", "app", "--image-ref", "app", "--select-alpha", "desc", "--filter-regex", "^v"],
    ],
  },
  {
    name: "image policy with semver and alpha: flux's switch sets no policy",
    args: () => [
      "create",
      "image",
      "policy",
      "app",
      "--image-ref",
      "app",
      "--select-semver",
      "1.x",
      "--select-alpha",
      "asc",
    ],
  },
  ...[
    ["--select-alpha", "up"],
    ["--select-alpha", "asc", "--select-numeric", "asc"],
    ["--select-semver", "1.x", "--filter-extract", "$1"],
    ["--select-semver", "1.x", "--filter-regex", "(?P<v>.*)", "--filter-extract", "$nope"],
    ["--select-semver", "1.x", "--filter-regex", "(unclosed"],
    ["--select-semver", "1.x", "--reflect-digest", "Sometimes"],
    ["--select-semver", "1.x", "--interval", "5m"],
    [],
  ].map((flags) => ({
    name: `image policy ${flags.join(" ") || "without a policy"} is refused`,
    args: () => ["create", "image", "policy", "app", "--image-ref", "app", ...flags],
  })),
  {
    name: "image update as flux's guide writes it",
    args: () => [
      ...["create", "image", "update", "flux-system", "--git-repo-ref", "flux-system"],
      ...["--git-repo-path", "./clusters/my-cluster", "--checkout-branch", "main", "--author-name", "flux"],
      ...["--author-email", "flux@example.com", "--commit-template", "{{range .Updated.Images}}{{println .}}{{end}}"],
    ],
  },
  {
    name: "image update to another branch, a source in another namespace",
    args: () => [
      ...["-n", "apps", "create", "image", "update", "apps", "--git-repo-ref", "flux-system"],
      ...["--git-repo-namespace", "flux-system", "--checkout-branch", "main", "--push-branch", "image-updates"],
      ...["--author-name", "flux", "--author-email", "flux@example.com", "--interval", "5m", "--label", "a=b"],
    ],
  },
  ...[
    ["--signing-key-secret", "signing"],
    ["--signing-key-secret", "signing", "--signing-key-type", "ssh"],
    ["--signing-key-type", "gpg"],
    ["--signing-key-secret", "signing", "--signing-key-type", "x509"],
  ].map((flags) => ({
    name: `image update ${flags.join(" ")}`,
    args: () => [
      ...["create", "image", "update", "signed", "--git-repo-ref", "fleet", "--checkout-branch", "main"],
      ...["--author-name", "flux", "--author-email", "flux@example.com", ...flags],
    ],
  })),
  {
    name: "image update without a checkout branch is refused",
    args: () => [
      "create",
      "image",
      "update",
      "auto",
      "--git-repo-ref",
      "fleet",
      "--author-name",
      "a",
      "--author-email",
      "a@b",
    ],
  },
  {
    name: "source git on a branch",
    args: () => ["create", "source", "git", "app", "--url", "https://git.example/org/app", "--branch", "main"],
  },
  {
    name: "source git with every spec flag",
    args: () => [
      ...["-n", "apps", "create", "source", "git", "app", "--url", "https://git.example/org/app"],
      ...["--branch", "main", "--commit", "4f2a9c1", "--ignore-paths", "a/,b.yaml", "--ignore-paths", "c"],
      ...["--sparse-checkout-paths", "x,y", "--recurse-submodules", "--provider", "github", "--fetch-timeout", "90s"],
      ...["--proxy-secret-ref", "proxy", "--secret-ref", "creds", "--interval", "5m", "--label", "team=a,tier=y"],
    ],
  },
  {
    name: "source git by ref name (before semver and tag)",
    args: () => [
      ...["create", "source", "git", "app", "--url", "https://git.example/org/app"],
      ...["--ref-name", "refs/heads/main", "--tag-semver", ">=1.0", "--tag", "v1"],
    ],
  },
  {
    name: "source git by semver, pflag booleans",
    args: () => [
      ...["create", "source", "git", "app", "--url", "https://git.example/org/app", "--tag-semver", "1.x"],
      ...["--recurse-submodules=false", "--export=true"],
    ],
  },
  {
    name: "source git with credentials: exported without them",
    args: () => [
      ...["create", "source", "git", "app", "--url", "https://git.example/org/app", "--tag", "v1"],
      ...["-u", "git", "-p", "token", "--ca-file", caFile, "-s"],
    ],
  },
  {
    name: "source git without a ref is refused",
    args: () => ["create", "source", "git", "app", "--url", "https://git.example/org/app"],
  },
  {
    name: "source git with an unsupported URL scheme is refused",
    args: () => ["create", "source", "git", "app", "--url", "ftp://git.example/org/app", "--branch", "main"],
  },
  {
    name: "kustomization with a path made relative",
    args: () => ["create", "kustomization", "app", "--source", "fleet", "--path", "clusters/dev"],
  },
  {
    name: "kustomization with every flag, --wait dropping --health-check",
    args: () => [
      ...["create", "ks", "app", "--source", "gitrepository/fleet.infra", "--path", "../../a/./b/", "--wait"],
      ...["--health-check", "Deployment/web.apps", "--depends-on", "base,infra/crds", "--label", "a=b,c=d"],
      ...["--decryption-provider", "sops", "--decryption-secret", "sops-age", "--kubeconfig-secret-ref", "remote"],
      ...["--validation", "client", "--prune=true", "--interval", "10m", "--health-check-timeout", "3m"],
    ],
    // flux prints --validation's deprecation on stdout, into the YAML; Sluice on stderr.
    differs: (objects) => void objects.shift(),
  },
  {
    name: "kustomization with health checks and flux's default timeout",
    args: () => [
      ...["-n", "apps", "create", "kustomization", "app", "--source", "OCIRepository/artifacts", "--path", ""],
      ...["--health-check", "Deployment/web.apps,StatefulSet/db.apps", "--retry-interval", "30s"],
      ...["--target-namespace", "prod", "--service-account", "deployer", "--prune"],
    ],
    // Sluice writes the workload kinds' apiVersion: it does not look up a preferred version (README, CLI).
    differs: ([ks]) => {
      const checks = (ks as { spec: { healthChecks: { apiVersion?: string }[] } }).spec.healthChecks;
      for (const check of checks) check.apiVersion = "apps/v1";
    },
  },
  {
    name: "kustomization naming a source kind without a name is refused",
    args: () => ["create", "kustomization", "app", "--source", "Bucket"],
  },
  {
    name: "kustomization with an unknown source kind is refused",
    args: () => ["create", "kustomization", "app", "--source", "HelmChart/x"],
  },
  {
    name: "receiver with events and resources",
    args: () => [
      ...["create", "receiver", "hook", "--type", "github", "--event", "ping,push", "--secret-ref", "token"],
      ...["--resource", "GitRepository/webapp", "--resource", "Kustomization/apps", "--label", "x=y"],
    ],
  },
  {
    name: "receiver without events",
    args: () => [
      "create",
      "receiver",
      "hook",
      "--type",
      "generic",
      "--secret-ref",
      "t",
      "--resource",
      "GitRepository/a",
    ],
  },
  {
    name: "receiver without resources is refused",
    args: () => ["create", "receiver", "hook", "--type", "github", "--secret-ref", "token"],
  },
  {
    name: "source helm over https with every spec flag",
    args: () => [
      ...["-n", "apps", "create", "source", "helm", "podinfo", "--url", "https://stefanprodan.github.io/podinfo"],
      ...["--secret-ref", "creds", "--pass-credentials", "--fetch-timeout", "2m", "--interval", "10m"],
      ...["--label", "team=a"],
    ],
  },
  {
    name: "source helm from an OCI registry, its provider kept",
    args: () => [
      ...["create", "source", "helm", "podinfo", "--url", "oci://ghcr.io/stefanprodan/charts"],
      ...["--oci-provider", "generic", "--pass-credentials"],
    ],
  },
  {
    name: "source helm with basic auth: exported without a secretRef",
    args: () => [
      ...["create", "source", "helm", "podinfo", "--url", "https://charts.example/"],
      ...["-u", "user", "-p", "secret", "--pass-credentials", "--oci-provider", "aws"],
    ],
  },
  {
    name: "source helm without a URL is refused",
    args: () => ["create", "source", "helm", "podinfo"],
  },
  {
    name: "source helm with an unsupported URL scheme is refused",
    args: () => ["create", "source", "helm", "podinfo", "--url", "ftp://charts.example/"],
  },
  {
    name: "source helm without a host is refused",
    args: () => ["create", "source", "helm", "podinfo", "--url", "oci:///charts"],
  },
  {
    name: "source oci by tag",
    args: () => [
      "create",
      "source",
      "oci",
      "podinfo",
      "--url",
      "oci://ghcr.io/org/manifests/podinfo",
      "--tag",
      "6.6.2",
    ],
  },
  {
    name: "source oci with every flag (those Sluice refuses to reconcile exported all the same)",
    args: () => [
      ...["-n", "apps", "create", "source", "oci", "app", "--url", "oci://registry.example/org/app"],
      ...["--tag", "v1", "--tag-semver", ">=1.0", "--digest", `sha256:${"a".repeat(64)}`, "--secret-ref", "regcred"],
      ...[
        "--cert-ref",
        "tls",
        "--insecure",
        "--layer-selector",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip:copy",
      ],
      ...["--ignore-paths", "a/,b.yaml", "--fetch-timeout", "90s", "--interval", "5m", "--label", "team=a"],
      ...["--provider", "aws", "--proxy-secret-ref", "proxy", "--service-account", "puller"],
      ...[
        "--verify-provider",
        "cosign",
        "--verify-secret-ref",
        "keys",
        "--verify-subject",
        "^s$",
        "--verify-issuer",
        "^i$",
      ],
    ],
  },
  {
    name: "source oci without a tag, semver or digest is refused",
    args: () => ["create", "source", "oci", "app", "--url", "oci://registry.example/org/app"],
  },
  {
    name: "source bucket with static keys: exported without a secretRef, as flux writes the Secret only when applying",
    args: () => [
      ...["create", "source", "bucket", "podinfo", "--bucket-name", "podinfo", "--endpoint", "minio.minio:9000"],
      ...["--insecure", "--access-key", "AKIA", "--secret-key", "secret", "--interval", "10m"],
    ],
  },
  {
    name: "source bucket with every spec flag (those Sluice refuses to reconcile exported all the same)",
    args: () => [
      ...["-n", "apps", "create", "source", "bucket", "app", "--bucket-name", "manifests"],
      ...["--endpoint", "s3.amazonaws.com", "--provider", "aws", "--region", "eu-west-1", "--secret-ref", "keys"],
      ...["--proxy-secret-ref", "proxy", "--ignore-paths", "*.md,docs/", "--fetch-timeout", "90s", "--label", "team=a"],
    ],
  },
  {
    name: "source bucket without a bucket name is refused",
    args: () => ["create", "source", "bucket", "app", "--endpoint", "s3.amazonaws.com"],
  },
  {
    name: "source bucket without an endpoint is refused",
    args: () => ["create", "source", "bucket", "app", "--bucket-name", "manifests"],
  },
  {
    name: "source bucket of an unknown provider is refused",
    args: () => ["create", "source", "bucket", "app", "--bucket-name", "b", "--endpoint", "e", "--provider", "minio"],
  },
  {
    name: "source oci with a layer selector of an unknown operation is refused",
    args: () => [
      "create",
      "source",
      "oci",
      "app",
      "--url",
      "oci://r.example/a",
      "--tag",
      "1",
      "--layer-selector",
      "x:move",
    ],
  },
  {
    name: "source oci with a verification secret but no provider is refused",
    args: () => [
      "create",
      "source",
      "oci",
      "app",
      "--url",
      "oci://r.example/a",
      "--tag",
      "1",
      "--verify-secret-ref",
      "k",
    ],
  },
  {
    name: "alert-provider with every flag",
    args: () => [
      ...["-n", "apps", "create", "alert-provider", "slack", "--type", "slack", "--channel", "general"],
      ...["--username", "flux", "--address", "https://slack.com/api/chat.postMessage", "--secret-ref", "token"],
      ...["--label", "a=b"],
    ],
  },
  {
    name: "alert-provider of a type only flux delivers: the same object",
    args: () => ["create", "alert-provider", "gh", "--type", "azureeventhub", "--address", "https://hub.example/1"],
  },
  {
    name: "alert-provider without a type is refused",
    args: () => ["create", "alert-provider", "slack", "--channel", "general"],
  },
  {
    name: "alert with event sources in other namespaces",
    args: () => [
      ...["create", "alert", "on-call", "--provider-ref", "slack", "--event-severity", "error"],
      ...[
        "--event-source",
        "Kustomization/*,GitRepository/flux-system.flux-system",
        "--event-source",
        "HelmChart/a.b.c",
      ],
      ...["--label", "x=y"],
    ],
  },
  {
    name: "alert without a provider is refused",
    args: () => ["create", "alert", "on-call", "--event-source", "Kustomization/*"],
  },
  {
    name: "alert without event sources is refused",
    args: () => ["create", "alert", "on-call", "--provider-ref", "slack"],
  },
  {
    name: "alert with an event source without a kind is refused",
    args: () => ["create", "alert", "on-call", "--provider-ref", "slack", "--event-source", "apps"],
  },
  {
    name: "helmrelease from a HelmRepository in another namespace, with every chart flag",
    args: () => [
      ...["-n", "apps", "create", "hr", "podinfo", "--source", "helmrepository/podinfo.flux-system"],
      ...[
        "--chart",
        "podinfo",
        "--chart-version",
        ">4.0.0",
        "--chart-interval",
        "5m",
        "--reconcile-strategy",
        "Revision",
      ],
      ...[
        "--release-name",
        "web",
        "--target-namespace",
        "prod",
        "--create-target-namespace",
        "--crds",
        "CreateReplace",
      ],
      ...[
        "--depends-on",
        "base,infra/crds@ready",
        "--service-account",
        "deployer",
        "--kubeconfig-secret-ref",
        "remote",
      ],
      ...["--values-from", "secret/creds,ConfigMap/defaults", "--interval", "10m", "--label", "team=a"],
    ],
  },
  {
    name: "helmrelease with a chartRef and its own storage namespace",
    args: () => [
      ...["create", "helmrelease", "podinfo", "--chart-ref", "HelmChart/podinfo.flux-system"],
      ...["--target-namespace", "prod", "--storage-namespace", "helm"],
    ],
  },
  {
    name: "helmrelease with values files merged in order",
    args: () => [
      "create",
      "hr",
      "podinfo",
      "--source",
      "HelmRepository/podinfo",
      "--chart",
      "podinfo",
      ...valuesFlags(),
    ],
  },
  {
    name: "helmrelease with an OCIRepository chartRef: the same object (refused only when registered)",
    args: () => ["create", "hr", "podinfo", "--chart-ref", "OCIRepository/podinfo"],
  },
  {
    name: "helmrelease with a name of one character is refused (flux's validateObjectName)",
    args: () => ["create", "hr", "p", "--chart-ref", "HelmChart/podinfo"],
  },
  {
    name: "helmrelease without a chart or chartRef is refused",
    args: () => ["create", "hr", "podinfo", "--source", "HelmRepository/podinfo"],
  },
  {
    name: "helmrelease with both a chart and a chartRef is refused",
    args: () => ["create", "hr", "podinfo", "--chart", "podinfo", "--chart-ref", "HelmChart/podinfo"],
  },
  {
    name: "helmrelease with a chartRef of another kind is refused",
    args: () => ["create", "hr", "podinfo", "--chart-ref", "HelmRepository/podinfo"],
  },
  {
    name: "helmrelease with a source of an unknown kind is refused",
    args: () => ["create", "hr", "podinfo", "--source", "OCIRepository/podinfo", "--chart", "podinfo"],
  },
  {
    name: "helmrelease with an unknown CRDs policy is refused",
    args: () => ["create", "hr", "podinfo", "--chart-ref", "HelmChart/podinfo", "--crds", "Replace"],
  },
  {
    name: "helmrelease with an unknown reconcile strategy is refused",
    args: () => ["create", "hr", "podinfo", "--chart-ref", "HelmChart/podinfo", "--reconcile-strategy", "Always"],
  },
  {
    name: "helmrelease with values from an unknown kind is refused",
    args: () => ["create", "hr", "podinfo", "--chart-ref", "HelmChart/podinfo", "--values-from", "Pod/x"],
  },
  {
    name: "helmrelease with a values file that is not a map is refused",
    args: () => ["create", "hr", "podinfo", "--chart-ref", "HelmChart/podinfo", "--values", listFile],
  },
  {
    name: "tenant in two namespaces",
    args: () => ["create", "tenant", "dev", "--with-namespace", "a,b", "--cluster-role", "edit"],
  },
  {
    name: "tenant with labels, namespaces left out",
    args: () => [
      ...["create", "tenant", "dev", "--with-namespace", "a", "--skip-namespace", "--label", "x=y"],
      ...["--with-service-account", "deployer"],
    ],
  },
];

describe(`sluice create … --export against flux ${FLUX_VERSION} create … --export (parsed)`, () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s: the same objects, or both refuse", async (_, c) => {
    // Act
    const args = [...c.args(), "--export"];
    const [ours, theirs] = await Promise.all([outcome(sluice, args), outcome(flux, args)]);
    // Assess
    if (c.differs && Array.isArray(theirs)) c.differs(theirs as Record<string, unknown>[]);
    expect(ours).toEqual(theirs);
  });

  it("prints a HelmRelease with values byte for byte as flux does (go-yaml's key order, quoting and folding)", async () => {
    // Act
    const args = ["create", "hr", "podinfo", "--chart-ref", "HelmChart/podinfo", ...valuesFlags(), "--export"];
    const [ours, theirs] = await Promise.all([sluice(args), flux(args)]);
    // Assess
    expect(ours.stdout).toContain("    a9: true\n    a10: x\n"); // YAML 1.1 reads y as true, as flux does
    expect(ours.stdout).toBe(theirs.stdout);
  });

  it("prints ImageRepositories and ImagePolicies byte for byte as flux does (quoting of ranges and patterns)", async () => {
    const cases = [
      ["create", "image", "repository", "app", "--image", "ghcr.io/org/app", "--scan-timeout", "1m", "--label", "a=b"],
      ["create", "image", "policy", "app", "--image-ref", "app", "--select-semver", ">=1.0.0-0 <2.0.0"],
      ["create", "image", "policy", "app", "--image-ref", "app", "--select-numeric", "desc"].concat([
        "--filter-regex",
        "^main-(?P<ts>[0-9]+)$",
        "--filter-extract",
        "${ts}",
      ]),
    ];
    for (const args of cases) {
      const [ours, theirs] = await Promise.all([sluice([...args, "--export"]), flux([...args, "--export"])]);
      expect(ours.stdout).toBe(theirs.stdout);
    }
  });

  it("prints random YAML 1.1 values files byte for byte as flux does", async () => {
    // Arrange: documents mixing what go-yaml resolves, quotes, folds or sorts its own way
    const dir = await mkdtemp(join(tmpdir(), "sluice-export-values-"));
    let seed = 7;
    const pick = <T>(items: readonly T[]) =>
      items[Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * items.length)]!;
    const scalars = ["yes", "No", "on", "~", "0x1F", "0o17", "0777", "08", "1_000", ".5", "-1e3", "2024-01-01"];
    scalars.push("1:20", "'q'", "a b", "9007199254740993", "[a, b]", "{a: 1}", "'a #b'", "'- x'", '"tab\\tx"');
    scalars.push("'é日本'", '"\\U0001F600"', "'  lead'", `${"word ".repeat(20)}end`, "|\n    lit\n    more\n");
    const keys = ["a", "a10", "a9", "x01", "x1", "B", "_k", "1", "1.5", "y", "'q k'", "Ä"];
    const doc = (depth: number): string =>
      Array.from({ length: 4 }, () =>
        depth < 2 && pick([0, 1, 2]) === 0
          ? `${pick(keys)}:\n${doc(depth + 1).replace(/^/gm, "  ")}`
          : `${pick(keys)}: ${pick(scalars)}`,
      ).join("\n");
    // Act and assess
    for (let i = 0; i < 8; i++) {
      const files = [`${i}-a.yaml`, `${i}-b.yaml`].map((f) => join(dir, f));
      for (const file of files) await writeFile(file, doc(0));
      const args = ["create", "hr", "podinfo", "--chart-ref", "HelmChart/p", "--values", files.join(","), "--export"];
      const [ours, theirs] = await Promise.all([sluice(args), flux(args)]);
      expect(ours.stdout, files.join(" ")).toBe(theirs.stdout);
    }
  });

  it("prints lists as flux does, at their key's indentation", async () => {
    // Act
    const args = ["create", "ks", "app", "--source", "fleet", "--depends-on", "a,b", "--export"];
    const [ours, theirs] = await Promise.all([sluice(args), flux(args)]);
    // Assess
    expect(ours.stdout).toContain("  dependsOn:\n  - name: a\n  - name: b\n");
    expect(ours.stdout).toBe(theirs.stdout);
  });
});
