import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore, writeStatus } from "../../src/store/objects.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";
import { flux } from "./flux.js";

// `sluice create|get|reconcile|suspend|resume|debug helmrelease` on a state folder of their own and the
// test bed's kube-apiserver (the ConfigMaps and Secrets --show-values reads); the export shapes are
// compared with flux's in flux-export.test.ts.

const execute = promisify(execFile);
const { kube } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };

function cli(stateDir: string) {
  const run = (...rest: string[]) =>
    execute(process.execPath, [
      "bin/sluice.js",
      ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
      ...rest,
    ]);
  const failing = (...rest: string[]) =>
    run(...rest).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
  return { run, failing, store: new FileStore(statePaths(stateDir).store) };
}
const state = () => mkdtemp(join(tmpdir(), "sluice-hr-cli-"));
const key = (name: string) => ({ kind: "HelmRelease", namespace: ns.name, name });

const CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/helmreleases.helm.toolkit.fluxcd.io";
let admin: Awaited<ReturnType<typeof adminCluster>>;
beforeAll(async () => {
  ns = await freshNamespace(kube, "cli-hr");
  admin = await adminCluster(kube);
  // helm-controller's CRD, so that flux's own `debug hr` finds the HelmReleases Sluice keeps in its Store.
  const crd = parse(await readFile("test/fixtures/flux-crds/helm.toolkit.fluxcd.io_helmreleases.yaml", "utf8"));
  await applyAll(admin, [crd], { force: true });
});
// The CRD is the test bed's, shared by the run's other files: removed again.
afterAll(async () => {
  await ns.remove();
  await admin.client.send({ method: "DELETE", path: CRD });
});

/** A ConfigMap or Secret in the test namespace. */
const create = (kind: "secrets" | "configmaps", name: string, data: Record<string, string>) =>
  admin.client.send({
    method: "POST",
    path: `/api/v1/namespaces/${ns.name}/${kind}`,
    body: {
      metadata: { name },
      ...(kind === "secrets"
        ? { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) }
        : { data }),
    },
  });

/** A HelmRelease of the Store in the cluster too, without its status. */
async function inCluster(object: KubeObject): Promise<void> {
  const copy = structuredClone(object);
  delete copy.status;
  await applyAll(admin, [copy], { force: true });
}

const fluxDebug = (name: string) =>
  flux(["debug", "hr", name, "--show-values", "-n", ns.name, "--kubeconfig", kube.kubeconfigPath]);

describe(`sluice … helmrelease, kube-apiserver ${kube.version}`, () => {
  it("create registers the HelmRelease; get shows the newest release's chart version, else the one attempted", async () => {
    // Arrange
    const sluice = cli(await state());
    // Act
    await sluice.run("create", "hr", "web", "--source", "HelmRepository/podinfo", "--chart", "podinfo");
    await sluice.run("create", "helmrelease", "api", "--chart-ref", "HelmChart/api", "--values-from", "Secret/v");
    const stored = await sluice.store.get(key("web"));
    await writeStatus(sluice.store, key("web"), {
      history: [{ chartVersion: "6.6.0" }, { chartVersion: "6.5.0" }],
      conditions: [{ type: "Ready", status: "True", reason: "UpgradeSucceeded", message: "Helm upgrade succeeded" }],
    } as never);
    await writeStatus(sluice.store, key("api"), { lastAttemptedRevision: "1.2.3" } as never);
    const { stdout } = await sluice.run("get", "hr");
    const withSource = await sluice.run("get", "helmreleases", "web", "--show-source");
    // Assess
    expect(stored?.object.spec).toMatchObject({
      chart: { spec: { chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" } } },
      interval: "1m0s",
    });
    const rows = stdout
      .trim()
      .split("\n")
      .map((line) => line.split(/\s{2,}|\t/).map((c) => c.trim()));
    expect(rows[0]).toEqual(["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]);
    expect(rows.slice(1).map((r) => r.slice(0, 4))).toEqual([
      ["api", "1.2.3", "False", "Unknown"],
      ["web", "6.6.0", "False", "True"],
    ]);
    expect(withSource.stdout).toContain(`HelmRepository/${ns.name}/podinfo`);
  });

  it("create refuses values it cannot read before writing anything, without quoting them", async () => {
    const sluice = cli(await state());
    const list = join(await state(), "list.yaml");
    await writeFile(list, "- hunter2\n");
    const values = await sluice.failing("create", "hr", "web", "--chart-ref", "HelmChart/x", "--values", list);
    expect(values.stderr).toContain(`reading values from ${list} failed: the values document must be a map`);
    expect(values.stderr).not.toContain("hunter2");
    expect(await sluice.store.list({ kind: "HelmRelease" })).toEqual([]);
  });

  it("reconcile --force --reset sets requestedAt, forceAt and resetAt to one token, as flux does; a suspended one is refused", async () => {
    // Arrange
    const sluice = cli(await state());
    await sluice.run("create", "hr", "web", "--chart-ref", "HelmChart/web");
    // Act: nothing reconciles here, so the wait times out
    const waited = await sluice.failing("--timeout", "1s", "reconcile", "hr", "web", "--force", "--reset");
    await sluice.run("suspend", "hr", "web");
    const suspended = await sluice.failing("reconcile", "helmrelease", "web");
    // Assess
    expect(waited.stderr).toContain("timeout waiting for HelmRelease web to be reconciled after 1s");
    const annotations = (await sluice.store.get(key("web")))!.object.metadata.annotations!;
    const token = annotations["reconcile.fluxcd.io/requestedAt"];
    expect(token).toMatch(/^\d{4}-/);
    expect(annotations).toMatchObject({ "reconcile.fluxcd.io/forceAt": token, "reconcile.fluxcd.io/resetAt": token });
    expect(suspended.stderr).toContain("resume helmrelease 'web' first: it is suspended");
    await sluice.run("resume", "hr", "web", "--wait=false");
    expect((await sluice.store.get(key("web")))!.object.spec).not.toHaveProperty("suspend");
  });

  it("reconcile --with-source starts with the chart's source, then its HelmChart (<namespace>-<name>, as flux names it)", async () => {
    const sluice = cli(await state());
    await sluice.run("create", "hr", "web", "--source", "HelmRepository/podinfo", "--chart", "podinfo");
    const missing = await sluice.failing("--timeout", "1s", "reconcile", "hr", "web", "--with-source");
    expect(missing.stderr).toContain(`HelmChart '${ns.name}-web' not found in ${ns.name} namespace`);
    const chart = {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmChart",
      metadata: { name: `${ns.name}-web`, namespace: ns.name },
      spec: { interval: "1m", chart: "podinfo", sourceRef: { kind: "HelmRepository", name: "podinfo" } },
    };
    await applyToStore(sluice.store, chart);
    const first = await sluice.failing("--timeout", "1s", "reconcile", "hr", "web", "--with-source");
    expect(first.stderr).toContain(`annotating HelmRepository podinfo in ${ns.name} namespace`);
    // The chart's source does not exist: named at once, as flux's Get fails, rather than waited for.
    expect(first.stderr).toContain(`HelmRepository 'podinfo' not found in ${ns.name} namespace`);
  });

  it("tree descends from a Kustomization into the HelmReleases it applied, listing each release's objects", async () => {
    // Arrange: what the reconcilers record, a Kustomization's inventory and a HelmRelease's
    const sluice = cli(await state());
    const n = ns.name;
    await applyToStore(sluice.store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "apps", namespace: n },
      spec: { interval: "1m", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } },
    });
    await sluice.run("create", "hr", "web", "--chart-ref", "HelmChart/web");
    const entries = (ids: string[]) => ({ inventory: { entries: ids.map((id) => ({ id, v: "v1" })) } });
    await writeStatus(
      sluice.store,
      { kind: "Kustomization", namespace: n, name: "apps" },
      entries([`${n}_web_helm.toolkit.fluxcd.io_HelmRelease`, `${n}_settings__ConfigMap`]),
    );
    await writeStatus(sluice.store, key("web"), entries([`${n}_web_apps_Deployment`, `${n}_web__Service`]));
    // Act
    const { stdout } = await sluice.run("tree", "ks", "apps");
    const compact = await sluice.run("tree", "ks", "apps", "--compact");
    // Assess
    expect(stdout).toBe(
      [
        `Kustomization/${n}/apps`,
        `├── HelmRelease/${n}/web`,
        `│   ├── Deployment/${n}/web`,
        `│   └── Service/${n}/web`,
        `└── ConfigMap/${n}/settings`,
        "",
      ].join("\n"),
    );
    expect(compact.stdout).toBe(`Kustomization/${n}/apps\n└── HelmRelease/${n}/web\n`);
  });

  it("debug --show-values prints the composed values as flux does, Secret and ConfigMap values included, in valuesFrom order", async () => {
    // Arrange
    const sluice = cli(await state());
    await create("configmaps", "defaults", {
      "values.yaml": "replicaCount: 1\nimage: {tag: '1.0'}\nlist: [a10, a9]\n",
    });
    await create("secrets", "creds", { password: "s3cr3t,with=commas" });
    const values = join(await state(), "values.yaml");
    await writeFile(values, "replicaCount: 3\n");
    await sluice.run(
      ...["create", "hr", "web", "--chart-ref", "HelmChart/web", "--values", values],
      ...["--values-from", "ConfigMap/defaults"],
    );
    const stored = (await sluice.store.get(key("web")))!;
    const spec = stored.object.spec as { valuesFrom: object[] };
    spec.valuesFrom.push(
      { kind: "Secret", name: "creds", valuesKey: "password", targetPath: "auth.password", literal: true },
      { kind: "Secret", name: "absent", optional: true },
    );
    await applyToStore(sluice.store, stored.object);
    // The same HelmRelease in the cluster, for flux's own debug to read (it reads it there, Sluice from its Store).
    await inCluster(stored.object);
    // Act
    const ours = await sluice.run("debug", "hr", "web", "--show-values");
    const theirs = await fluxDebug("web");
    const none = await sluice.failing("debug", "hr", "web");
    // Assess: spec.values over the ConfigMap, the Secret's value verbatim at its path, byte for byte as flux prints it
    expect(ours.stdout).toBe(
      'auth:\n  password: s3cr3t,with=commas\nimage:\n  tag: "1.0"\nlist:\n- a10\n- a9\nreplicaCount: 3\n',
    );
    expect(ours.stdout).toBe(theirs.stdout);
    expect(none.stderr).toContain("exactly one of --show-status, --show-values, or --show-history must be set");
  });

  it("debug --show-values composes as helm-controller does, quirks included: flux's own debug prints the same, or both fail", async () => {
    // Arrange: what --set rules, YAML 1.1 and Go's shared maps make of values, each case a HelmRelease
    const sluice = cli(await state());
    await create("configmaps", "yaml11", {
      "values.yaml":
        "on: yes\nport: 0x1F\nmode: 0755\nday: 2024-01-01\nbase: &b {m: 1, n: 2}\nmerged: {<<: *b, n: 3}\n",
      typed: "true",
      zero: "007",
      list: "{a10,a9,3}",
      quoted: '"1"',
      sets: "x,extra.key=2",
      long: "The quick brown fox jumps over the lazy dog and keeps running until it is far away from here",
    });
    const ref = (valuesKey: string, targetPath: string) => ({
      kind: "ConfigMap",
      name: "yaml11",
      valuesKey,
      targetPath,
    });
    const cases: Record<string, object> = {
      yaml: { valuesFrom: [{ kind: "ConfigMap", name: "yaml11" }] },
      typed: {
        valuesFrom: [
          ref("typed", "a.bool"),
          ref("zero", "a.string"),
          ref("list", "a.list"),
          ref("quoted", "a.quoted"),
          ref("long", "a\\.b.text"),
          ref("typed", "items[2].on"),
        ],
      },
      sets: { valuesFrom: [ref("sets", "first")] },
      precedence: {
        values: { nested: { list: ["from", "values"], keep: true }, top: "values" },
        valuesFrom: [ref("typed", "nested.list[0]"), ref("typed", "top"), { kind: "ConfigMap", name: "yaml11" }],
      },
      optional: {
        values: { only: "values" },
        valuesFrom: [
          { kind: "Secret", name: "absent", optional: true },
          { kind: "ConfigMap", name: "yaml11", valuesKey: "absent", optional: true },
        ],
      },
      missing: { valuesFrom: [{ kind: "ConfigMap", name: "yaml11", valuesKey: "absent" }] },
      "not-a-map": { valuesFrom: [{ kind: "ConfigMap", name: "yaml11", valuesKey: "typed" }] },
    };
    for (const [name, spec] of Object.entries(cases)) {
      const hr = {
        apiVersion: "helm.toolkit.fluxcd.io/v2",
        kind: "HelmRelease",
        metadata: { name, namespace: ns.name },
        spec: { interval: "5m", chartRef: { kind: "HelmChart", name: "web" }, ...spec },
      };
      await applyToStore(sluice.store, hr);
      await inCluster(hr);
    }
    // Act
    const outcomes = await Promise.all(
      Object.keys(cases).map(async (name) => {
        const ours = await sluice.failing("debug", "hr", name, "--show-values");
        const theirs = await fluxDebug(name).then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: { code: number }) => ({ code: e.code, stdout: "" }),
        );
        return { name, ours: { code: ours.code, stdout: ours.stdout }, theirs };
      }),
    );
    // Assess
    for (const { name, ours, theirs } of outcomes) expect(ours, name).toEqual(theirs);
    expect(outcomes.filter((o) => o.ours.code !== 0).map((o) => o.name)).toEqual(["missing", "not-a-map"]);
    const printed = Object.fromEntries(outcomes.map((o) => [o.name, o.ours.stdout]));
    expect(printed.sets).toBe("extra:\n  key: 2\nfirst: x\n"); // a comma starts another assignment
    expect(printed.precedence).toContain("nested:\n  keep: true\n  list:\n  - true\n  - values\n"); // the shared map
    expect(printed.precedence).toContain("top: values\n"); // a top-level key is not shared: spec.values wins
    expect(printed.yaml).toContain('"true": true\n'); // on: yes, as YAML 1.1 reads it
  });
});
