import { execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { FluxEvent } from "../../src/notify/events.js";
import { FileEvents } from "../../src/notify/file-events.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore, writeStatus } from "../../src/store/objects.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";

// The flux flags issue 13 added, each by what it does; the export shapes are in flux-export.test.ts.

const execute = promisify(execFile);
const { kube } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };

/** `sluice` on a fresh state folder (or the one given) against the test bed's cluster, in the test namespace. */
function cli(stateDir: string) {
  const args = (rest: string[]) => [
    "bin/sluice.js",
    ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
    ...rest,
  ];
  const run = (...rest: string[]) => execute(process.execPath, args(rest));
  const failing = (...rest: string[]) =>
    run(...rest).then(
      () => ({ code: 0, stdout: "", stderr: "" }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
  /** Runs a command that keeps printing (`-w`) while `meanwhile` acts, and returns what it printed. */
  const watching = async (meanwhile: () => Promise<void>, ...rest: string[]) => {
    const child = spawn(process.execPath, args(rest), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await until(() => stdout.length > 0);
    await meanwhile();
    return { code: await exited, stdout };
  };
  const store = new FileStore(statePaths(stateDir).store);
  return { run, failing, watching, store };
}

async function until(probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const state = () => mkdtemp(join(tmpdir(), "sluice-commands-"));
const secretData = async (name: string) => {
  const secret = await (
    await adminCluster(kube)
  ).client.send<{ data: Record<string, string> }>({
    method: "GET",
    path: `/api/v1/namespaces/${ns.name}/secrets/${name}`,
  });
  return Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
};
const ready = (status: "True" | "False", message: string) => ({
  observedGeneration: 1,
  conditions: [{ type: "Ready", status, reason: "Test", message, lastTransitionTime: new Date().toISOString() }],
});

beforeAll(async () => {
  ns = await freshNamespace(kube, "cli-flags");
});
afterAll(() => ns.remove());

describe(`sluice's flux flags (issue 13), kube-apiserver ${kube.version}`, () => {
  it("create source git -u/-p/--ca-file writes the credentials to a Secret named after the source and references it", async () => {
    // Arrange
    const sluice = cli(await state());
    const ca = join(await state(), "ca.crt");
    await writeFile(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    // Act
    const url = "https://git.example/org/app";
    await sluice.run("create", "source", "git", "app", "--url", url, "--branch", "main", "-u", "bot", "-p", "s3cret");
    await sluice.run("create", "source", "git", "ca-only", "--url", url, "--tag", "v1", "--ca-file", ca);
    // Assess
    expect(await secretData("app")).toEqual({ username: "bot", password: "s3cret" });
    expect(await secretData("ca-only")).toEqual({ "ca.crt": expect.stringContaining("BEGIN CERTIFICATE") });
    const stored = await sluice.store.get({ kind: "GitRepository", namespace: ns.name, name: "app" });
    expect(stored?.object.spec).toMatchObject({ secretRef: { name: "app" }, ref: { branch: "main" }, url });
  });

  it("bootstrap git keeps the credentials in --secret-name: -u defaults to git, --with-bearer-token stores a token", async () => {
    // Arrange
    const sluice = cli(await state());
    const url = "https://git.example/org/fleet";
    // Act
    await sluice.run("bootstrap", "git", "--url", url, "--path", "clusters/dev", "-p", "pat");
    const basic = await secretData("flux-system");
    const root = await sluice.store.get({ kind: "Kustomization", namespace: ns.name, name: "flux-system" });
    await sluice.run("bootstrap", "git", "--url", url, "--secret-name", "gh-token", "-p", "t0k", "--with-bearer-token");
    // Assess
    expect(basic).toEqual({ username: "git", password: "pat" });
    expect(await secretData("gh-token")).toEqual({ bearerToken: "t0k" });
    const source = await sluice.store.get({ kind: "GitRepository", namespace: ns.name, name: "flux-system" });
    expect(source?.object.spec).toMatchObject({ secretRef: { name: "gh-token" } });
    expect(root?.object.spec).toMatchObject({ path: "./clusters/dev" });
  });

  it("create refuses, before writing anything, a field Sluice would refuse to reconcile, naming it", async () => {
    // Arrange
    const sluice = cli(await state());
    // Act
    const refused = await sluice.failing(
      ...["create", "source", "git", "subs", "--url", "https://git.example/a", "--branch", "main"],
      ...["--recurse-submodules", "-u", "bot", "-p", "x"],
    );
    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`GitRepository/${ns.name}/subs: spec.recurseSubmodules`);
    expect(await sluice.store.list({ kind: "GitRepository" })).toEqual([]);
  });

  it("create source git with an ssh:// URL needs --secret-ref (Sluice writes no SSH Secret), and registers with one", async () => {
    // Arrange
    const sluice = cli(await state());
    const url = "ssh://git@git.example/org/app.git";
    // Act
    const refused = await sluice.failing(
      ...["create", "source", "git", "keyless", "--url", url, "--branch", "main", "--private-key-file", "/no/key"],
    );
    await sluice.run(
      "create",
      "source",
      "git",
      "deploy",
      "--url",
      url,
      "--branch",
      "main",
      "--secret-ref",
      "deploy-key",
    );
    const withCa = await sluice.failing(
      ...[
        "create",
        "source",
        "git",
        "ca",
        "--url",
        url,
        "--branch",
        "main",
        "--secret-ref",
        "k",
        "--ca-file",
        "ca.pem",
      ],
    );
    // Assess
    expect(withCa.stderr).toContain("specifying a CA file is not supported for Git over SSH");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("an ssh:// URL needs --secret-ref naming a Secret with identity and known_hosts");
    expect(await sluice.store.get({ kind: "GitRepository", namespace: ns.name, name: "keyless" })).toBeUndefined();
    const stored = await sluice.store.get({ kind: "GitRepository", namespace: ns.name, name: "deploy" });
    expect(stored?.object.spec).toMatchObject({ url, secretRef: { name: "deploy-key" } });
  });

  it("create receiver registers the Receiver; its type and secret are required", async () => {
    // Arrange
    const sluice = cli(await state());
    // Act
    await sluice.run(
      ...["create", "receiver", "hook", "--type", "github", "--event", "push", "--secret-ref", "token"],
      ...["--resource", "GitRepository/app"],
    );
    const untyped = await sluice.failing("create", "receiver", "x", "--secret-ref", "t", "--resource", "Bucket/b");
    // Assess
    const stored = await sluice.store.get({ kind: "Receiver", namespace: ns.name, name: "hook" });
    expect(stored?.object.spec).toEqual({
      events: ["push"],
      resources: [{ kind: "GitRepository", name: "app" }],
      secretRef: { name: "token" },
      type: "github",
    });
    expect(untyped).toMatchObject({ code: 1, stderr: expect.stringContaining("--type") });
  });

  it("get filters by label and by status condition, drops the header, and shows each Kustomization's source", async () => {
    // Arrange
    const sluice = cli(await state());
    for (const [name, team] of [
      ["web", "a"],
      ["db", "b"],
      ["cache", "a"],
    ])
      await sluice.run("create", "ks", name!, "--source", "fleet.infra", "--label", `team=${team}`);
    await writeStatus(sluice.store, { kind: "Kustomization", namespace: ns.name, name: "web" }, ready("True", "ok"));
    await writeStatus(sluice.store, { kind: "Kustomization", namespace: ns.name, name: "db" }, ready("False", "bad"));
    const names = (out: string) =>
      out
        .trim()
        .split("\n")
        .map((line) => line.split(/\s+/)[0]);
    // Act
    const teamA = (await sluice.run("get", "ks", "-l", "team=a")).stdout;
    const failing = (await sluice.run("get", "ks", "--status-selector", "ready=false", "--no-header")).stdout;
    const notReady = (await sluice.run("get", "ks", "--status-selector", "Ready!=True", "--no-header")).stdout;
    const sources = (await sluice.run("get", "kustomizations", "web", "--show-source")).stdout;
    const badSelector = await sluice.failing("get", "ks", "-l", "team in a");
    // Assess
    expect(names(teamA)).toEqual(["NAME", "cache", "web"]);
    expect(names(failing)).toEqual(["db"]);
    expect(names(notReady)).toEqual(["cache", "db"]);
    expect(sources.split("\n")[0]).toMatch(/^NAME\s+SOURCE\s+REVISION\s+SUSPENDED\s+READY\s+MESSAGE$/);
    expect(sources).toContain("GitRepository/infra/fleet");
    expect(badSelector).toMatchObject({ code: 1, stderr: expect.stringContaining("unable to parse label selector") });
  });

  it("get -w prints the table, then a row again each time its object changes, until --timeout", async () => {
    // Arrange
    const sluice = cli(await state());
    await sluice.run("create", "ks", "app", "--source", "fleet");
    // Act
    const watched = await sluice.watching(
      async () => void (await sluice.run("suspend", "ks", "app")),
      ...["get", "ks", "-w", "--timeout", "3s"],
    );
    // Assess
    const lines = watched.stdout.trim().split("\n");
    expect(watched.code).toBe(0);
    expect(lines[0]).toMatch(/^NAME/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ["app", "False"],
      ["app", "True"],
    ]);
  });

  it("suspend takes several names or --all; a missing name is reported and the others are still suspended", async () => {
    // Arrange
    const sluice = cli(await state());
    for (const name of ["a", "b", "c"]) await sluice.run("create", "ks", name, "--source", "fleet");
    const suspended = async () =>
      (await sluice.store.list({ kind: "Kustomization" }))
        .filter((s) => (s.object.spec as { suspend?: boolean }).suspend)
        .map((s) => s.object.metadata.name);
    // Act
    const some = await sluice.run("suspend", "ks", "a", "missing", "c");
    const afterSome = await suspended();
    await sluice.run("suspend", "ks", "--all");
    const afterAll = await suspended();
    await sluice.run("resume", "ks", "--all", "--wait=false");
    // Assess
    expect(some.stderr).toContain(`✗ Kustomization missing not found in ${ns.name} namespace`);
    expect(afterSome).toEqual(["a", "c"]);
    expect(afterAll).toEqual(["a", "b", "c"]);
    expect(await suspended()).toEqual([]);
    expect((await sluice.failing("suspend", "ks")).stderr).toContain("kustomization name is required");
  });

  it("events --for takes a kind alone in any case, --types filters by type, -w prints new events as they come", async () => {
    // Arrange
    const dir = await state();
    const sluice = cli(dir);
    const events = new FileEvents(statePaths(dir).events);
    const event = (kind: string, name: string, severity: FluxEvent["severity"], reason: string): FluxEvent => ({
      involvedObject: { apiVersion: "x/v1", kind, namespace: ns.name, name },
      severity,
      reason,
      message: `${reason} of ${name}`,
      metadata: {},
      reportingController: "sluice",
      timestamp: new Date().toISOString(),
    });
    await events.emit(event("Kustomization", "apps", "info", "ReconciliationSucceeded"));
    await events.emit(event("Kustomization", "infra", "error", "BuildFailed"));
    await events.emit(event("GitRepository", "fleet", "info", "NewArtifact"));
    const reasons = (out: string) =>
      out
        .trim()
        .split("\n")
        .slice(1)
        .map((line) => line.split(/\s{2,}/)[2]);
    // Act
    const kustomizations = (await sluice.run("events", "--for", "kustomization")).stdout;
    const warnings = (await sluice.run("events", "--types", "warning")).stdout;
    const one = (await sluice.run("events", "--for", "KUSTOMIZATION/apps")).stdout;
    const unknownKind = await sluice.failing("events", "--for", "Widget/x");
    const watched = await sluice.watching(
      () => events.emit(event("GitRepository", "fleet", "error", "GitOperationFailed")),
      ...["events", "-w", "--for", "GitRepository", "--timeout", "4s"],
    );
    // Assess
    expect(reasons(kustomizations)).toEqual(["ReconciliationSucceeded", "BuildFailed"]);
    expect(reasons(warnings)).toEqual(["BuildFailed"]);
    expect(reasons(one)).toEqual(["ReconciliationSucceeded"]);
    expect(unknownKind.stderr).toContain("'Widget' is not a recognized Flux kind");
    expect(reasons(watched.stdout)).toEqual(["NewArtifact", "GitOperationFailed"]);
  });
});

describe(`sluice's commands for HelmRepository, HelmChart, Alert and Provider, kube-apiserver ${kube.version}`, () => {
  it("create source helm -u/-p writes the credentials to the Secret helm-NAME and references it, passing them on with --pass-credentials", async () => {
    // Arrange
    const sluice = cli(await state());
    const url = "https://charts.example/stable";
    // Act
    await sluice.run(
      "create",
      "source",
      "helm",
      "stable",
      "--url",
      url,
      "-u",
      "bot",
      "-p",
      "s3cret",
      "--pass-credentials",
    );
    await sluice.run("create", "source", "helm", "public", "--url", url, "--pass-credentials", "--interval", "10m");
    // Assess
    expect(await secretData("helm-stable")).toEqual({ username: "bot", password: "s3cret" });
    const stored = await sluice.store.get({ kind: "HelmRepository", namespace: ns.name, name: "stable" });
    expect(stored?.object.spec).toEqual({
      interval: "1m0s",
      passCredentials: true,
      secretRef: { name: "helm-stable" },
      url,
    });
    const anonymous = await sluice.store.get({ kind: "HelmRepository", namespace: ns.name, name: "public" });
    expect(anonymous?.object.spec).toEqual({ interval: "10m0s", url });
  });

  it("create refuses, before writing the Secret or the object, a HelmRepository or Provider Sluice would refuse to reconcile", async () => {
    // Arrange
    const sluice = cli(await state());
    // Act
    const cloud = await sluice.failing(
      ...["create", "source", "helm", "gar", "--url", "oci://europe-docker.pkg.dev/project/charts"],
      ...["--oci-provider", "gcp", "-u", "bot", "-p", "x"],
    );
    const hub = await sluice.failing(
      ...["create", "alert-provider", "gh", "--type", "azureeventhub", "--address", "https://x"],
    );
    // Assess
    expect(cloud.code).toBe(1);
    expect(cloud.stderr).toContain(`HelmRepository/${ns.name}/gar: spec.provider ("gcp")`);
    expect(hub.code).toBe(1);
    expect(hub.stderr).toContain(`Provider/${ns.name}/gh: spec.type ("azureeventhub")`);
    expect(await sluice.store.list({ kind: "HelmRepository" })).toEqual([]);
    expect(await sluice.store.list({ kind: "Provider" })).toEqual([]);
    await expect(secretData("helm-ecr")).rejects.toThrow();
  });

  it("create alert-provider and create alert register a Provider and the Alert sending to it", async () => {
    // Arrange
    const sluice = cli(await state());
    // Act
    await sluice.run(
      "create",
      "alert-provider",
      "slack",
      "--type",
      "slack",
      "--channel",
      "ops",
      "--secret-ref",
      "hook",
    );
    await sluice.run(
      ...["create", "alert", "on-call", "--provider-ref", "slack", "--event-severity", "error"],
      ...["--event-source", "Kustomization/*,GitRepository/fleet.infra"],
    );
    const sourceless = await sluice.failing("create", "alert", "x", "--provider-ref", "slack");
    // Assess
    const provider = await sluice.store.get({ kind: "Provider", namespace: ns.name, name: "slack" });
    expect(provider?.object.spec).toEqual({ channel: "ops", secretRef: { name: "hook" }, type: "slack" });
    const alert = await sluice.store.get({ kind: "Alert", namespace: ns.name, name: "on-call" });
    expect(alert?.object.spec).toEqual({
      eventSeverity: "error",
      eventSources: [
        { kind: "Kustomization", name: "*" },
        { kind: "GitRepository", name: "fleet", namespace: "infra" },
      ],
      providerRef: { name: "slack" },
    });
    expect(sourceless).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("at least one event source is required"),
    });
  });

  it("get sources helm|chart, get alerts and get alert-providers print flux's columns for each kind", async () => {
    // Arrange
    const sluice = cli(await state());
    const digest = "sha256:" + "ab12".repeat(16);
    await sluice.run("create", "source", "helm", "stable", "--url", "https://charts.example/");
    await writeStatus(
      sluice.store,
      { kind: "HelmRepository", namespace: ns.name, name: "stable" },
      {
        ...ready("True", `stored artifact: revision '${digest}'`),
        artifact: { revision: digest },
      },
    );
    await applyToStore(sluice.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmChart",
      metadata: { name: "web", namespace: ns.name },
      spec: { chart: "web", sourceRef: { kind: "HelmRepository", name: "stable" }, interval: "1m0s" },
    });
    await writeStatus(
      sluice.store,
      { kind: "HelmChart", namespace: ns.name, name: "web" },
      {
        ...ready("True", "packaged 'web' chart with version '1.2.3'"),
        artifact: { revision: "1.2.3" },
      },
    );
    await sluice.run("create", "alert-provider", "slack", "--type", "slack", "--secret-ref", "hook");
    await sluice.run("create", "alert", "on-call", "--provider-ref", "slack", "--event-source", "HelmChart/*");
    await sluice.run("suspend", "alert", "on-call");
    const rows = (out: string) =>
      out
        .trim()
        .split("\n")
        .map((line) => line.split(/\s{2,}/));
    // Act
    const repositories = (await sluice.run("get", "sources", "helm")).stdout;
    const charts = (await sluice.run("get", "sources", "chart", "web")).stdout;
    const alerts = (await sluice.run("get", "alerts")).stdout;
    const providers = (await sluice.run("get", "alert-providers", "-A")).stdout;
    const missing = await sluice.failing("get", "alert-providers", "teams");
    // Assess
    expect(rows(repositories)).toEqual([
      ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"],
      ["stable", "sha256:ab12ab12", "False", "True", "stored artifact: revision 'sha256:ab12ab12'"],
    ]);
    expect(rows(charts)).toEqual([
      ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"],
      ["web", "1.2.3", "False", "True", "packaged 'web' chart with version '1.2.3'"],
    ]);
    expect(rows(alerts)).toEqual([
      ["NAME", "SUSPENDED", "READY", "MESSAGE"],
      ["on-call", "True", "Unknown", "waiting to be reconciled"],
    ]);
    expect(rows(providers)).toEqual([
      ["NAMESPACE", "NAME", "READY", "MESSAGE"],
      [ns.name, "slack", "Unknown", "waiting to be reconciled"],
    ]);
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining(`Provider object 'teams' not found`) });
  });

  it("suspend and resume take alerts and Helm sources, setting and clearing spec.suspend", async () => {
    // Arrange
    const sluice = cli(await state());
    await sluice.run("create", "alert-provider", "slack", "--type", "slack", "--secret-ref", "hook");
    await sluice.run("create", "alert", "on-call", "--provider-ref", "slack", "--event-source", "Kustomization/*");
    await sluice.run("create", "source", "helm", "stable", "--url", "https://charts.example/");
    const suspended = async (kind: string, name: string) =>
      Boolean(
        ((await sluice.store.get({ kind, namespace: ns.name, name }))?.object.spec as { suspend?: boolean }).suspend,
      );
    // Act
    const suspending = await sluice.run("suspend", "alert", "on-call");
    await sluice.run("suspend", "source", "helm", "stable");
    const whileSuspended = [await suspended("Alert", "on-call"), await suspended("HelmRepository", "stable")];
    await sluice.run("resume", "alert", "on-call", "--wait=false");
    await sluice.run("resume", "source", "helm", "--all", "--wait=false");
    // Assess
    expect(suspending.stderr).toContain(`► suspending alert on-call in ${ns.name} namespace`);
    expect(whileSuspended).toEqual([true, true]);
    expect([await suspended("Alert", "on-call"), await suspended("HelmRepository", "stable")]).toEqual([false, false]);
  });
});
