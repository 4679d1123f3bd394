import { Writable } from "node:stream";
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import type { FluxEvent } from "../../src/notify/events.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { testHelm } from "../env/charts.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { PODINFO } from "../env/podinfo.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

// Flux's config watchers in `sluice run`: a ConfigMap or Secret labelled reconcile.fluxcd.io/watch=Enabled that
// changes reconciles the HelmReleases and Kustomizations reading it at once, long before their one-hour interval;
// an unlabelled one waits for the interval. Real kube-apiserver, podinfo's chart from the Helm repository, Helm's own
// storage read back with helm.

const { kube, git, helmRepo } = inject("testbed");
const logs: string[] = [];
const events: FluxEvent[] = [];
const suite = planeSuite(kube, git, {
  namespace: "config-watch",
  log: pino(
    { level: "debug" },
    new Writable({ write: (chunk: Buffer, _e, done) => void (logs.push(chunk.toString()), done()) }),
  ),
  onEvent: (e) => events.push(e),
});
const ns = () => suite.namespace;
const WATCHED = { "reconcile.fluxcd.io/watch": "Enabled" };
/** A value only a Secret holds: it must never show in a log line or event. */
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}`;

beforeAll(async () => {
  await put("source.toolkit.fluxcd.io/v1", "HelmRepository", "podinfo", { interval: "1h", url: helmRepo.url });
});

const { put } = suite;

async function create(resource: "configmaps" | "secrets", body: KubeObject) {
  await suite.admin.client.send({ method: "POST", path: `/api/v1/namespaces/${ns()}/${resource}`, body });
}

async function patch(resource: "configmaps" | "secrets", name: string, body: unknown) {
  await suite.admin.client.send({
    method: "PATCH",
    path: `/api/v1/namespaces/${ns()}/${resource}/${name}`,
    body,
    contentType: "application/merge-patch+json",
  });
}

async function helmHistory(release: string): Promise<{ revision: number; description: string }[]> {
  const { stdout } = await testHelm([
    "history",
    release,
    "-n",
    ns(),
    "-o",
    "json",
    "--kubeconfig",
    kube.kubeconfigPath,
  ]);
  return JSON.parse(stdout);
}

async function podAnnotations(release: string): Promise<Record<string, string> | undefined> {
  const deployment = await suite.admin.client.send<{
    spec: { template: { metadata: { annotations?: Record<string, string> } } };
  }>({ method: "GET", path: `/apis/apps/v1/namespaces/${ns()}/deployments/${release}-podinfo` });
  return deployment.spec.template.metadata.annotations;
}

const untilReady = (kind: string, name: string) =>
  until(
    `${kind} ${name} Ready`,
    async () => ready(await storedStatus(suite.plane, kind, ns(), name))?.status === "True",
  );

/** A podinfo release (no replicas: nothing to schedule) taking its values from ConfigMap `<name>-values`, hourly. */
async function release(name: string, labels?: Record<string, string>) {
  await create("configmaps", {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `${name}-values`, labels },
    data: { "values.yaml": stringify({ podAnnotations: { color: "blue" } }) },
  });
  await put("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, {
    interval: "1h",
    chart: {
      spec: { chart: PODINFO.chart, version: PODINFO.version, sourceRef: { kind: "HelmRepository", name: "podinfo" } },
    },
    values: { replicaCount: 0 },
    valuesFrom: [{ kind: "ConfigMap", name: `${name}-values` }],
    timeout: "30s",
  });
}

describe(`config watch: labelled ConfigMaps and Secrets wake their users, kube-apiserver ${kube.version}`, () => {
  it("upgrades a HelmRelease within seconds of its labelled valuesFrom ConfigMap changing; an unlabelled one waits", async () => {
    await release("watched", WATCHED);
    await release("unwatched");
    await untilReady("HelmRelease", "watched");
    await untilReady("HelmRelease", "unwatched");
    expect(await helmHistory("watched")).toHaveLength(1);

    const changed = stringify({ podAnnotations: { color: "green" } });
    const started = Date.now();
    await patch("configmaps", "unwatched-values", { data: { "values.yaml": changed } });
    await patch("configmaps", "watched-values", { data: { "values.yaml": changed } });
    // Helm records revision 2 (pending-upgrade) before it applies it: wait for what it applied.
    await until(
      "the watched release's new values applied",
      async () => (await podAnnotations("watched"))?.color === "green",
      20_000,
    );
    const upgradedMs = Date.now() - started;
    expect((await helmHistory("watched")).map((h) => h.revision)).toEqual([1, 2]);
    expect(upgradedMs).toBeLessThan(15_000);
    console.log(`labelled ConfigMap change → Helm revision 2 applied: ${upgradedMs} ms`);

    // The unlabelled ConfigMap's release stays as it was: it would see the change at its interval, an hour away.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await helmHistory("unwatched")).toHaveLength(1);
    expect((await podAnnotations("unwatched"))?.color).toBe("blue");
  });

  it("re-substitutes a Kustomization when its labelled substituteFrom Secret changes, its data kept out of logs and events", async () => {
    const repo = `${ns()}-substituted`;
    const url = await createRepo(git, repo);
    const greeting = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "greeting" },
      data: { text: "${greeting}" },
    };
    await pushTree(git, repo, { files: { "deploy/greeting.yaml": stringify(greeting) } });
    await create("secrets", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "vars", labels: WATCHED },
      stringData: { greeting: "hello", password: PASSWORD },
    });
    await put("source.toolkit.fluxcd.io/v1", "GitRepository", "substituted", {
      interval: "1h",
      url,
      ref: { branch: "main" },
      secretRef: { name: "git-auth" },
    });
    await put("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "substituted", {
      interval: "1h",
      path: "./deploy",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name: "substituted" },
      postBuild: { substituteFrom: [{ kind: "Secret", name: "vars" }] },
    });
    await untilReady("Kustomization", "substituted");
    const live = async () =>
      (
        await suite.admin.client.send<{ data: { text: string } }>({
          method: "GET",
          path: `/api/v1/namespaces/${ns()}/configmaps/greeting`,
        })
      ).data.text;
    expect(await live()).toBe("hello");

    const started = Date.now();
    await patch("secrets", "vars", { stringData: { greeting: "bonjour", password: `${PASSWORD}-rotated` } });
    await until("the re-substituted ConfigMap", async () => (await live()) === "bonjour", 15_000);
    console.log(`labelled Secret change → re-substituted object applied: ${Date.now() - started} ms`);

    const written = [...logs, JSON.stringify(events), await readFile(statePaths(suite.plane.stateDir).events, "utf8")];
    for (const text of written) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(Buffer.from(PASSWORD).toString("base64").slice(0, 12));
    }
    expect(logs.some((l) => l.includes("changed: reconciling its users") && l.includes(`Secret/${ns()}/vars`))).toBe(
      true,
    );
  });

  it("a user is known while its first reconcile runs, so a change made meanwhile wakes it again", async () => {
    const repo = `${ns()}-first`;
    const url = await createRepo(git, repo);
    const note = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "note" }, data: { text: "${note}" } };
    await pushTree(git, repo, { files: { "deploy/note.yaml": stringify(note) } });
    await create("configmaps", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "first-vars", labels: WATCHED },
      data: { note: "one" },
    });
    await put("source.toolkit.fluxcd.io/v1", "GitRepository", "first", {
      interval: "1h",
      url,
      ref: { branch: "main" },
      secretRef: { name: "git-auth" },
    });
    await untilReady("GitRepository", "first");
    const key = `Kustomization/${ns()}/first`;
    const vars = { kind: "ConfigMap", namespace: ns(), name: "first-vars" };
    await put("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "first", {
      interval: "1h",
      path: "./deploy",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name: "first" },
      postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "first-vars" }] },
    });
    // Its first reconcile runs: the index names it as the ConfigMap's user before it has applied anything.
    const liveNote = () =>
      suite.admin.client
        .send<{ data: { text: string } }>({ method: "GET", path: `/api/v1/namespaces/${ns()}/configmaps/note` })
        .catch(() => undefined);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const known = (await suite.plane.runtime.dependents.of(vars)).includes(key);
      const applied = (await liveNote()) !== undefined;
      if (known && !applied) break;
      if (applied) throw new Error(`${key} applied before the index knew it reads ${vars.name}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${key} to run`);
      await new Promise((r) => setTimeout(r, 2));
    }
    await patch("configmaps", "first-vars", { data: { note: "two" } });
    await until("a reconcile for the change", async () =>
      logs.some(
        (l) => l.includes(`"object":"${key}"`) && l.includes('"reason":"config"') && l.includes('"reconciled"'),
      ),
    );
    let verdict: unknown;
    await until(
      () => `the changed note applied; Ready: ${JSON.stringify(verdict)}`,
      async () => {
        verdict = ready(await storedStatus(suite.plane, "Kustomization", ns(), "first"));
        return (await liveNote())?.data.text === "two";
      },
    );
  });
});
