import { readFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { statePaths } from "../../src/runtime/state-paths.js";
import { applyToStore } from "../../src/store/objects.js";
import { planeSuite, ready, storedStatus, until } from "../controllers/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { recordingServer, type RecordingServer } from "./recording-server.js";

// Alerts and Providers reconciled by the local control plane on the test bed's kube-apiserver, with
// events from real reconciles (a GitRepository and Kustomizations) delivered to a loopback server
// standing in for Slack and a generic webhook.

const { kube, git } = inject("testbed");
const logs: string[] = [];
const local = planeSuite(kube, git, {
  namespace: "alerts",
  log: pino(
    { level: "debug" },
    new Writable({ write: (c: Buffer, _e, done) => void (logs.push(c.toString()), done()) }),
  ),
});
const ns = () => local.namespace;
let server: RecordingServer;
beforeAll(async () => void (server = await recordingServer()));
afterAll(async () => server?.close());

const notification = (kind: "Alert" | "Provider", name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
  kind,
  metadata: { name, namespace: ns() },
  spec,
});
async function secret(name: string, stringData: Record<string, string>) {
  await local.admin.client.send({
    method: "POST",
    path: `/api/v1/namespaces/${ns()}/secrets`,
    body: { metadata: { name }, stringData },
  });
}
const readyOf = async (kind: string, name: string) => ready(await storedStatus(local.plane, kind, ns(), name));
const untilReadyIs = (kind: string, name: string, status: string) =>
  until(`${kind} ${name} Ready=${status}`, async () => {
    const condition = await readyOf(kind, name);
    return condition?.status === status && condition;
  });

/** A Git repository with `files` and its GitRepository and Kustomization `name` in the Store; the commit pushed. */
async function app(name: string, files: Record<string, string>): Promise<string> {
  const url = await createRepo(git, `${ns()}-${name}`);
  const commit = await pushTree(git, `${ns()}-${name}`, { files });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  await applyToStore(local.plane.runtime.store, {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: ns() },
    spec: {
      interval: "10m",
      path: "./deploy",
      prune: true,
      targetNamespace: ns(),
      sourceRef: { kind: "GitRepository", name },
    },
  });
  return commit;
}
const requestsTo = (path: string) =>
  server.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>);

describe(`Alert and Provider on kube-apiserver ${kube.version}, local runtime`, () => {
  it("a Provider whose secret is missing is not Ready, naming the secret; with it, Ready (Initialized)", async () => {
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "orphan", { type: "slack", secretRef: { name: "slack-url" } }),
    );
    const failed = await untilReadyIs("Provider", "orphan", "False");
    expect(failed.reason).toBe("ValidationFailed");
    expect(failed.message).toBe(`Provider/${ns()}/orphan: failed to get secret '${ns()}/slack-url': secret not found`);

    await secret("present-url", { address: `${server.url}/services/T/B/secret` });
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "present", { type: "slack", secretRef: { name: "present-url" } }),
    );
    const ok = await untilReadyIs("Provider", "present", "True");
    expect([ok.reason, ok.message]).toEqual(["Succeeded", "Initialized"]);
    expect(JSON.stringify(await storedStatus(local.plane, "Provider", ns(), "present"))).not.toContain(
      "/services/T/B/secret",
    );
  });

  it("a sentry Provider whose DSN has no key is not Ready, naming where the DSN is; with a key, Ready and the key kept out of its status", async () => {
    await secret("sentry-dsn", { address: "https://o1.ingest.sentry.io/1" });
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "keyless", { type: "sentry", secretRef: { name: "sentry-dsn" } }),
    );
    const failed = await untilReadyIs("Provider", "keyless", "False");
    expect([failed.reason, failed.message]).toEqual([
      "ValidationFailed",
      `Provider/${ns()}/keyless: invalid Sentry DSN in the 'address' key of secret '${ns()}/sentry-dsn': no public key: expected https://<key>@<host>/<project>`,
    ]);

    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "keyed", { type: "sentry", address: "https://5ecre7dsnkey@o1.ingest.sentry.io/1" }),
    );
    const ok = await untilReadyIs("Provider", "keyed", "True");
    expect([ok.reason, ok.message]).toEqual(["Succeeded", "Initialized"]);
    expect(JSON.stringify(await storedStatus(local.plane, "Provider", ns(), "keyed"))).not.toContain("5ecre7dsnkey");
  });

  it("an Alert whose Provider does not exist is not Ready; a Provider type Sluice does not deliver to is refused by name", async () => {
    await applyToStore(
      local.plane.runtime.store,
      notification("Alert", "lost", {
        providerRef: { name: "nowhere" },
        eventSources: [{ kind: "Kustomization", name: "*" }],
      }),
    );
    const lost = await untilReadyIs("Alert", "lost", "False");
    expect(lost.message).toBe(`Alert/${ns()}/lost: failed to read provider: Provider/${ns()}/nowhere not found`);

    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "pager", { type: "azureeventhub", address: "https://hub.example/1" }),
    );
    const refused = await untilReadyIs("Provider", "pager", "False");
    expect(refused.reason).toBe("UnsupportedField");
    expect(refused.message).toContain(`spec.type ("azureeventhub"): this provider type is not supported by Sluice yet`);
  });

  it("a failed Kustomization alerts Slack with its message and revision (and a generic webhook with the reason); an error-only Alert ignores info events", async () => {
    // Prepare: Slack (webhook URL in a Secret) for errors only, a generic webhook for everything.
    await secret("slack-hook", { address: `${server.url}/slack/T000/B000/XXXX` });
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "slack", { type: "slack", secretRef: { name: "slack-hook" } }),
    );
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "webhook", { type: "generic", address: `${server.url}/generic` }),
    );
    await applyToStore(
      local.plane.runtime.store,
      notification("Alert", "on-call", {
        providerRef: { name: "slack" },
        eventSeverity: "error",
        eventSources: [{ kind: "Kustomization", name: "*" }],
      }),
    );
    await applyToStore(
      local.plane.runtime.store,
      notification("Alert", "audit", {
        providerRef: { name: "webhook" },
        eventSources: [{ kind: "Kustomization", name: "*" }],
      }),
    );
    await untilReadyIs("Alert", "on-call", "True");
    await untilReadyIs("Alert", "audit", "True");

    // Act: one app that applies, one whose kustomization.yaml names a missing file.
    const good = await app("good", {
      "deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\ndata:\n  v: '1'\n",
    });
    const broken = await app("broken", { "deploy/kustomization.yaml": "resources:\n  - missing.yaml\n" });
    await untilReadyIs("Kustomization", "good", "True");
    await untilReadyIs("Kustomization", "broken", "False");
    await until("the webhook to get both Kustomizations' events", async () => requestsTo("/generic").length >= 2);
    await until("Slack to get the failure", async () => requestsTo("/slack/T000/B000/XXXX").length >= 1);

    // Assess
    const slack = requestsTo("/slack/T000/B000/XXXX");
    expect(slack).toHaveLength(1);
    const [attachment] = slack[0]!.attachments as {
      color: string;
      author_name: string;
      text: string;
      fields: unknown[];
    }[];
    expect(attachment?.color).toBe("danger");
    expect(attachment?.author_name).toBe(`kustomization/broken.${ns()}`);
    expect(attachment?.text).toContain("missing.yaml");
    expect(attachment?.fields).toContainEqual({ title: "revision", value: `main@sha1:${broken}`, short: false });
    const generic = requestsTo("/generic").map((e) => [
      (e.involvedObject as { name: string }).name,
      e.severity,
      e.reason,
      (e.metadata as Record<string, string>).revision,
    ]);
    expect(generic).toContainEqual(["broken", "error", "BuildFailed", `main@sha1:${broken}`]);
    expect(generic).toContainEqual(["good", "info", "ReconciliationSucceeded", `main@sha1:${good}`]);
  });

  it("an Alert whose pattern does not compile stalls naming it; no webhook URL from a Secret is in logs, events or statuses", async () => {
    await applyToStore(
      local.plane.runtime.store,
      notification("Alert", "bad-pattern", {
        providerRef: { name: "webhook" },
        eventSources: [{ kind: "Kustomization", name: "*" }],
        exclusionList: ["(unclosed"],
      }),
    );
    const stalled = await untilReadyIs("Alert", "bad-pattern", "False");
    expect(stalled.reason).toBe("InvalidSpec");
    expect(stalled.message).toContain('spec.exclusionList[0] "(unclosed"');

    const statuses = await Promise.all(
      (await local.plane.runtime.store.list({ namespace: ns() })).map((s) => JSON.stringify(s.object.status)),
    );
    const written = [...logs, await readFile(statePaths(local.plane.stateDir).events, "utf8"), ...statuses].join("\n");
    expect(written).toContain("slack");
    expect(written).not.toContain("/slack/T000/B000/XXXX");
    expect(written).not.toContain("/services/T/B/secret");
  });
});
