import { execFile } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { ageKey, sopsEncrypt } from "../env/sops.js";
import { FLUX_VERSION, flux } from "./flux.js";

const run = promisify(execFile);
const sluice = (args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  run(process.execPath, [join(process.cwd(), "bin/sluice.js"), ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
  });

/** A folder of files (`path → text`, objects written as YAML documents), returned as its path. */
async function folder(files: Record<string, string | unknown[]>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "sluice-build-vs-flux-"));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(
      join(root, path),
      typeof content === "string" ? content : content.map((o) => stringify(o)).join("---\n"),
    );
  }
  return root;
}

/** The objects a build printed, by id (the two CLIs order them differently; the apply order is the applier's), or that it refused. */
async function outcome(cli: () => Promise<{ stdout: string }>): Promise<unknown> {
  try {
    const objects = parseAllDocuments((await cli()).stdout)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null);
    return Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`, o]));
  } catch (error) {
    return { refused: (error as { code?: number }).code !== 0 };
  }
}

const kustomization = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "flux-system" },
  spec: { interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" }, path: "./", ...spec },
});
const configMap = (name: string, data: Record<string, string>, namespace?: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, ...(namespace && { namespace }) },
  data,
});

interface Case {
  name: string;
  /** The source folder, the folder built in it, and the Kustomization file's objects. */
  files: () => Promise<Record<string, string | unknown[]>>;
  build: string;
  args?: string[];
}

const CASES: Case[] = [
  {
    name: "the example fleet's apps: a base, a patch, a generator, substitute",
    files: async () => ({}),
    build: "examples/fleet/apps/dev",
    args: ["--kustomization-file", "examples/fleet/clusters/dev/apps.yaml"],
  },
  {
    name: "a folder without kustomization.yaml, with Flux's overlay (namespace, prefix, common metadata, images, patches)",
    files: async () => ({
      "app/objects.yaml": [
        configMap("settings", { level: "info" }),
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web" },
          spec: {
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web" } },
              spec: { containers: [{ name: "web", image: "nginx:1.0" }] },
            },
          },
        },
      ],
      "ks.yaml": [
        kustomization("app", {
          targetNamespace: "prod",
          namePrefix: "p-",
          commonMetadata: { labels: { team: "a" }, annotations: { owner: "ops" } },
          images: [{ name: "nginx", newTag: "1.27" }],
          patches: [
            { target: { kind: "ConfigMap" }, patch: '[{"op":"replace","path":"/data/level","value":"debug"}]' },
          ],
        }),
      ],
    }),
    build: "app",
  },
  {
    name: "post-build substitution with defaults, strict",
    files: async () => ({
      "app/cm.yaml": [configMap("vars", { region: "${region}", tier: "${tier:=gold}", home: "$${HOME}" })],
      "ks.yaml": [kustomization("app", { postBuild: { substitute: { region: "eu-1" } } })],
    }),
    build: "app",
    args: ["--strict-substitute"],
  },
  {
    name: "an undefined variable fails a strict build",
    files: async () => ({
      "app/cm.yaml": [configMap("vars", { region: "${region}", zone: "${zone}" })],
      "ks.yaml": [kustomization("app", { postBuild: { substitute: { region: "eu-1" } } })],
    }),
    build: "app",
    args: ["--strict-substitute"],
  },
  {
    name: "an undefined variable is left empty when not strict",
    files: async () => ({
      "app/cm.yaml": [configMap("vars", { region: "${region}", zone: "${zone}" })],
      "ks.yaml": [kustomization("app", { postBuild: { substitute: { region: "eu-1" } } })],
    }),
    build: "app",
    args: ["--strict-substitute=false"],
  },
  {
    name: "substituteFrom skipped by --dry-run",
    files: async () => ({
      "app/cm.yaml": [configMap("vars", { region: "${region:=none}" })],
      "ks.yaml": [
        kustomization("app", {
          postBuild: { substitute: { x: "y" }, substituteFrom: [{ kind: "ConfigMap", name: "cluster-vars" }] },
        }),
      ],
    }),
    build: "app",
  },
  {
    name: ".sourceignore and --ignore-paths leave files out",
    files: async () => ({
      "app/keep.yaml": [configMap("keep", { a: "1" })],
      "app/draft.yaml": [configMap("draft", { a: "2" })],
      "app/local/scratch.yaml": [configMap("scratch", { a: "3" })],
      "app/.sourceignore": "draft.yaml\n",
      "ks.yaml": [kustomization("app", {})],
    }),
    build: "app",
    args: ["--ignore-paths", "local/"],
  },
  {
    name: "a SOPS-encrypted Secret is masked",
    files: async () => {
      const { recipient } = await ageKey();
      const secret = await sopsEncrypt(
        { apiVersion: "v1", kind: "Secret", metadata: { name: "db" }, stringData: { password: "hunter2" } },
        ["--age", recipient, "--encrypted-regex", "^(data|stringData)$"],
      );
      return { "app/secret.yaml": [secret], "ks.yaml": [kustomization("app", {})] };
    },
    build: "app",
  },
  {
    name: "--recursive builds the child Kustomizations from --local-sources",
    files: async () => ({
      "clusters/dev/apps.yaml": [kustomization("apps", { path: "./apps" }), configMap("root", { a: "1" }, "default")],
      "apps/cm.yaml": [configMap("app", { b: "2" }, "default")],
      "ks.yaml": [kustomization("root", { path: "./clusters/dev" })],
    }),
    build: "clusters/dev",
    args: ["--recursive", "--local-sources", "GitRepository/flux-system/fleet=SOURCE"],
  },
];

describe(`sluice build kustomization against flux ${FLUX_VERSION} build kustomization --dry-run (parsed)`, () => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s: the same objects, or both refuse", async (_, c) => {
    // Arrange
    const files = await c.files();
    const source = Object.keys(files).length > 0 ? await folder(files) : process.cwd();
    const name = files["ks.yaml"] ? ((files["ks.yaml"] as KubeObject[])[0]!.metadata.name as string) : "apps";
    const args = [
      ...["build", "kustomization", name, "--path", join(source, c.build), "--dry-run"],
      ...(files["ks.yaml"] ? ["--kustomization-file", join(source, "ks.yaml")] : []),
      ...(c.args ?? []).map((a) => a.replace("SOURCE", source)),
    ];
    // Act
    const [ours, theirs] = await Promise.all([outcome(() => sluice(args)), outcome(() => flux(args))]);
    // Assess
    expect(ours).toEqual(theirs);
    expect(Object.keys(ours as object).length).toBeGreaterThan(0);
  });
});

describe("sluice build kustomization renders as the controller does", () => {
  it("needs no cluster when there is no substituteFrom, and reads substituteFrom only without --dry-run", async () => {
    // Arrange
    const source = await folder({
      "app/cm.yaml": [configMap("vars", { region: "${region}" })],
      "ks.yaml": [kustomization("app", { postBuild: { substitute: { region: "eu-1" } } })],
      "from.yaml": [
        kustomization("app", { postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "cluster-vars" }] } }),
      ],
    });
    const build = (file: string) =>
      sluice(["build", "ks", "app", "--path", join(source, "app"), "--kustomization-file", join(source, file)], {
        env: { KUBECONFIG: "/nonexistent/kubeconfig" },
      });
    // Act
    const built = await build("ks.yaml");
    const needsCluster = await build("from.yaml").catch((e: { code: number; stderr: string }) => e);
    // Assess
    expect(built.stdout).toContain("region: eu-1");
    expect(needsCluster).toMatchObject({ code: 1, stderr: expect.stringContaining("/nonexistent/kubeconfig") });
  });

  it("is strict by default, as the controller substitutes; --strict-substitute=false relaxes it", async () => {
    // Arrange
    const source = await folder({
      "app/cm.yaml": [configMap("vars", { zone: "${zone}" })],
      "ks.yaml": [kustomization("app", { postBuild: { substitute: { region: "eu-1" } } })],
    });
    const args = ["build", "ks", "app", "--path", join(source, "app"), "--kustomization-file", join(source, "ks.yaml")];
    // Act
    const strict = await sluice(args).catch((e: { code: number; stderr: string }) => e);
    const relaxed = await sluice([...args, "--strict-substitute=false"]);
    // Assess
    expect(strict).toMatchObject({ code: 1, stderr: expect.stringContaining("zone") });
    expect(relaxed.stdout).toContain("zone: ");
  });

  it("--no-remote-bases refuses a remote base, as sluice run --no-remote-bases does", async () => {
    // Arrange
    const source = await folder({
      "app/kustomization.yaml":
        "resources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n",
      "ks.yaml": [kustomization("app", {})],
    });
    // Act
    const refused = await sluice([
      ...["build", "ks", "app", "--path", join(source, "app"), "--kustomization-file", join(source, "ks.yaml")],
      "--no-remote-bases",
    ]).catch((e: { code: number; stderr: string }) => e);
    // Assess
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining("remote") });
  });
});
