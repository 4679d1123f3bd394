import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { publishChart, tinyChart } from "../env/charts.js";
import { freshNamespace } from "../env/kube-client.js";
import { freePort } from "../env/process.js";

// The HelmRelease commands against `sluice run` reconciling for real: a chart published to the test
// bed's Helm repository, installed into its kube-apiserver, reconciled on request.

const execute = promisify(execFile);
const { kube, helmRepo } = inject("testbed");
let stateDir: string;
let ns: { name: string; remove(): Promise<void> };
let control: ChildProcess;
let output = "";

const sluice = (...args: string[]) =>
  execute(process.execPath, [
    "bin/sluice.js",
    ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name, "--timeout", "2m"],
    ...args,
  ]).catch((error: { stderr?: string }) => {
    throw new Error(`sluice ${args.join(" ")}: ${error.stderr}\ncontrol plane said:\n${output}`);
  });

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; control plane said:\n${output}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-hr-run-"));
  ns = await freshNamespace(kube, "cli-hr-run");
  const port = String(await freePort());
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
      port,
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

describe(`sluice … helmrelease with sluice run, kube-apiserver ${kube.version}`, () => {
  it("create hr installs the chart; reconcile hr --with-source --force reports the applied revision; get and debug show it", async () => {
    // Arrange
    const chart = `${ns.name}-web`;
    await publishChart(helmRepo, await tinyChart(chart, "1.0.0"));
    await sluice("create", "source", "helm", "charts", "--url", helmRepo.url, "--interval", "10m");
    // Act
    await sluice("create", "hr", "web", "--source", "HelmRepository/charts", "--chart", chart, "--interval", "10m");
    await until("the release installed", async () =>
      /\nweb\s+1\.0\.0\s+False\s+True/.test((await sluice("get", "hr")).stdout),
    );
    const reconciled = await sluice("reconcile", "hr", "web", "--with-source", "--force");
    const table = await sluice("get", "hr", "web");
    const history = await sluice("debug", "hr", "web", "--show-history");
    // Assess
    expect(reconciled.stderr).toContain(`► annotating HelmRepository charts in ${ns.name} namespace`);
    expect(reconciled.stderr).toContain(`► annotating HelmChart ${ns.name}-web in ${ns.name} namespace`);
    expect(reconciled.stderr).toContain("✔ applied revision 1.0.0");
    expect(table.stdout).toMatch(/\nweb\s+1\.0\.0\s+False\s+True\s+/);
    expect(history.stdout).toMatch(/^# History documentation: .*\n- /);
    expect(history.stdout).toContain(`  chartName: ${chart}\n`);
  });
});
