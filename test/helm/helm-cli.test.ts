import { chmod, mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { serviceAccount } from "../../src/cluster/cluster.js";
import { connect } from "../../src/cluster/connect.js";
import type { KubeClient } from "../../src/cluster/kube-client.js";
import { HelmActionError, HelmCli, HelmOptionsError, type HelmTarget } from "../../src/helm/helm-cli.js";
import { releaseHistory } from "../../src/helm/release-storage.js";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { adminCluster, rejection } from "../apply/helpers.js";
import { testHelm, tinyChart } from "../env/charts.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";

const kube = inject("testbed").kube;
const timeoutMs = 60_000;

/** Packages a chart folder into a .tgz, as Sluice hands charts to helm. */
async function packaged(chartDir: string): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), "sluice-chart-tgz-"));
  await testHelm(["package", chartDir, "--destination", out]);
  const [file] = await readdir(out);
  return join(out, file!);
}

/** A chart whose template fails with the message held in value `message`. */
async function failingChart(): Promise<string> {
  const dir = await tinyChart("failing", "0.1.0");
  await writeFile(join(dir, "templates", "configmap.yaml"), '{{ fail (printf "refused: %s" .Values.message) }}\n');
  return packaged(dir);
}

/** A chart with two test hooks (ConfigMaps: helm counts them ready once created, no kubelet needed). */
async function chartWithTests(): Promise<string> {
  const dir = await tinyChart("tested", "0.1.0");
  for (const name of ["smoke", "slow"])
    await writeFile(
      join(dir, "templates", `test-${name}.yaml`),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-${name}\n  annotations:\n    helm.sh/hook: test\ndata:\n  ran: "yes"\n`,
    );
  return packaged(dir);
}

describe(`helm actions through the helm v4 binary (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let admin: KubeClient;
  let helm: HelmCli;
  let chart: string;
  const core = adminKubeConfig(kube).makeApiClient(CoreV1Api);
  const target = (releaseName: string, client = admin): HelmTarget => ({ client, releaseName, namespace: ns.name });
  const configMap = async (name: string) =>
    (await core.readNamespacedConfigMap({ name, namespace: ns.name }).catch(() => undefined))?.data;

  beforeAll(async () => {
    ns = await freshNamespace(kube, "helm-cli");
    admin = (await adminCluster(kube)).client;
    helm = new HelmCli({ helm: (await resolveTools({ cacheDir: cacheDir() })).helm });
    chart = await packaged(await tinyChart("tiny", "1.0.0"));
  });
  afterAll(() => ns.remove());

  it("installs, upgrades, rolls back and uninstalls a release, each revision in Helm's storage", async () => {
    // Act
    const installed = await helm.install(target("app"), { chart, values: { greeting: "hola" }, timeoutMs });
    const afterInstall = await configMap("app-config");
    const upgraded = await helm.upgrade(target("app"), {
      chart,
      values: { greeting: "bonjour" },
      timeoutMs,
      maxHistory: 5,
      description: "upgraded by sluice",
    });
    const afterUpgrade = await configMap("app-config");
    const rolledBack = await helm.rollback(target("app"), { timeoutMs });
    const afterRollback = await configMap("app-config");
    // Assess
    expect(installed.release).toMatchObject({
      name: "app",
      namespace: ns.name,
      version: 1,
      info: { status: "deployed", description: "Install complete" },
      chart: { name: "tiny", version: "1.0.0" },
      config: { greeting: "hola" },
      applyMethod: "ssa",
    });
    expect(installed.durationMs).toBeGreaterThan(0);
    expect(afterInstall).toEqual({ greeting: "hola" });
    expect(upgraded.release).toMatchObject({
      version: 2,
      info: { status: "deployed", description: "upgraded by sluice" },
      config: { greeting: "bonjour" },
    });
    expect(afterUpgrade).toEqual({ greeting: "bonjour" });
    expect(rolledBack.release).toMatchObject({
      version: 3,
      info: { status: "deployed", description: "Rollback to 1" },
      config: { greeting: "hola" },
    });
    expect(afterRollback).toEqual({ greeting: "hola" });
    const history = await releaseHistory(admin, ns.name, "app");
    expect(history.map((r) => [r.version, r.info.status])).toEqual([
      [1, "superseded"],
      [2, "superseded"],
      [3, "deployed"],
    ]);

    // Act: uninstall keeping history, then for good
    const kept = await helm.uninstall(target("app"), { timeoutMs, keepHistory: true, description: "gone for now" });
    const afterUninstall = await configMap("app-config");
    const purged = await helm.uninstall(target("app"), { timeoutMs });
    // Assess
    expect(kept.release).toMatchObject({ version: 3, info: { status: "uninstalled", description: "gone for now" } });
    expect(afterUninstall).toBeUndefined();
    expect(purged.release).toBeUndefined();
    expect(await releaseHistory(admin, ns.name, "app")).toEqual([]);
  });

  it("runs the release's tests, filtered by name, and records each run on its hooks", async () => {
    // Prepare
    await helm.install(target("tested"), { chart: await chartWithTests(), values: {}, timeoutMs });
    // Act
    const tested = await helm.test(target("tested"), { timeoutMs, filters: [{ name: "tested-slow", exclude: true }] });
    // Assess
    const phases = Object.fromEntries(tested.release!.hooks.map((h) => [h.name, h.lastRun.phase]));
    expect(phases).toEqual({ "tested-smoke": "Succeeded", "tested-slow": "" });
    expect(await configMap("tested-smoke")).toEqual({ ran: "yes" });
    expect(await configMap("tested-slow")).toBeUndefined();
  });

  it("resets values on upgrade unless preserveValues, which reuses the last revision's", async () => {
    // Prepare
    await helm.install(target("values"), { chart, values: { greeting: "first", extra: "kept?" }, timeoutMs });
    // Act
    const preserved = await helm.upgrade(target("values"), { chart, values: {}, preserveValues: true, timeoutMs });
    const reset = await helm.upgrade(target("values"), { chart, values: { greeting: "third" }, timeoutMs });
    // Assess
    expect(preserved.release?.config).toEqual({ greeting: "first", extra: "kept?" });
    expect(reset.release?.config).toEqual({ greeting: "third" });
    expect(await configMap("values-config")).toEqual({ greeting: "third" });
  });

  it("keeps maxHistory revisions, and follows a release's client-side apply method when serverSideApply is auto", async () => {
    // Prepare
    await helm.install(target("csa"), { chart, values: {}, timeoutMs, serverSideApply: false });
    // Act
    for (const greeting of ["a", "b", "c"])
      await helm.upgrade(target("csa"), { chart, values: { greeting }, timeoutMs, maxHistory: 2 });
    // Assess
    const history = await releaseHistory(admin, ns.name, "csa");
    expect(history.map((r) => [r.version, r.applyMethod])).toEqual([
      [3, "csa"],
      [4, "csa"],
    ]);
    const managers = (await core.readNamespacedConfigMap({ name: "csa-config", namespace: ns.name })).metadata
      ?.managedFields;
    expect(managers?.map((f) => f.operation)).not.toContain("Apply");
  });

  it("reports helm's own error for a template that fails, the values in it masked", async () => {
    // Prepare
    const failing = await failingChart();
    // Act
    const error = await rejection<HelmActionError>(
      helm.install(target("broken"), { chart: failing, values: { message: "hunter2-password" }, timeoutMs }),
    );
    // Assess
    expect(error).toBeInstanceOf(HelmActionError);
    expect(error.message).toMatch(
      new RegExp(`^Helm install of ${ns.name}/broken failed: INSTALLATION FAILED: .*refused: \\*\\*\\*`),
    );
    expect(error.message).not.toContain("hunter2-password");
    expect(error.message).not.toContain("\n");
    expect(await releaseHistory(admin, ns.name, "broken")).toEqual([]);
  });

  it("acts as the impersonated identity: a service account without RBAC is denied, by name", async () => {
    // Prepare
    const tenant = admin.impersonating(serviceAccount(ns.name, "nobody"));
    // Act
    const error = await rejection<HelmActionError>(
      helm.install(target("tenant-app", tenant), { chart, values: {}, timeoutMs }),
    );
    // Assess
    expect(error.message).toContain(`User "system:serviceaccount:${ns.name}:nobody" cannot`);
    expect(await configMap("tenant-app-config")).toBeUndefined();
  });

  it("acts as an impersonated identity that RBAC allows", async () => {
    // Prepare
    const rbac = adminKubeConfig(kube).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: "deployer-edit" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
        subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: ns.name }],
      },
    });
    const tenant = admin.impersonating(serviceAccount(ns.name, "deployer"));
    // Act
    const installed = await helm.install(target("tenant-ok", tenant), { chart, values: {}, timeoutMs });
    // Assess
    expect(installed.release?.info.status).toBe("deployed");
    const managers = (await core.readNamespacedConfigMap({ name: "tenant-ok-config", namespace: ns.name })).metadata
      ?.managedFields;
    expect(managers?.map((f) => f.manager)).toContain("helm");
  });

  it("connects with a token from a token source, asked when helm runs, and from a token file", async () => {
    // Prepare
    let asked = 0;
    const fromSource = await connect({
      server: kube.server,
      caPem: kube.caPem,
      tokenSource: async () => (asked++, kube.token),
    });
    const tokenFile = join(await mkdtemp(join(tmpdir(), "sluice-token-")), "token");
    await writeFile(tokenFile, `${kube.token}\n`);
    const fromFile = await connect({ server: kube.server, caPem: kube.caPem, tokenFile });
    // Act
    const installed = await helm.install(target("by-source", fromSource), { chart, values: {}, timeoutMs });
    const upgraded = await helm.upgrade(target("by-source", fromFile), { chart, values: { greeting: "f" }, timeoutMs });
    // Assess
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(installed.release?.version).toBe(1);
    expect(upgraded.release?.version).toBe(2);
  });

  it("refuses a chart that is not a local path, a filter that would change helm's list, and bad numbers", async () => {
    // Act
    const fromRepo = await rejection<HelmOptionsError>(
      helm.install(target("remote"), { chart: "stable/nginx", values: {}, timeoutMs }),
    );
    const fromOci = await rejection<HelmOptionsError>(
      helm.install(target("remote"), { chart: "oci://registry.invalid/chart", values: {}, timeoutMs }),
    );
    const filter = await rejection<HelmOptionsError>(
      helm.test(target("values"), { timeoutMs, filters: [{ name: "a,name=b" }] }),
    );
    const badHistory = await rejection<HelmOptionsError>(
      helm.upgrade(target("values"), { chart, values: {}, timeoutMs, maxHistory: -1 }),
    );
    const badTimeout = await rejection<HelmOptionsError>(helm.uninstall(target("values"), { timeoutMs: Number.NaN }));
    // Assess
    for (const error of [fromRepo, fromOci, filter, badHistory, badTimeout])
      expect(error).toBeInstanceOf(HelmOptionsError);
    expect(fromRepo.message).toBe('chart "stable/nginx" is not an absolute local path');
    expect(fromOci.message).toBe('chart "oci://registry.invalid/chart" is not an absolute local path');
    expect(filter.message).toContain('filter name "a,name=b" is not an object name');
    expect(badHistory.message).toContain("maxHistory must be a whole number");
    expect(badTimeout.message).toContain("timeout must be a positive number of milliseconds");
  });

  it("measures an upgrade through HelmCli against a plain `helm upgrade --install`", async () => {
    // Prepare
    await helm.install(target("bench"), { chart, values: {}, timeoutMs });
    await testHelm(["install", "bench-plain", chart, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name]);
    const runs = 5;
    const ours: number[] = [];
    const plain: number[] = [];
    // Act
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const result = await helm.upgrade(target("bench"), { chart, values: { greeting: `v${i}` }, timeoutMs });
      ours.push(performance.now() - started);
      expect(result.durationMs).toBeLessThanOrEqual(ours.at(-1)!);
      const plainStarted = performance.now();
      await testHelm([
        ...["upgrade", "--install", "bench-plain", chart, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
        ...["--set", `greeting=v${i}`],
      ]);
      plain.push(performance.now() - plainStarted);
    }
    // Assess
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `upgrade median of ${runs}: HelmCli ${median(ours).toFixed(0)} ms (helm process + LIST), plain helm upgrade --install ${median(plain).toFixed(0)} ms`,
    );
    expect(median(ours)).toBeLessThan(median(plain) * 2 + 500);
  });
});

describe("helm process isolation (a stand-in helm binary that reports what it was given)", () => {
  let dir: string;
  let admin: KubeClient;
  let ns: Awaited<ReturnType<typeof freshNamespace>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-fake-helm-"));
    admin = (await adminCluster(kube)).client;
    ns = await freshNamespace(kube, "helm-iso");
  });
  afterAll(() => ns.remove());

  /** A "helm" that writes its argv, environment and the modes of the files it was handed, then exits 1. */
  async function reportingHelm(sleepSeconds = 0): Promise<{ helm: string; report: string }> {
    const report = join(dir, `report-${Math.random().toString(16).slice(2)}`);
    const helm = join(dir, `helm-${Math.random().toString(16).slice(2)}`);
    await writeFile(
      helm,
      [
        "#!/bin/sh",
        `exec 3>&2 >${report} 2>&1`,
        'for a in "$@"; do echo "arg $a"; done',
        "env | sort | sed 's/^/env /'",
        'for a in "$@"; do case "$a" in --kubeconfig=*|--values=*) f="${a#*=}"; echo "mode $(stat -c %a "$f") $(stat -c %a "$(dirname "$f")")"; cat "$f"; echo;; esac; done',
        `sleep ${sleepSeconds} 3>&-`,
        "echo 'Error: UPGRADE FAILED: stand-in' >&3",
        "exit 1",
      ].join("\n"),
    );
    await chmod(helm, 0o755);
    return { helm, report };
  }

  it("hands helm a private kubeconfig and values file (0600 in a 0700 folder), removed after a failure", async () => {
    // Prepare
    const { helm, report } = await reportingHelm();
    const tmp = join(dir, "tmp");
    await mkdir(tmp);
    const secret = "hunter2-password";
    const tenant = admin.impersonating(serviceAccount(ns.name, "deployer"));
    const cli = new HelmCli({ helm, tmpDir: tmp });
    const chart = await packaged(await tinyChart("iso", "1.0.0"));
    // Act
    const error = await rejection<HelmActionError>(
      cli.install(
        { client: tenant, releaseName: "iso", namespace: ns.name },
        { chart, values: { secret }, timeoutMs, crds: "Skip" },
      ),
    );
    // Assess
    expect(error.message).toBe(`Helm install of ${ns.name}/iso failed: UPGRADE FAILED: stand-in`);
    expect(await readdir(tmp)).toEqual([]);
    const lines = (await readFile(report, "utf8")).split("\n");
    const args = lines.filter((l) => l.startsWith("arg ")).map((l) => l.slice(4));
    expect(args.slice(0, 1)).toEqual(["install"]);
    expect(args.slice(-3)).toEqual(["--", "iso", chart]);
    expect(args).toEqual(
      expect.arrayContaining(["--wait=hookOnly", "--timeout=60000ms", "--server-side=true", "--force-conflicts"]),
    );
    expect(args.join(" ")).not.toContain(secret);
    expect(lines.filter((l) => l.startsWith("mode "))).toEqual(["mode 600 700", "mode 600 700"]);
    const env = lines.filter((l) => l.startsWith("env ")).map((l) => l.slice(4).split("=")[0]);
    expect(env.filter((name) => !["PWD", "SHLVL", "_"].includes(name!))).toEqual([
      "HELM_CACHE_HOME",
      "HELM_CONFIG_HOME",
      "HELM_DATA_HOME",
      "HELM_DRIVER",
      "HELM_NO_PLUGINS",
      "HELM_PLUGINS",
      "HOME",
      "NO_COLOR",
      "TMPDIR",
    ]);
    const kubeconfig = JSON.parse(lines.find((l) => l.startsWith('{"apiVersion":"v1","kind":"Config"'))!) as {
      users: { user: Record<string, unknown> }[];
      contexts: { context: { namespace: string } }[];
    };
    expect(kubeconfig.users[0]!.user).toMatchObject({
      token: kube.token,
      as: `system:serviceaccount:${ns.name}:deployer`,
      "as-groups": ["system:serviceaccounts", `system:serviceaccounts:${ns.name}`, "system:authenticated"],
    });
    expect(kubeconfig.contexts[0]!.context.namespace).toBe(ns.name);
  });

  it("maps Flux's upgrade fields to helm's flags: force replaces only under client-side apply", async () => {
    // Prepare
    const { helm, report } = await reportingHelm();
    const cli = new HelmCli({ helm });
    const chart = await packaged(await tinyChart("flags", "1.0.0"));
    const upgrade = {
      chart,
      values: {},
      timeoutMs: 90_000,
      crds: "Skip" as const,
      force: true,
      preserveValues: true,
      cleanupOnFail: true,
      maxHistory: 5,
      disableHooks: true,
      disableOpenAPIValidation: true,
      disableSchemaValidation: true,
      disableTakeOwnership: true,
      description: "--no-hooks=false",
    };
    // Act
    await rejection(
      cli.upgrade(
        { client: admin, releaseName: "flags", namespace: ns.name },
        { ...upgrade, serverSideApply: "disabled" },
      ),
    );
    const csa = (await readFile(report, "utf8"))
      .split("\n")
      .filter((l) => l.startsWith("arg "))
      .map((l) => l.slice(4));
    await rejection(
      cli.upgrade(
        { client: admin, releaseName: "flags", namespace: ns.name },
        { ...upgrade, serverSideApply: "enabled" },
      ),
    );
    const ssa = (await readFile(report, "utf8"))
      .split("\n")
      .filter((l) => l.startsWith("arg "))
      .map((l) => l.slice(4));
    // Assess
    const common = [
      "upgrade",
      "--timeout=90000ms",
      "--wait=hookOnly",
      "--description=--no-hooks=false",
      "--no-hooks",
      "--disable-openapi-validation",
      "--skip-schema-validation",
    ];
    expect(csa.slice(0, common.length)).toEqual(common);
    expect(csa).toEqual(
      expect.arrayContaining([
        "--server-side=false",
        "--force-replace",
        "--reuse-values",
        "--cleanup-on-fail",
        "--history-max=5",
      ]),
    );
    expect(csa).not.toContain("--force-conflicts");
    expect(csa).not.toContain("--take-ownership");
    expect(ssa).toEqual(expect.arrayContaining(["--server-side=true", "--force-conflicts"]));
    expect(ssa).not.toContain("--force-replace");
  });

  it("stops helm that runs past its timeout plus the margin", async () => {
    // Prepare
    const { helm } = await reportingHelm(30);
    const cli = new HelmCli({ helm, processMarginMs: 200 });
    // Act
    const started = performance.now();
    const error = await rejection<HelmActionError>(
      cli.uninstall({ client: admin, releaseName: "slow", namespace: ns.name }, { timeoutMs: 300 }),
    );
    // Assess
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error.message).toMatch(/^Helm uninstall of .*\/slow failed: helm did not finish in time and was stopped/);
  });
});
