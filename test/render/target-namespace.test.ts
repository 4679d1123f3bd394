import { execFile } from "node:child_process";
import { readdir, readFile, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { buildKustomization } from "../../src/render/kustomize.js";
import { appObjects } from "../../bench/fleet.bench.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { podinfoSources } from "../env/podinfo.js";
import { configMap, kubectl, kustomizationSpec, refusal, tempTree, versions } from "./helpers.js";

const run = promisify(execFile);
/** A kubectl that cannot start: a render that succeeds with it ran no kustomize. */
const noKubectl = "/nonexistent/kubectl";
const tree = (files: Record<string, unknown>) => tempTree("sluice-target-ns-", files);
const spec = (targetNamespace = "team-a") => kustomizationSpec({ path: "app", targetNamespace });
const yamlDocs = (...objects: unknown[]) => objects.map((o) => stringify(o)).join("---\n");

const role = (kind: "Role" | "ClusterRole", name: string, namespace?: string) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind,
  metadata: { name, ...(namespace && { namespace }) },
  rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }],
});
const binding = (kind: "RoleBinding" | "ClusterRoleBinding", subjects: unknown[]) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind,
  metadata: { name: "reader" },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader" },
  subjects,
});

const crd = (conversion?: unknown) => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "things.example.com" },
  spec: {
    group: "example.com",
    names: { kind: "Thing", plural: "things" },
    scope: "Namespaced",
    versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object" } } }],
    ...(conversion !== undefined && { conversion }),
  },
});

/** Objects in a stable order, to compare renders whatever order kustomize prints them in (it sorts; Flux does not). */
function sorted(objects: KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => [o.apiVersion, o.kind, o.metadata.namespace ?? "", o.metadata.name].join("/");
  return [...objects].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Renders `files` (paths under `app/`) with targetNamespace as Sluice renders them, and by kustomize from a
 * kustomization.yaml listing the same files (what Flux's generator writes). `inProcess`: no kustomize ran.
 */
async function renderBoth(files: Record<string, unknown>, namespace?: string) {
  const listed = Object.keys(files)
    .filter((path) => /\.ya?ml$/.test(path))
    .map((path) => path.slice("app/".length))
    .sort();
  const plain = await tree(files);
  const kustomized = await tree({ ...files, "app/kustomization.yaml": { resources: listed } });
  const viaKustomize = await buildKustomization(kustomized, spec(namespace), { kubectl });
  const fast = await buildKustomization(plain, spec(namespace), { kubectl: noKubectl }).catch((error: Error) => error);
  const inProcess = !(fast instanceof Error && fast.message.startsWith("kustomize build failed to start"));
  const sluice = inProcess ? fast : await buildKustomization(plain, spec(namespace), { kubectl });
  if (sluice instanceof Error) throw sluice;
  return { inProcess, sluice: sorted(sluice), kustomize: sorted(viaKustomize) };
}

const inProcessCases: [string, Record<string, unknown>][] = [
  [
    "the fleet benchmark's app (ServiceAccount, Service, Deployment, Ingress)",
    { "app/app.yaml": yamlDocs(...appObjects(undefined, 7)) },
  ],
  [
    "a namespace already set, replaced; one set to the target already",
    {
      "app/a.yaml": yamlDocs({ ...configMap("a"), metadata: { name: "a", namespace: "elsewhere" } }),
      "app/b.yaml": yamlDocs({ ...configMap("b"), metadata: { namespace: "team-a", name: "b" } }),
    },
  ],
  [
    "cluster-scoped kinds left alone, a namespace of their own kept",
    {
      "app/cluster.yaml": yamlDocs(
        role("ClusterRole", "reader"),
        role("ClusterRole", "writer", "stray"),
        { apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "high" }, value: 1000 },
        { apiVersion: "storage.k8s.io/v1", kind: "StorageClass", metadata: { name: "fast" }, provisioner: "x" },
        { apiVersion: "networking.k8s.io/v1", kind: "IngressClass", metadata: { name: "nginx" } },
        {
          apiVersion: "v1",
          kind: "PersistentVolume",
          metadata: { name: "pv" },
          spec: { capacity: { storage: "1Gi" } },
        },
        { apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name: "gvisor" }, handler: "runsc" },
        crd(),
      ),
    },
  ],
  [
    "a v1 Namespace renamed to the target; another group's kind named Namespace namespaced",
    {
      "app/ns.yaml": yamlDocs(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "old", labels: { team: "a" } } },
        { apiVersion: "example.com/v1", kind: "Namespace", metadata: { name: "custom" } },
      ),
    },
  ],
  [
    "custom resources namespaced, as kustomize does for kinds it does not know",
    {
      "app/crs.yaml": yamlDocs(
        { apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", metadata: { name: "hr" }, spec: {} },
        { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "issuer" }, spec: {} },
        { apiVersion: "example.com/v1/extra", kind: "Thing", metadata: { name: "odd" } },
      ),
    },
  ],
  [
    "Role, NetworkPolicy, PodDisruptionBudget, CronJob, HorizontalPodAutoscaler v2, Secret",
    {
      "app/more.yml": yamlDocs(
        role("Role", "local"),
        { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "deny" }, spec: {} },
        {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: { name: "pdb" },
          spec: { maxUnavailable: 1 },
        },
        { apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "job" }, spec: { schedule: "* * * * *" } },
        { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", metadata: { name: "hpa" }, spec: {} },
        { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, stringData: { password: "x" } },
      ),
    },
  ],
  [
    "multi-document files with empty documents, comments only, a leading separator",
    {
      "app/docs.yaml": `---\n---\n# only a comment\n---\n${stringify(configMap("a"))}---\n\n---\n${stringify(configMap("b"))}---\n`,
      "app/empty.yaml": "",
      "app/comment.yml": "# nothing here\n",
    },
  ],
  [
    "YAML anchors, aliases and merge keys",
    {
      "app/anchors.yaml": [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: anchored",
        "  labels: &labels {app: web, tier: front}",
        "  annotations:",
        "    <<: *labels",
        "    extra: 'yes'",
        "data:",
        "  base: &base hello",
        "  copy: *base",
      ].join("\n"),
    },
  ],
  [
    "List kinds expanded",
    {
      "app/list.yaml": yamlDocs(
        { apiVersion: "v1", kind: "List", items: [configMap("l1"), configMap("l2")] },
        { apiVersion: "v1", kind: "ConfigMapList", items: [configMap("l3")] },
      ),
    },
  ],
  [
    "scalars Go's YAML reads as this parser does (yes, on, 0x, 0o, exponents, big numbers, nulls, quantities, flags)",
    {
      "app/scalars.yaml": [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: scalars, labels: {flag: 'true'}}",
        "data:",
        "  yes: yes",
        "  on: on",
        "  octal12: 0o17",
        "  hex: 0x1F",
        "  exp: 1e3",
        "  float: -1.50",
        "  half: .5",
        "  big: 12345678901234567890",
        "  bigger: 99999999999999999999",
        "  quantity: 500m",
        "  memory: 10Gi",
        "  version: 1.2.3",
        "  ports: 80:80",
        "  flag: --log_level=info",
        "  .dockerconfigjson: e30=",
        "  quoted-date: '2001-12-14'",
        "  nothing: ~",
        "  empty:",
        "  folded: >",
        "    two",
        "    lines",
        '  quoted: "a\\tb"',
      ].join("\n"),
    },
  ],
  [
    "nested folders without a kustomization file, .yml and .yaml, other files skipped",
    {
      "app/a.yaml": stringify(configMap("a")),
      "app/sub/b.yml": stringify(configMap("b")),
      "app/sub/deeper/c.yaml": stringify(configMap("c")),
      "app/.hidden.yaml": stringify(configMap("hidden")),
      "app/notes.txt": "not yaml",
      "app/data.json": JSON.stringify(configMap("json")),
    },
  ],
  ["an empty folder", { "app/README.md": "nothing to render" }],
];

/** A ConfigMap whose `data.value` is `scalar`, written as is. */
const scalarFile = (scalar: string) => ({
  "app/cm.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  value: ${scalar}\n`,
});

const kustomizeCases: [string, Record<string, unknown>][] = [
  ["a YAML 1.1 octal (0777: 511 to Go, 777 here)", scalarFile("0777")],
  ["a date (a timestamp to Go, a string here)", scalarFile("2001-12-14")],
  ["a number with separators (1_000)", scalarFile("1_000")],
  ["a binary number (0b101)", scalarFile("0b101")],
  ["a signed hex number (-0x1F)", scalarFile("-0x1F")],
  ["an explicit tag (!!str 12)", scalarFile("!!str 12")],
  [
    "a RoleBinding whose subjects name ServiceAccounts (the one named default, one of the folder, one elsewhere)",
    {
      "app/rbac.yaml": yamlDocs(
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app" } },
        binding("RoleBinding", [
          { kind: "ServiceAccount", name: "default" },
          { kind: "ServiceAccount", name: "app" },
          { kind: "ServiceAccount", name: "other", namespace: "kept" },
          { kind: "User", name: "default", apiGroup: "rbac.authorization.k8s.io" },
        ]),
      ),
    },
  ],
  [
    "a ClusterRoleBinding to a ServiceAccount of the folder",
    {
      "app/rbac.yaml": yamlDocs(
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app", namespace: "old" } },
        binding("ClusterRoleBinding", [{ kind: "ServiceAccount", name: "app", namespace: "old" }]),
      ),
    },
  ],
  [
    "a ValidatingWebhookConfiguration naming a Service of the folder",
    {
      "app/webhook.yaml": yamlDocs(
        { apiVersion: "v1", kind: "Service", metadata: { name: "hook" }, spec: { ports: [{ port: 443 }] } },
        {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingWebhookConfiguration",
          metadata: { name: "hook" },
          webhooks: [
            {
              name: "hook.example.com",
              clientConfig: { service: { name: "hook", namespace: "old", path: "/validate" } },
              admissionReviewVersions: ["v1"],
              sideEffects: "None",
            },
          ],
        },
      ),
    },
  ],
  [
    "a CustomResourceDefinition with a conversion webhook",
    {
      "app/crd.yaml": yamlDocs(
        crd({
          strategy: "Webhook",
          webhook: { clientConfig: { service: { name: "conv", namespace: "old" } }, conversionReviewVersions: ["v1"] },
        }),
      ),
    },
  ],
  [
    "another group's kind named RoleBinding (kustomize matches subjects by kind alone), a Node naming a ConfigMap",
    {
      "app/odd.yaml": yamlDocs(
        configMap("node-config"),
        { ...binding("RoleBinding", [{ kind: "ServiceAccount", name: "default" }]), apiVersion: "example.com/v1" },
        {
          apiVersion: "v1",
          kind: "Node",
          metadata: { name: "node-1" },
          spec: { configSource: { configMap: { name: "node-config", kubeletConfigKey: "kubelet" } } },
        },
      ),
    },
  ],
  [
    "an APIService",
    {
      "app/api.yaml": yamlDocs({
        apiVersion: "apiregistration.k8s.io/v1",
        kind: "APIService",
        metadata: { name: "v1.metrics.example.com" },
        spec: { group: "metrics.example.com", version: "v1", groupPriorityMinimum: 100, versionPriority: 10 },
      }),
    },
  ],
  [
    "kinds of Kubernetes groups outside kustomize's table (Gateway API, ValidatingAdmissionPolicy)",
    {
      "app/new.yaml": yamlDocs(
        { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "route" }, spec: {} },
        {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingAdmissionPolicy",
          metadata: { name: "policy" },
          spec: {},
        },
      ),
    },
  ],
  [
    "kustomize's own annotations and an empty annotations map",
    {
      "app/a.yaml": yamlDocs({
        ...configMap("a"),
        metadata: { name: "a", annotations: { "config.kubernetes.io/index": "3" } },
      }),
      "app/b.yaml": yamlDocs({ ...configMap("b"), metadata: { name: "b", annotations: {} } }),
    },
  ],
];

describe(`targetNamespace without kustomize, against kustomize ${versions.kustomize}`, () => {
  it.each(inProcessCases)("renders %s in-process, as kustomize does", async (_case, files) => {
    // Act
    const { inProcess, sluice, kustomize } = await renderBoth(files);
    // Assess
    expect(inProcess).toBe(true);
    expect(sluice).toEqual(kustomize);
  });

  it.each(kustomizeCases)("leaves %s to kustomize, with kustomize's result", async (_case, files) => {
    // Act
    const { inProcess, sluice, kustomize } = await renderBoth(files);
    // Assess
    expect(inProcess).toBe(false);
    expect(sluice).toEqual(kustomize);
  });

  it("renders podinfo's plain folders (deploy/webapp, deploy/secure and their apps, kustomize/ without its file) as kustomize does", async () => {
    // Arrange: the real repository's folders that carry no kustomization file, as Flux users point at them.
    const podinfo = await podinfoSources(cacheDir());
    const names = (await readdir(podinfo, { recursive: true })).sort();
    const folders = [
      "deploy/webapp",
      "deploy/webapp/frontend",
      "deploy/secure/common",
      "deploy/secure/backend",
      "kustomize",
    ];
    let inProcessCount = 0;
    for (const folder of folders) {
      const files: Record<string, string> = {};
      for (const name of names.filter((n) => n.startsWith(`${folder}/`) && /\.ya?ml$/.test(n))) {
        if (name.endsWith("/kustomization.yaml")) continue;
        files[`app/${name.slice(folder.length + 1)}`] = await readFile(join(podinfo, name), "utf8");
      }
      // Act
      const { inProcess, sluice, kustomize } = await renderBoth(files, "podinfo-test");
      // Assess
      expect(sluice, folder).toEqual(kustomize);
      expect(sluice.length, folder).toBeGreaterThan(0);
      if (inProcess) inProcessCount++;
    }
    // Their RoleBindings send the folders holding them to kustomize; the apps' folders need none.
    expect(inProcessCount).toBe(3);
  });

  it("leaves a plain folder without targetNamespace whose values Go reads otherwise to kustomize too (0777 is 511)", async () => {
    // Arrange
    const root = await tree(scalarFile("0777"));
    const plain = kustomizationSpec({ path: "app" });
    // Act
    const withoutKustomize = await refusal(buildKustomization(root, plain, { kubectl: noKubectl }));
    const [object] = await buildKustomization(root, plain, { kubectl });
    // Assess: the value Flux applies, kustomize's.
    expect(withoutKustomize.message).toMatch(/^kustomize build failed to start/);
    expect(object?.data).toEqual({ value: 511 });
  });

  it("leaves a number as key to kustomize, which refuses it", async () => {
    // Arrange
    const root = await tree({
      "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {80: http}\n",
    });
    // Act
    const withoutKustomize = await refusal(buildKustomization(root, spec(), { kubectl: noKubectl }));
    const viaKustomize = await refusal(buildKustomization(root, spec(), { kubectl }));
    // Assess
    expect(withoutKustomize.message).toMatch(/^kustomize build failed to start/);
    expect(viaKustomize.message).toMatch(/^kustomize build failed: .*map\[interface \{\}\]interface \{\}\{80:"http"\}/);
  });

  it("fails as kustomize fails when two objects would share an identity once namespaced", async () => {
    // Arrange
    const files = {
      "app/a.yaml": yamlDocs({ ...configMap("same"), metadata: { name: "same", namespace: "x" } }),
      "app/b.yaml": yamlDocs({ ...configMap("same"), metadata: { name: "same", namespace: "y" } }),
    };
    // Act
    const error = await refusal(buildKustomization(await tree(files), spec(), { kubectl }));
    // Assess
    expect(error.message).toMatch(/ID conflict|already registered id/);
  });
});

describe("targetNamespace without kustomize keeps the kustomize path's checks", () => {
  it("refuses a symlink to outside the source in the folder, as the kustomize path does", async () => {
    // Arrange
    const root = await tree({ "app/a.yaml": stringify(configMap("a")) });
    await symlink("/etc/passwd", join(root, "app/passwd.yaml"));
    // Act
    const error = await refusal(buildKustomization(root, spec(), { kubectl: noKubectl }));
    // Assess
    expect(error.message).toBe("app/passwd.yaml is a symlink to outside the source");
  });

  it("skips a symlink inside the source as the generated kustomization does (never read through it)", async () => {
    // Arrange
    const root = await tree({ "app/a.yaml": stringify(configMap("a")), "other/b.yaml": stringify(configMap("b")) });
    await symlink("../other/b.yaml", join(root, "app/b.yaml"));
    // Act
    const objects = await buildKustomization(root, spec(), { kubectl: noKubectl });
    // Assess
    expect(objects.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(["team-a/a"]);
  });

  it("refuses a FIFO in the folder before reading anything (a read would block)", async () => {
    // Arrange
    const root = await tree({ "app/a.yaml": stringify(configMap("a")) });
    await run("mkfifo", [join(root, "app/pipe.yaml")]);
    // Act
    const error = await refusal(buildKustomization(root, spec(), { kubectl: noKubectl }));
    // Assess
    expect(error.message).toBe("app/pipe.yaml is not a regular file, folder or symlink");
  });

  it("refuses a file over maxFileBytes, also one that is not YAML, by its size", async () => {
    // Arrange: sparse, 200 MB by size only.
    const root = await tree({ "app/a.yaml": stringify(configMap("a")) });
    await writeFile(join(root, "app/blob.bin"), "");
    await truncate(join(root, "app/blob.bin"), 200 << 20);
    // Act
    const error = await refusal(buildKustomization(root, spec(), { kubectl: noKubectl }));
    // Assess
    expect(error.message).toBe(
      "app/blob.bin is 209715200 bytes, over the 33554432-byte limit (renderLimits.maxFileBytes)",
    );
  });

  it("refuses duplicate keys, as kustomize does, without starting it", async () => {
    // Arrange
    const files = {
      "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  x: '1'\n  x: '2'\n",
    };
    const kustomized = await tree({ ...files, "app/kustomization.yaml": { resources: ["cm.yaml"] } });
    // Act
    const inProcess = await refusal(buildKustomization(await tree(files), spec(), { kubectl: noKubectl }));
    const viaKustomize = await refusal(buildKustomization(kustomized, spec(), { kubectl }));
    // Assess
    expect(inProcess.message).toMatch(/^app\/cm\.yaml: invalid YAML at line 6, column 3: .*\(DUPLICATE_KEY\)$/);
    expect(viaKustomize.message).toMatch(/mapping key "x" already defined/);
  });

  it("refuses a spec.path that leaves the source", async () => {
    // Arrange
    const root = await tree({ "app/a.yaml": stringify(configMap("a")) });
    // Act
    const escape = await refusal(
      buildKustomization(root, kustomizationSpec({ path: "../..", targetNamespace: "x" }), { kubectl: noKubectl }),
    );
    // Assess
    expect(escape.message).toBe("spec.path: '../..' points outside the source");
  });
});
