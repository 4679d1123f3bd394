import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtemp, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { freePort } from "../env/process.js";
import { publishChart, tinyChart } from "../env/charts.js";
import { pushOciArtifact } from "../env/oci.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { freshNamespace } from "../env/kube-client.js";
import { adminCluster, configMap } from "../apply/helpers.js";

const execute = promisify(execFile);
const { kube, git, helmRepo, registry } = inject("testbed");
let stateDir: string;
let ns: { name: string; remove(): Promise<void> };
let control: ChildProcess;
let output = "";
let port: number;

const sluice = (...args: string[]) =>
  execute(process.execPath, [
    "bin/sluice.js",
    "--state-dir",
    stateDir,
    "--kubeconfig",
    kube.kubeconfigPath,
    "-n",
    ns.name,
    ...args,
  ]);
const failing = (...args: string[]) =>
  sluice(...args).then(
    () => ({ code: 0, stdout: "", stderr: "" }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
const appYaml = (level: string) =>
  [
    configMap("settings", { level }, { namespace: ns.name }),
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app", namespace: ns.name } },
  ]
    .map((o) => stringify(o))
    .join("---\n");

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; control plane said:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-cli-state-"));
  ns = await freshNamespace(kube, "cli");
  port = await freePort();
  const repo = `${ns.name}-fleet`;
  await createRepo(git, repo);
  await pushTree(git, repo, { files: { "clusters/dev/app.yaml": appYaml("info") } });
  await sluice(
    "bootstrap",
    "git",
    "--url",
    `${git.baseUrl}/${repo}.git`,
    "--branch",
    "main",
    "--path",
    "clusters/dev",
    "--username",
    git.username,
    "--password",
    git.password,
  );
  control = spawn(
    process.execPath,
    [
      "bin/sluice.js",
      "run",
      "--state-dir",
      stateDir,
      "--kubeconfig",
      kube.kubeconfigPath,
      "--port",
      String(port),
      "--metrics-addr",
      "127.0.0.1:0",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  control.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  control.stderr!.on("data", (d: Buffer) => (output += d.toString()));
});

afterAll(async () => {
  control?.kill("SIGKILL");
  await ns?.remove();
});

describe(`sluice run and the CLI against kube-apiserver ${kube.version}`, () => {
  it("bootstraps from Git, reconciles, and shows it in a flux-style table", async () => {
    await until("Kustomization ready", async () => (await sluice("get", "kustomizations")).stdout.includes("True"));
    const { stdout } = await sluice("get", "kustomizations");
    expect(stdout).toMatch(/^NAME\s+REVISION\s+SUSPENDED\s+READY\s+MESSAGE\n/);
    expect(stdout).toMatch(/flux-system\s+main@sha1:[0-9a-f]{40}\s+False\s+True\s+Applied revision: main@sha1:/);
    expect((await sluice("get", "sources", "git")).stdout).toMatch(
      /flux-system\s+main@sha1:[0-9a-f]{40}\s+False\s+True\s+stored artifact for revision/,
    );
    expect(output).toContain(`✔ Kustomization/${ns.name}/flux-system ReconciliationSucceeded`);
    // The metrics endpoint it printed, with the Kustomization as Flux's dashboards count it.
    const metrics = /Prometheus metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(output)?.[1];
    expect(await (await fetch(metrics!)).text()).toMatch(
      new RegExp(
        `^gotk_resource_info\\{[^}]*customresource_kind="Kustomization",exported_namespace="${ns.name}",name="flux-system",ready="True"[^}]*\\} 1$`,
        "m",
      ),
    );
  });

  it("reconcile --with-source picks up a push at once and reports the applied revision", async () => {
    const sha = await pushTree(git, `${ns.name}-fleet`, { files: { "clusters/dev/app.yaml": appYaml("debug") } });
    const { stderr } = await sluice("reconcile", "kustomization", "flux-system", "--with-source");
    expect(stderr).toContain("◎ waiting for Kustomization reconciliation");
    expect(stderr).toContain(`✔ applied revision main@sha1:${sha}`);
  });

  it("reconcile source chart --with-source fetches the index, then builds the chart, reporting each revision", async () => {
    // Arrange
    const chart = `${ns.name}-web`;
    await publishChart(helmRepo, await tinyChart(chart, "1.0.0"));
    await sluice("create", "source", "helm", "charts", "--url", helmRepo.url, "--interval", "10m");
    const objects = await mkdtemp(join(tmpdir(), "sluice-cli-chart-"));
    const spec = { chart, version: "1.0.0", interval: "10m", sourceRef: { kind: "HelmRepository", name: "charts" } };
    const helmChart = { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "HelmChart", metadata: { name: "web" }, spec };
    await writeFile(join(objects, "chart.yaml"), stringify(helmChart));
    await sluice("bootstrap", "dir", objects);
    // Act
    const { stderr } = await sluice("reconcile", "source", "chart", "web", "--with-source");
    const repository = await sluice("reconcile", "source", "helm", "charts");
    // Assess
    expect(stderr).toContain(`► annotating HelmRepository charts in ${ns.name} namespace`);
    expect(stderr).toContain("✔ fetched revision 1.0.0");
    expect(repository.stderr).toMatch(/✔ fetched revision sha256:[0-9a-f]{64}\n/);
    expect((await sluice("get", "sources", "chart")).stdout).toMatch(/\nweb\s+1\.0\.0\s+False\s+True\s+/);
  });

  it("create source oci, reconcile source oci reporting the fetched revision, get sources oci showing it shortened", async () => {
    // Arrange
    const digest = await pushOciArtifact(registry.host, `${ns.name}/manifests`, "v1", {
      "cm.yaml": "kind: ConfigMap\n",
    });
    const url = `oci://${registry.host}/${ns.name}/manifests`;
    await sluice("create", "source", "oci", "manifests", "--url", url, "--tag", "v1", "--interval", "10m");
    // Act
    const { stderr } = await sluice("reconcile", "source", "oci", "manifests");
    const table = (await sluice("get", "sources", "oci")).stdout;
    const signed = await failing(
      "create",
      "source",
      "oci",
      "signed",
      "--url",
      url,
      "--tag",
      "v1",
      "--verify-provider",
      "cosign",
    );
    // Assess
    expect(stderr).toContain(`✔ fetched revision v1@${digest}`);
    expect(signed.code).not.toBe(0);
    expect(signed.stderr).toContain(
      `spec.verify (${JSON.stringify({ provider: "cosign" })}): verifying an artifact's keyless (Sigstore) signature is not supported`,
    );
    expect((await sluice("get", "sources", "oci")).stdout).not.toContain("signed");
    const short = `v1@sha256:${digest.slice("sha256:".length, "sha256:".length + 8)}`;
    expect(table).toMatch(
      new RegExp(`\\nmanifests\\s+${short}\\s+False\\s+True\\s+stored artifact for digest '${short}'`),
    );
  });

  it("reconcile alert-provider and resume alert wait for the control plane's verdict; an Alert reports no revision", async () => {
    // Arrange
    await sluice("create", "alert-provider", "hook", "--type", "generic", "--address", "http://127.0.0.1:9/");
    await sluice("create", "alert", "on-call", "--provider-ref", "hook", "--event-source", "HelmChart/web");
    await sluice("suspend", "alert", "on-call");
    // Act
    const provider = await sluice("reconcile", "alert-provider", "hook");
    const { stderr } = await sluice("resume", "alert", "on-call");
    const missingProvider = await failing(
      "create",
      "alert",
      "lost",
      "--provider-ref",
      "nowhere",
      "--event-source",
      "Kustomization/*",
    );
    const lost = await failing("reconcile", "alert", "lost");
    // Assess
    expect(provider.stderr).toContain("◎ waiting for Provider reconciliation");
    expect(stderr).toContain("✔ Alert on-call reconciliation completed");
    expect(stderr).not.toContain("revision");
    expect(missingProvider.code).toBe(0);
    expect(lost).toMatchObject({ code: 1, stderr: expect.stringContaining("Alert reconciliation failed") });
    expect((await sluice("get", "alerts", "on-call")).stdout).toMatch(/\non-call\s+False\s+True\s+/);
  });

  it("tree lists the inventory, events list what happened", async () => {
    const tree = (await sluice("tree", "kustomization", "flux-system")).stdout;
    expect(tree).toBe(
      `Kustomization/${ns.name}/flux-system\n├── ServiceAccount/${ns.name}/app\n└── ConfigMap/${ns.name}/settings\n`,
    );
    expect((await sluice("events")).stdout).toMatch(/Normal\s+ReconciliationSucceeded\s+Kustomization\/flux-system/);
  });

  it("tree --compact keeps Flux objects only; -o json prints flux's tree as data", async () => {
    // Act
    const compact = (await sluice("tree", "ks", "flux-system", "--compact")).stdout;
    const json = JSON.parse((await sluice("tree", "ks", "flux-system", "-o", "json")).stdout) as unknown;
    // Assess
    expect(compact).toBe(`Kustomization/${ns.name}/flux-system\n`);
    expect(json).toEqual({
      resource: {
        Namespace: ns.name,
        Name: "flux-system",
        GroupKind: { Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization" },
      },
      resources: [
        { resource: { Namespace: ns.name, Name: "app", GroupKind: { Group: "", Kind: "ServiceAccount" } } },
        { resource: { Namespace: ns.name, Name: "settings", GroupKind: { Group: "", Kind: "ConfigMap" } } },
      ],
    });
  });

  it("resume of one name waits for the control plane to reconcile it and reports the applied revision", async () => {
    // Arrange
    await sluice("suspend", "kustomization", "flux-system");
    // Act
    const { stderr } = await sluice("resume", "kustomization", "flux-system");
    // Assess
    expect(stderr).toContain("◎ waiting for Kustomization reconciliation");
    expect(stderr).toContain("✔ Kustomization flux-system reconciliation completed");
    expect(stderr).toMatch(/✔ applied revision main@sha1:[0-9a-f]{40}\n/);
  });

  it("diff exits 0 without changes and 1 with them, and build renders what would be applied", async () => {
    // Arrange: a local checkout of the fleet folder
    const local = await mkdtemp(join(tmpdir(), "sluice-cli-local-"));
    await mkdir(join(local, "clusters/dev"), { recursive: true });
    await writeFile(join(local, "clusters/dev/app.yaml"), appYaml("debug"));
    // Act / Assess
    expect((await failing("diff", "kustomization", "flux-system", "--path", join(local, "clusters/dev"))).code).toBe(0);
    await writeFile(join(local, "clusters/dev/app.yaml"), appYaml("trace"));
    const changed = await failing("diff", "kustomization", "flux-system", "--path", join(local, "clusters/dev"));
    expect(changed.code).toBe(1);
    expect(changed.stdout).toContain(`► ConfigMap/${ns.name}/settings drifted`);
    expect(changed.stdout).toContain("-  level: debug\n+  level: trace");
    const built = (await sluice("build", "kustomization", "flux-system", "--path", join(local, "clusters/dev"))).stdout;
    expect(built).toContain("level: trace");
    expect(built).toContain(`kustomize.toolkit.fluxcd.io/name: flux-system`);
    expect((await failing("diff", "kustomization", "missing", "--path", local)).code).toBe(2);
  });

  it("a signed GitHub push to the Receiver's webhook path triggers a reconcile; a bad signature is refused", async () => {
    // Arrange
    const token = "webhook-token-1234";
    await (
      await adminCluster(kube)
    ).client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns.name}/secrets`,
      body: { metadata: { name: "hook-token" }, stringData: { token } },
    });
    const receivers = await mkdtemp(join(tmpdir(), "sluice-receiver-"));
    await writeFile(
      join(receivers, "receiver.yaml"),
      stringify({
        apiVersion: "notification.toolkit.fluxcd.io/v1",
        kind: "Receiver",
        metadata: { name: "github", namespace: ns.name },
        spec: {
          type: "github",
          events: ["push"],
          secretRef: { name: "hook-token" },
          resources: [{ kind: "GitRepository", name: "flux-system" }],
        },
      }),
    );
    await sluice("bootstrap", "dir", receivers);
    let path = "";
    await until("receiver ready", async () => {
      const stored = JSON.parse(
        (await execute("cat", [join(stateDir, "store", "Receiver", ns.name, "github.json")])).stdout,
      ) as { status?: { webhookPath?: string } };
      path = stored.status?.webhookPath ?? "";
      return path !== "";
    });
    const sha = await pushTree(git, `${ns.name}-fleet`, { files: { "clusters/dev/app.yaml": appYaml("warn") } });
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const post = (signature: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: "POST",
        body,
        headers: { "x-github-event": "push", "x-hub-signature-256": signature, "content-type": "application/json" },
      });
    // Act
    const refused = await post("sha256=0000");
    const accepted = await post(`sha256=${createHmac("sha256", token).update(body).digest("hex")}`);
    // Assess
    expect(refused.status).toBe(400);
    expect(accepted.status).toBe(202);
    await until("pushed revision applied", async () =>
      (await sluice("get", "kustomizations")).stdout.includes(`main@sha1:${sha}`),
    );
  });

  it("refuses a --watch-configs-label-selector the API server would not parse, naming the flag", async () => {
    const answer = await failing("run", "--watch-configs-label-selector", "team in (a");
    expect(answer.code).not.toBe(0);
    expect(answer.stderr).toContain("--watch-configs-label-selector: unable to parse label selector: 'team in (a'");
  });

  it("shuts down gracefully on SIGTERM", async () => {
    const exited = new Promise<number | null>((resolve) => control.once("exit", (code) => resolve(code)));
    control.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain("✔ stopped");
    expect(output).not.toContain(git.password);
  });
});
