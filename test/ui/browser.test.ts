import { execFile, spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import axe from "axe-core";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import { readEvents } from "../../src/notify/file-events.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";
import { startKubelet, type Kubelet } from "../env/kubelet.js";
import { freePort } from "../env/process.js";
import { launchChromium, screenshotDir } from "./chromium.js";

// The web UI in Debian's headless Chromium against a real `sluice run` (kube-apiserver, Git server): what an operator
// sees first, the reason on the object's page, a reconcile asked from the page, the live health of applied objects,
// the fields a drift correction reverted (never a Secret's value), accessibility, and an attacker's markup in a
// message shown as text.

const execute = promisify(execFile);
const { kube, git } = inject("testbed");
// A Kustomization path is the repository author's to choose: here it carries markup into the Ready message.
const HOSTILE_PATH = `./missing/<img src=x onerror="window.xssRan=1">`;
// The Secret's value in Git, and what an attacker with cluster access changes it to: neither may reach the page.
const SECRET_VALUE = "s3cr3t-original-value";
const PLANTED_VALUE = "hijacked-planted-value";
const b64 = (text: string) => Buffer.from(text).toString("base64");
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
let kubelet: Kubelet;
let stateDir: string;
let store: FileStore;
let ns: { name: string; remove(): Promise<void> };
let control: ChildProcess;
let output = "";
let ui: string;
let context: BrowserContext;
let page: Page;
let shots: string;

const sluice = (...args: string[]) =>
  execute(process.execPath, [
    "bin/sluice.js",
    ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
    ...args,
  ]);

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; control plane said:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ready = async (name: string) =>
  (
    (await store.get({ kind: "Kustomization", namespace: ns.name, name }))?.object.status as
      { conditions?: { type: string; status: string }[] } | undefined
  )?.conditions?.find((c) => c.type === "Ready")?.status;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-ui-state-"));
  store = new FileStore(statePaths(stateDir).store);
  ns = await freshNamespace(kube, "ui");
  shots = await screenshotDir();
  const repo = `${ns.name}-fleet`;
  await createRepo(git, repo);
  const configMap = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${ns.name}\ndata:\n  level: info\n`;
  // apps/: a Deployment whose pods never get Ready (the kubelet stand-in crash-loops them), a ConfigMap and a Secret.
  const apps = [
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ${ns.name}\nspec:\n  progressDeadlineSeconds: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: registry.invalid/web:1.0\n`,
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  namespace: ${ns.name}\ndata:\n  level: info\n`,
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\n  namespace: ${ns.name}\ndata:\n  password: ${b64(SECRET_VALUE)}\n`,
  ].join("---\n");
  await pushTree(git, repo, { files: { "clusters/dev/app.yaml": configMap, "apps/web.yaml": apps } });
  kubelet = await startKubelet(kube, { namespaces: [ns.name], failing: (pod) => pod.metadata?.labels?.app === "web" });
  await sluice(
    ...["bootstrap", "git", "--url", `${git.baseUrl}/${repo}.git`, "--branch", "main", "--path", "clusters/dev"],
    ...["--username", git.username, "--password", git.password, "--allow-insecure-http"],
  );
  await sluice("create", "kustomization", "broken", "--source", "GitRepository/flux-system", "--path", HOSTILE_PATH);
  await sluice("create", "kustomization", "apps", "--source", "GitRepository/flux-system", "--path", "./apps");
  const uiPort = await freePort();
  control = spawn(
    process.execPath,
    [
      ...["bin/sluice.js", "run", "--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath],
      ...["--port", String(await freePort()), "--metrics-addr", "127.0.0.1:0", "--ui-address", `127.0.0.1:${uiPort}`],
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  control.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  control.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  ui = `http://127.0.0.1:${uiPort}`;
  await until("the UI's address announced", async () => output.includes(`web UI at ${ui}`));
  await until("flux-system Ready", async () => (await ready("flux-system")) === "True");
  await until("broken failing", async () => (await ready("broken")) === "False");
  await until("apps Ready", async () => (await ready("apps")) === "True");
  // bypassCSP lets axe-core be injected; it also means only the page's escaping stands between a message and script.
  context = await launchChromium({ bypassCSP: true });
  page = await context.newPage();
}, 180_000);

afterAll(async () => {
  await context?.close();
  control?.kill("SIGKILL");
  await kubelet?.stop();
  await ns?.remove();
});

async function accessibilityViolations(target: Page) {
  await target.evaluate(axe.source);
  // A string: it runs in the page, where axe-core now is.
  const result = (await target.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as axe.AxeResults;
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe(`the web UI in Chromium against sluice run (kube-apiserver ${kube.version})`, () => {
  it("the overview lists the failing Kustomization first, its attacker-written message shown as text", async () => {
    // Act
    await page.goto(`${ui}/?q=${ns.name}`);
    await page.locator("table.objects tbody tr").nth(2).waitFor();
    // Assert
    const first = page.locator("table.objects tbody tr").first();
    expect(await first.locator("th").innerText()).toBe(`${ns.name}/broken`);
    expect(await first.locator(".ready").innerText()).toContain("Failing");
    expect(await first.locator(".message").innerText()).toContain(`<img src=x onerror="window.xssRan=1">`);
    expect(await page.evaluate("window.xssRan")).toBeUndefined();
    expect(await page.locator("table.objects img").count()).toBe(0);
    await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });
  });

  it("the object page shows the Ready reason and message, and a deep link opens it directly", async () => {
    // Arrange
    const stored = await store.get({ kind: "Kustomization", namespace: ns.name, name: "broken" });
    const condition = (stored!.object.status as { conditions: { type: string; reason: string; message: string }[] })
      .conditions[0]!;
    // Act: a click from the overview, then the same URL pasted into a new tab
    await page.locator("table.objects tbody tr").first().locator("a.row-link").click();
    await page.locator("#object-title").waitFor();
    const url = page.url();
    const pasted = await context.newPage();
    await pasted.goto(url);
    await pasted.locator("[data-testid=ready-message]").waitFor();
    // Assert
    expect(url).toBe(`${ui}/objects/Kustomization/${ns.name}/broken`);
    expect(await pasted.locator("#object-title").innerText()).toBe(`Kustomization ${ns.name}/broken`);
    expect(await pasted.locator(".headline code").innerText()).toBe(condition.reason);
    expect(await pasted.locator("[data-testid=ready-message]").innerText()).toBe(condition.message);
    expect(await pasted.evaluate("window.xssRan")).toBeUndefined();
    await pasted.screenshot({ path: join(shots, "object-failing.png"), fullPage: true });
    // The field the message names links to that field, further down the page.
    await pasted.locator("[data-testid=ready-message] a", { hasText: "spec.path" }).click();
    await pasted.waitForURL(`${url}#field-spec.path`);
    const field = pasted.locator("[id='field-spec.path']");
    expect(await field.innerText()).toContain("./missing/<img");
    await until("the field scrolled into view", async () => (await field.boundingBox())!.y < 900);
    await pasted.close();
  });

  it("Reconcile on the page asks the control plane, which reconciles; the event names who asked", async () => {
    // Arrange
    await page.goto(`${ui}/objects/Kustomization/${ns.name}/flux-system`);
    await page.getByRole("button", { name: "Reconcile", exact: true }).waitFor();
    await page.locator(".graph svg").waitFor();
    // Act
    await page.getByRole("button", { name: "Reconcile", exact: true }).click();
    await page.locator(".actions output", { hasText: "requested" }).waitFor();
    // Assert: the annotation is set, and `sluice run` handles that very request
    const key = { kind: "Kustomization", namespace: ns.name, name: "flux-system" };
    const token = (await store.get(key))?.object.metadata.annotations?.[REQUESTED_AT];
    expect(token).toBeDefined();
    await until("the request handled", async () => {
      const status = (await store.get(key))?.object.status as { lastHandledReconcileAt?: string };
      return status.lastHandledReconcileAt === token;
    });
    const audit = (await readEvents(statePaths(stateDir).events)).find(
      (e) => e.reason === "ReconcileRequested" && e.involvedObject.name === "flux-system",
    );
    expect(audit?.message).toMatch(/^reconcile requested by \S+ from the web UI$/);
    // The page updates itself (no reload) with the audit event.
    await page.locator("td", { hasText: "ReconcileRequested" }).waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(shots, "object-ready.png"), fullPage: true });
  });

  it("a new object appears on the open overview without a reload (live updates)", async () => {
    // Arrange
    await page.goto(`${ui}/?q=${ns.name}`);
    await page.locator("table.objects tbody tr").nth(2).waitFor();
    // Act
    await sluice(
      "create",
      "kustomization",
      "later",
      "--source",
      "GitRepository/flux-system",
      "--path",
      "./clusters/dev",
    );
    // Assert
    await page.locator("table.objects a", { hasText: `${ns.name}/later` }).waitFor({ timeout: 30_000 });
  });

  it("the inventory shows each applied object's live health: the Deployment whose pods never get Ready Failed, with why", async () => {
    // Arrange
    await page.goto(`${ui}/objects/Kustomization/${ns.name}/apps`);
    const health = (kind: string, name: string) =>
      page.locator(`li[data-object="${kind}/${ns.name}/${name}"] [data-health]`);
    // Act: the page reads health when it opens; the rollout fails a few seconds later, so ask again until it has
    await until("the Deployment shown Failed", async () => {
      if ((await health("Deployment", "web").count()) === 0) return false;
      if ((await health("Deployment", "web").getAttribute("data-health")) === "Failed") return true;
      const again = page.getByRole("button", { name: "Check health again" });
      if ((await again.count()) > 0 && (await again.isEnabled())) await again.click();
      return false;
    });
    // Assert
    expect(await health("Deployment", "web").innerText()).toContain("Failed Progress deadline exceeded");
    expect(await health("ConfigMap", "web-settings").getAttribute("data-health")).toBe("Current");
    expect(await health("Secret", "web-db").getAttribute("data-health")).toBe("Current");
    expect(await page.locator("[data-testid=health-note]").innerText()).toContain(
      "Health read from the cluster as the connecting identity",
    );
    expect(await page.locator('.graph g.node[data-health="Failed"]').count()).toBe(1);
    // Health and a message only: no object's content (its image, the Secret's value) comes through the API.
    const answer = await (await fetch(`${ui}/api/v1/objects/Kustomization/${ns.name}/apps/health`)).text();
    expect(answer).toContain('"status":"Failed"');
    expect(answer).not.toContain("registry.invalid");
    expect(answer).not.toContain(b64(SECRET_VALUE));
    await page.screenshot({ path: join(shots, "object-health.png"), fullPage: true });
  });

  it("a drift (edits made in the cluster) corrected by the next reconcile shows the reverted fields, a Secret's never its values", async () => {
    // Arrange: kubectl edit of the ConfigMap; the Secret's password changed and its value copied into kubectl's
    // last-applied annotation (which the correction removes)
    const core = adminKubeConfig(kube).makeApiClient(CoreV1Api);
    const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const namespace = ns.name;
    await core.patchNamespacedConfigMap(
      { name: "web-settings", namespace, fieldManager: "kubectl-edit", body: { data: { level: "debug" } } },
      mergePatch,
    );
    const lastApplied = JSON.stringify({ data: { password: b64(SECRET_VALUE) } });
    await core.patchNamespacedSecret(
      {
        name: "web-db",
        namespace,
        fieldManager: "kubectl-edit",
        body: { metadata: { annotations: { [LAST_APPLIED]: lastApplied } }, data: { password: b64(PLANTED_VALUE) } },
      },
      mergePatch,
    );
    // Act
    await sluice("reconcile", "kustomization", "apps");
    const events = statePaths(stateDir).events;
    await until("the drift correction's event", async () =>
      (await readEvents(events)).some((e) => e.involvedObject.name === "apps" && e.drift),
    );
    await page.goto(`${ui}/objects/Kustomization/${ns.name}/apps`);
    const configMap = page.locator(`table[data-subject="ConfigMap/${ns.name}/web-settings"]`);
    const secret = page.locator(`table[data-subject="Secret/${ns.name}/web-db"]`);
    await configMap.waitFor();
    // Assert
    const cells = async (table: typeof configMap, field: string) =>
      table
        .locator("tbody tr", { has: page.locator("th", { hasText: field }) })
        .locator("td")
        .allInnerTexts();
    expect(await cells(configMap, "data.level")).toEqual(['"debug"', '"info"']);
    expect(await cells(secret, "data.password")).toEqual(["(hidden)", "(hidden)"]);
    expect(await cells(secret, LAST_APPLIED)).toEqual(["(hidden)", "(removed)"]);
    const live = await core.readNamespacedConfigMap({ name: "web-settings", namespace });
    expect(live.data?.level).toBe("info");
    // Neither the value in Git nor the planted one, in any spelling, on the page, in the API or in the events log.
    const detail = await (await fetch(`${ui}/api/v1/objects/Kustomization/${ns.name}/apps`)).text();
    const seen = [await page.content(), detail, JSON.stringify(await readEvents(events))].join("\n");
    for (const value of [SECRET_VALUE, PLANTED_VALUE, b64(SECRET_VALUE), b64(PLANTED_VALUE), b64(lastApplied)])
      expect(seen).not.toContain(value);
    expect(seen).not.toContain("s3cr3t");
    await page.screenshot({ path: join(shots, "object-drift.png"), fullPage: true });
  });

  it("sources and clusters pages render, and axe-core finds no serious violations, light or dark", async () => {
    const dark = await launchChromium({ dark: true, bypassCSP: true });
    try {
      for (const [name, path] of [
        ["overview", "/"],
        ["object", `/objects/Kustomization/${ns.name}/broken`],
        ["object-apps", `/objects/Kustomization/${ns.name}/apps`],
        ["sources", "/sources"],
        ["clusters", "/clusters"],
      ] as const) {
        for (const [scheme, target] of [
          ["light", page],
          ["dark", await dark.newPage()],
        ] as const) {
          await target.goto(`${ui}${path}`);
          await target.locator("main h1").waitFor();
          await target.locator("[aria-busy]").waitFor({ state: "detached" });
          expect(await accessibilityViolations(target), `${name} (${scheme})`).toEqual([]);
          await target.screenshot({ path: join(shots, `${name}-${scheme}.png`), fullPage: true });
        }
      }
      await page.goto(`${ui}/sources`);
      const source = page.locator("table tbody tr", { hasText: `${ns.name}/flux-system` });
      expect(await source.locator(".revision").innerText()).toMatch(/^main@sha1:[0-9a-f]{40}$/);
    } finally {
      await dark.close();
    }
  }, 240_000);

  it("the served page forbids inline script, and the server refuses a cross-origin action and a rebinding Host", async () => {
    // Act
    const html = await fetch(`${ui}/`);
    const crossOrigin = await fetch(`${ui}/api/v1/objects/Kustomization/${ns.name}/flux-system/suspend`, {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: "x=1",
    });
    const rebound = await new Promise<number>((resolve, reject) =>
      request(`${ui}/api/v1/objects`, { headers: { host: `rebind.example:${new URL(ui).port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
        .on("error", reject)
        .end(),
    );
    // Assert
    expect(html.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(crossOrigin.status).toBe(403);
    expect(rebound).toBe(421);
    const spec = (await store.get({ kind: "Kustomization", namespace: ns.name, name: "flux-system" }))?.object.spec;
    expect((spec as { suspend?: boolean }).suspend).toBeUndefined();
  });
});
