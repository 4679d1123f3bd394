import { beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { ConflictError } from "../../src/store/store.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { publishChart, tinyChart } from "../env/charts.js";
import { configMap } from "../apply/helpers.js";
import { planeSuite, ready, storedStatus, until, type FluxStatus } from "./helpers.js";

// Flux's dependsOn[].readyExpr (a CEL expression over `self` and `dep` replacing the built-in readiness check) for
// Kustomizations and HelmReleases, and kustomize-controller's revision check of a dependency on the same source.

const { kube, git, helmRepo } = inject("testbed");
const events: FluxEvent[] = [];
const suite = planeSuite(kube, git, {
  namespace: "ready-expr",
  onEvent: (e) => events.push(e),
  settings: { dependencyRequeueMs: 2_000 },
});
const ns = () => suite.namespace;
let serial = 0;

const yamlOf = (...objects: KubeObject[]) => objects.map((o) => stringify(o)).join("---\n");
const READY_FALSE = "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')";
const TERMINAL = "Reconciliation failed terminally due to configuration error";

/** A Git repository with `files` and its GitRepository; `push` commits new files and fetches them at once. */
async function source(files: Record<string, string>) {
  const name = `repo-${serial++}`;
  const url = await createRepo(git, `${ns()}-${name}`);
  await pushTree(git, `${ns()}-${name}`, { files });
  await put("source.toolkit.fluxcd.io/v1", "GitRepository", name, {
    interval: "1m",
    url,
    ref: { branch: "main" },
    secretRef: { name: "git-auth" },
  });
  const push = async (next: Record<string, string>) => {
    await pushTree(git, `${ns()}-${name}`, { files: next });
    await suite.plane.queue.enqueue({ key: `GitRepository/${ns()}/${name}`, reason: "webhook" });
  };
  return { name, push };
}

const { put } = suite;

function kustomization(name: string, repo: string, spec: Record<string, unknown>) {
  return put("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, {
    interval: "10m",
    prune: true,
    targetNamespace: ns(),
    sourceRef: { kind: "GitRepository", name: repo },
    ...spec,
  });
}

const statusOf = (kind: string, name: string) => storedStatus(suite.plane, kind, ns(), name);
const untilReady = (kind: string, name: string, reason: string, check: (s: FluxStatus) => boolean = () => true) =>
  until(`${kind} ${name} Ready (${reason})`, async () => {
    const status = await statusOf(kind, name);
    return ready(status)?.reason === reason && check(status) && status;
  });
const stalled = (status: FluxStatus) => status.conditions?.find((c) => c.type === "Stalled");

async function liveConfigMap(name: string): Promise<KubeObject | undefined> {
  return getObject(suite.admin, (await suite.admin.discovery.find("v1", "ConfigMap"))!, ns(), name);
}

/** Writes an object's status in the Store as its controller would (retrying a lost race). */
async function writeStatus(kind: string, name: string, status: Record<string, unknown>) {
  for (;;) {
    const stored = (await suite.plane.runtime.store.get({ kind, namespace: ns(), name }))!;
    try {
      return await suite.plane.runtime.store.update({ ...stored.object, status }, stored.version);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}

describe("Kustomization dependsOn: readyExpr and the dependency's revision", () => {
  let repo: Awaited<ReturnType<typeof source>>;
  beforeAll(async () => {
    repo = await source({
      "infra/a.yaml": yamlOf(configMap("infra-a", { a: "1" })),
      ...Object.fromEntries(
        ["eager", "picky", "greedy", "bystander", "lost"].map((app) => [
          `${app}/cm.yaml`,
          yamlOf(configMap(`${app}-cm`, { app })),
        ]),
      ),
    });
    await kustomization("infra", repo.name, { path: "./infra" });
    await kustomization("broken", repo.name, { path: "./not-there" });
    await untilReady("Kustomization", "infra", "ReconciliationSucceeded");
    await until(
      "Kustomization broken not Ready",
      async () => ready(await statusOf("Kustomization", "broken"))?.status === "False",
    );
  });

  it("a readyExpr that holds starts the dependent while its dependency is not Ready (the built-in check is skipped)", async () => {
    // Act
    await kustomization("eager", repo.name, {
      path: "./eager",
      dependsOn: [{ name: "broken", readyExpr: `${READY_FALSE} && self.metadata.name == 'eager'` }],
    });
    // Assess
    await untilReady("Kustomization", "eager", "ReconciliationSucceeded");
    expect((await liveConfigMap("eager-cm"))?.data).toEqual({ app: "eager" });
  });

  it("a readyExpr that is false holds the dependent while its dependency is Ready, until the expression changes", async () => {
    // Act
    await kustomization("picky", repo.name, {
      path: "./picky",
      dependsOn: [{ name: "infra", readyExpr: "dep.metadata.generation > 1" }],
    });
    const held = await untilReady("Kustomization", "picky", "DependencyNotReady");
    const applied = await liveConfigMap("picky-cm");
    await kustomization("picky", repo.name, {
      path: "./picky",
      dependsOn: [{ name: "infra", readyExpr: "dep.metadata.generation == 1 && dep.metadata.name == 'infra'" }],
    });
    // Assess
    expect(ready(held)?.message).toBe(`dependency '${ns()}/infra' is not ready according to readyExpr eval`);
    expect(stalled(held)).toBeUndefined();
    expect(applied).toBeUndefined();
    await untilReady("Kustomization", "picky", "ReconciliationSucceeded");
  });

  it.each([
    ["a syntax error", "dep.status.conditions.exists(c, c.type == 'Ready'", "failed to parse the CEL expression '"],
    ["a variable other than self and dep", "secrets.data.token == 'x'", "Unknown variable: secrets"],
    [
      "an expression that is not a bool",
      "dep.spec.suspend",
      "CEL expression output type mismatch: expected bool, got dyn",
    ],
  ])("%s stalls the dependent: InvalidCELExpression, terminal, with an error event", async (_case, readyExpr, says) => {
    // Act
    const name = `invalid-${serial++}`;
    await kustomization(name, repo.name, { path: "./lost", dependsOn: [{ name: "infra", readyExpr }] });
    const status = await untilReady("Kustomization", name, "InvalidCELExpression");
    // Assess
    const message = ready(status)!.message;
    expect(message.startsWith(`${TERMINAL}: terminal error: failed to evaluate dependency infra: `)).toBe(true);
    expect(message).toContain(says);
    expect(stalled(status)).toMatchObject({ status: "True", reason: "InvalidCELExpression", message });
    // The event follows the status write, so it may arrive a moment later.
    const invalid = (e: FluxEvent) => e.involvedObject.name === name && e.reason === "InvalidCELExpression";
    const event = await until("the InvalidCELExpression event", async () => events.find(invalid));
    expect(event).toMatchObject({ severity: "error", message });
  });

  it("an evaluation error (a field the dependency lacks) is retried as DependencyNotReady, as in Flux, not stalled", async () => {
    // Act
    const readyExpr = "dep.status.lastHandledReconcileAt == 'now'";
    await kustomization("missing-field", repo.name, { path: "./lost", dependsOn: [{ name: "infra", readyExpr }] });
    const status = await untilReady("Kustomization", "missing-field", "DependencyNotReady");
    // Assess
    expect(ready(status)?.message).toBe(
      `failed to evaluate the CEL expression '${readyExpr}': No such key: lastHandledReconcileAt`,
    );
    expect(stalled(status)).toBeUndefined();
  });

  it("an expression built to be expensive is cut off at its deadline while the plane goes on reconciling others", async () => {
    // Arrange: a billion iterations, minutes of one CPU if left alone
    const thousand = `[${Array.from({ length: 1000 }, (_, i) => i).join(",")}]`;
    const readyExpr = `${thousand}.all(a, ${thousand}.all(b, ${thousand}.all(c, a + b + c >= 0)))`;
    // Act
    await kustomization("greedy", repo.name, { path: "./greedy", dependsOn: [{ name: "infra", readyExpr }] });
    await kustomization("bystander", repo.name, { path: "./bystander" });
    const greedy = await untilReady("Kustomization", "greedy", "DependencyNotReady");
    await untilReady("Kustomization", "bystander", "ReconciliationSucceeded");
    // Assess
    expect(ready(greedy)?.message).toBe(`failed to evaluate the CEL expression '${readyExpr}': took longer than 200ms`);
    expect(await liveConfigMap("greedy-cm")).toBeUndefined();
  });

  it("a dependency Ready at an older revision of the same source holds the dependent until it applied the new one", async () => {
    // Arrange: the dependency's controller has not caught up yet (suspended here, its status written as it left it)
    const shared = await source({
      "base/cm.yaml": yamlOf(configMap("base-cm", { v: "1" })),
      "app/cm.yaml": yamlOf(configMap("app-cm", { v: "1" })),
    });
    const artifactRevision = async () =>
      ((await statusOf("GitRepository", shared.name)) as { artifact?: { revision: string } }).artifact?.revision;
    const first = await until("the first artifact", artifactRevision);
    await kustomization("base", shared.name, { path: "./base", suspend: true });
    const readyAt = (revision: string) => ({
      observedGeneration: 1,
      lastAppliedRevision: revision,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "ReconciliationSucceeded",
          message: `Applied revision: ${revision}`,
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    });
    await writeStatus("Kustomization", "base", readyAt(first));
    await kustomization("app", shared.name, { path: "./app", dependsOn: [{ name: "base" }] });
    await untilReady("Kustomization", "app", "ReconciliationSucceeded", (s) => s.lastAppliedRevision === first);
    // Act: a new revision of the shared source
    await shared.push({
      "base/cm.yaml": yamlOf(configMap("base-cm", { v: "2" })),
      "app/cm.yaml": yamlOf(configMap("app-cm", { v: "2" })),
    });
    const second = await until("the second artifact", async () => {
      const revision = await artifactRevision();
      return revision !== first && revision;
    });
    const held = await untilReady("Kustomization", "app", "DependencyNotReady");
    // A readyExpr replaces the revision check too, as in Flux.
    await kustomization("app-by-expr", shared.name, {
      path: "./app",
      nameSuffix: "-by-expr",
      dependsOn: [
        { name: "base", readyExpr: "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')" },
      ],
    });
    const byExpr = await untilReady("Kustomization", "app-by-expr", "ReconciliationSucceeded");
    // A dependent on another source does not compare revisions.
    await kustomization("elsewhere", repo.name, {
      path: "./bystander",
      nameSuffix: "-elsewhere",
      dependsOn: [{ name: "base" }],
    });
    await untilReady("Kustomization", "elsewhere", "ReconciliationSucceeded");
    const stillOld = (await liveConfigMap("app-cm"))?.data;
    await writeStatus("Kustomization", "base", readyAt(second));
    // Assess
    expect(ready(held)?.message).toBe(`dependency '${ns()}/base' revision is not up to date`);
    expect(stillOld).toEqual({ v: "1" });
    expect(byExpr.lastAppliedRevision).toBe(second);
    await untilReady("Kustomization", "app", "ReconciliationSucceeded", (s) => s.lastAppliedRevision === second);
    expect((await liveConfigMap("app-cm"))?.data).toEqual({ v: "2" });
  });
});

describe("HelmRelease dependsOn: readyExpr", () => {
  const CHART = "readyexpr-chart";
  beforeAll(async () => {
    await publishChart(helmRepo, await tinyChart(CHART, "1.0.0"));
    await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "charts", { interval: "5m", url: helmRepo.url });
  });
  const release = (name: string, version: string, dependsOn?: unknown[]) =>
    put("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, {
      interval: "5m",
      chart: { spec: { chart: CHART, version, sourceRef: { kind: "HelmRepository", name: "charts" } } },
      ...(dependsOn && { dependsOn }),
    });

  it("starts on a readyExpr while its dependency is not Ready; a false one holds it; one that does not compile stalls it", async () => {
    // Arrange: a dependency that cannot become Ready (no such chart version)
    await release("no-such-version", "9.9.9");
    await until("HelmRelease no-such-version not Ready", async () => {
      return ready(await statusOf("HelmRelease", "no-such-version"))?.status === "False";
    });
    // Act
    await release("eager-hr", "1.0.0", [{ name: "no-such-version", readyExpr: READY_FALSE }]);
    await release("picky-hr", "1.0.0", [
      { name: "no-such-version", readyExpr: "dep.spec.chart.spec.version == '1.0.0'" },
    ]);
    await release("typo-hr", "1.0.0", [{ name: "no-such-version", readyExpr: "dep.status.conditions.exists(" }]);
    // Assess
    await until(
      "HelmRelease eager-hr Ready",
      async () => ready(await statusOf("HelmRelease", "eager-hr"))?.status === "True",
    );
    expect(await liveConfigMap("eager-hr-config")).toBeDefined();
    const picky = await untilReady("HelmRelease", "picky-hr", "DependencyNotReady");
    expect(ready(picky)?.message).toBe(`dependency '${ns()}/no-such-version' is not ready according to readyExpr eval`);
    const typo = await untilReady("HelmRelease", "typo-hr", "InvalidCELExpression");
    const terminal =
      "terminal error: failed to evaluate dependency no-such-version: failed to parse the CEL expression";
    expect(ready(typo)?.message).toMatch(new RegExp(`^${TERMINAL}: ${terminal}`));
    expect(stalled(typo)).toMatchObject({ status: "True", reason: "InvalidCELExpression" });
    // helm-controller's event carries the terminal error alone, without the condition's prefix.
    const invalid = (e: FluxEvent) => e.involvedObject.name === "typo-hr" && e.reason === "InvalidCELExpression";
    const event = await until("the HelmRelease's InvalidCELExpression event", async () => events.find(invalid));
    expect(event?.message).toMatch(new RegExp(`^${terminal}`));
    expect(await liveConfigMap("picky-hr-config")).toBeUndefined();
    expect(await liveConfigMap("typo-hr-config")).toBeUndefined();
  });
});
