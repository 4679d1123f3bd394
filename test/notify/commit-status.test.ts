import { createHash } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { provider as providerSchema } from "../../src/api/provider.js";
import { AlertingEvents } from "../../src/notify/alert-dispatch.js";
import type { Events, FluxEvent } from "../../src/notify/events.js";
import type { ProviderRequest } from "../../src/notify/payloads.js";
import { providerUid } from "../../src/notify/providers/commit-status-rules.js";
import { deliveryFor } from "../../src/notify/providers/registry.js";
import { systemClock } from "../../src/ports/clock.js";
import type { Secrets } from "../../src/secrets/secrets.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore } from "../../src/store/objects.js";
import { recordingServer, type RecordingServer } from "./recording-server.js";

// Contract tests of commit status delivery: the requests each forge's API receives, recorded by a
// loopback server scripted with the forge's answers, checked against the forge's API reference (named
// in each test) and notification-controller v1.9.3's notifiers (internal/notifier/{github,gitlab,gitea,
// bitbucketserver}.go). A real Store on disk and a real HTTP server; only the Secrets are in-process.

const NS = "apps";
const SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
const TOKEN = "ghp_secretToken0123456789";
let server: RecordingServer;
let store: FileStore;
let secretData: Record<string, Record<string, string>>;
let recorded: FluxEvent[];
let logs: string[];
let events: AlertingEvents;

const secrets: Secrets = {
  secret: async ({ namespace, name }) => secretData[`${namespace}/${name}`],
  configMap: async () => undefined,
};

beforeEach(async () => {
  server = await recordingServer();
  store = new FileStore(await mkdtemp(join(tmpdir(), "sluice-commit-status-")));
  secretData = { [`${NS}/forge`]: { token: TOKEN } };
  recorded = [];
  logs = [];
  const sink: Events = { emit: async (e) => void recorded.push(e) };
  const log = pino(
    { level: "debug" },
    new Writable({ write: (c: Buffer, _e, done) => void (logs.push(c.toString()), done()) }),
  );
  events = new AlertingEvents(sink, {
    store,
    secrets,
    clock: systemClock,
    log,
    network: { allowPrivateNetworks: true },
    noCrossNamespaceRefs: false,
  });
});
afterEach(async () => {
  await events.drain();
  await server.close();
});

function providerObject(spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Provider",
    metadata: { name: "forge", namespace: NS },
    spec: { secretRef: { name: "forge" }, ...spec },
  };
}
async function register(spec: Record<string, unknown>, alertSpec: Record<string, unknown> = {}) {
  await applyToStore(store, providerObject(spec));
  await applyToStore(store, {
    apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
    kind: "Alert",
    metadata: { name: "status", namespace: NS },
    spec: {
      providerRef: { name: "forge" },
      eventSources: [
        { kind: "Kustomization", name: "*" },
        { kind: "GitRepository", name: "*" },
      ],
      ...alertSpec,
    },
  });
}
/** Flux's default key: `<kind>/<name>/<first part of the Provider's UID>`, lower-cased. */
const defaultKey = () =>
  `kustomization/podinfo/${providerUid(providerSchema.parse(providerObject({ type: "github" }))).split("-")[0]}`;

function event(overrides: Partial<FluxEvent> = {}): FluxEvent {
  return {
    involvedObject: {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      namespace: NS,
      name: "podinfo",
    },
    severity: "info",
    reason: "ReconciliationSucceeded",
    message: "Deployment/apps/podinfo configured",
    metadata: { revision: `main@sha1:${SHA}` },
    reportingController: "kustomize-controller",
    timestamp: "2026-12-01T10:00:00.123Z",
    ...overrides,
  };
}
/** Emits each event and waits for its delivery before the next (the server's script answers in order). */
async function send(...list: FluxEvent[]) {
  for (const e of list) {
    await events.emit(e);
    await events.drain();
  }
}
const json = (body: unknown) => ({
  status: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const bodyOf = (i: number) => JSON.parse(server.requests[i]!.body.toString()) as Record<string, unknown>;
const failures = () => recorded.filter((e) => e.reason === "NotificationDispatchFailed").map((e) => e.message);

describe("github (GitHub REST API 'Commit statuses': list statuses for a reference, create a commit status)", () => {
  it("reads the commit's statuses, then posts success for a Ready revision under Flux's default key, with go-github's headers", async () => {
    await register({ type: "github", address: `${server.url}/org/app.git` });
    server.answer(json([]), { status: 201, body: "{}" });
    await send(event());
    expect(failures()).toEqual([]);
    const [list, create] = server.requests;
    expect([list?.method, list?.path]).toEqual(["GET", `/api/v3/repos/org/app/commits/${SHA}/statuses?per_page=50`]);
    expect([create?.method, create?.path]).toEqual(["POST", `/api/v3/repos/org/app/statuses/${SHA}`]);
    for (const request of [list, create]) {
      expect(request?.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request?.headers.accept).toBe("application/vnd.github.v3+json");
      expect(request?.headers["x-github-api-version"]).toBe("2022-11-28");
    }
    expect(create?.headers["content-type"]).toBe("application/json");
    expect(bodyOf(1)).toEqual({ state: "success", description: "reconciliation succeeded", context: defaultKey() });
    expect(defaultKey()).toMatch(/^kustomization\/podinfo\/[0-9a-f]{8}$/);
  });

  it("an error posts failure with the reason in words; a status the key already has is not posted again", async () => {
    await register({ type: "github", address: `${server.url}/org/app` });
    server.answer(
      json([{ context: defaultKey(), state: "success", description: "reconciliation succeeded" }]),
      json([{ context: "other", state: "success", description: "x" }]),
      { status: 201, body: "{}" },
    );
    await send(
      event(),
      event({
        severity: "error",
        reason: "HealthCheckFailed",
        message: "timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']",
      }),
    );
    expect(server.requests.map((r) => r.method)).toEqual(["GET", "GET", "POST"]);
    expect(bodyOf(2)).toEqual({ state: "failure", description: "health check failed", context: defaultKey() });
  });

  it("a busy commit's full page of statuses (50, each with its creator, ~100 KiB) is read whole; the key's own is found in it", async () => {
    await register({ type: "github", address: `${server.url}/org/app` });
    const creator = { login: "ci-bot", avatar_url: `https://avatars.example/${"x".repeat(1_500)}` };
    const page = Array.from({ length: 50 }, (_, i) => ({
      context: i === 49 ? defaultKey() : `ci/job-${i}`,
      state: "success",
      description: "reconciliation succeeded",
      creator,
    }));
    server.answer(json(page));
    await send(event());
    expect(JSON.stringify(page).length).toBeGreaterThan(64 * 1024);
    expect(failures()).toEqual([]);
    expect(server.requests.map((r) => r.method)).toEqual(["GET"]);
  });

  it("takes only what can set a status: Progressing and other info events post nothing; errors of any kind do", async () => {
    await register({ type: "github", address: `${server.url}/org/app` });
    server.answer(json([]), { status: 201, body: "{}" });
    await send(
      event({ reason: "Progressing", message: "Deployment/apps/podinfo created" }),
      event({
        involvedObject: {
          apiVersion: "source.toolkit.fluxcd.io/v1",
          kind: "GitRepository",
          namespace: NS,
          name: "podinfo",
        },
        reason: "NewArtifact",
        message: "stored artifact for commit 'x'",
      }),
      event({
        involvedObject: {
          apiVersion: "source.toolkit.fluxcd.io/v1",
          kind: "GitRepository",
          namespace: NS,
          name: "podinfo",
        },
        severity: "error",
        reason: "GitOperationFailed",
        message: "failed to checkout and determine revision",
      }),
    );
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /api/v3/repos/org/app/commits/${SHA}/statuses?per_page=50`,
      `POST /api/v3/repos/org/app/statuses/${SHA}`,
    ]);
    expect(bodyOf(1)).toMatchObject({
      state: "failure",
      description: "git operation failed",
      context: expect.stringMatching(/^gitrepository\/podinfo\//),
    });
  });

  it("commitStatusExpr names the status from the event, the Alert and the Provider (Flux docs 'Custom Commit Status Messages')", async () => {
    await register(
      {
        type: "github",
        address: `${server.url}/org/app`,
        commitStatusExpr:
          "(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + event.metadata.env + '/' + provider.metadata.uid.split('-').first().value()).lowerAscii()",
      },
      { eventMetadata: { env: "Prod" } },
    );
    server.answer(json([]), { status: 201, body: "{}" });
    await send(event());
    expect(failures()).toEqual([]);
    expect(bodyOf(1).context).toBe(defaultKey().replace("podinfo/", "podinfo/prod/"));
  });

  it("a commitStatusExpr that does not give a string, or does not compile, fails the dispatch naming the field; nothing is posted", async () => {
    await register({ type: "github", address: `${server.url}/org/app`, commitStatusExpr: "size(event.message)" });
    await send(event());
    await applyToStore(
      store,
      providerObject({ type: "github", address: `${server.url}/org/app`, commitStatusExpr: "event.(" }),
    );
    await send(event({ message: "another" }));
    expect(server.requests).toEqual([]);
    const [notString, notCompiled] = failures();
    expect(notString).toBe(
      `failed to dispatch notification for Kustomization/${NS}/podinfo: failed to create commit status: failed to evaluate the spec.commitStatusExpr CEL expression for the event: the result is a int, not a string`,
    );
    expect(notCompiled).toContain(
      "failed to create commit status: spec.commitStatusExpr: failed to compile expression:",
    );
  });

  it("a revision whose hash is not 40 hex characters posts nothing (it would be a path in the API's URL)", async () => {
    await register({ type: "github", address: `${server.url}/org/app` });
    await send(event({ metadata: { revision: "main@sha1:../../../../orgs/x/hooks?a=0123456789012345" } }));
    expect(server.requests).toEqual([]);
    expect(failures()).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: failed to extract commit hash from 'main@sha1:../../../../orgs/x/hooks?a=0123456789012345' revision`,
    ]);
  });

  it("the commit comes from the origin revision over an OCI artifact's revision (Flux's GetRevision order); an OCI digest alone is no commit", async () => {
    await register({ type: "github", address: `${server.url}/org/app` });
    server.answer(json([]), { status: 201, body: "{}" });
    const digest = `latest@sha256:${"ab".repeat(32)}`;
    await send(
      event({ metadata: { revision: digest, originRevision: `main@sha1:${SHA}` } }),
      event({ message: "from an OCI artifact without origin", metadata: { revision: digest } }),
    );
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /api/v3/repos/org/app/commits/${SHA}/statuses?per_page=50`,
      `POST /api/v3/repos/org/app/statuses/${SHA}`,
    ]);
    expect(failures()).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: failed to extract commit hash from '${digest}' revision`,
    ]);
  });

  it("the token never reaches an error, event or log, even when the API echoes it back", async () => {
    secretData[`${NS}/forge`] = { token: TOKEN, address: `${server.url}/org/app` };
    await register({ type: "github" });
    server.answer({ status: 401, body: `{"message":"Bad credentials: Bearer ${TOKEN} for ${server.url}/org/app"}` });
    await send(event());
    const [failure] = failures();
    expect(failure).toContain("could not list commit statuses: request failed with status code 401");
    expect(failure).not.toContain(TOKEN);
    expect(failure).not.toContain(`${server.url}/org/app`);
    expect(logs.join("")).not.toContain(TOKEN);
  });

  it("the Provider's timeout bounds the whole delivery: a slow status list leaves no time to post", async () => {
    await register({ type: "github", address: `${server.url}/org/app`, timeout: "1s" });
    server.answer({ ...json([]), delayMs: 1_500 });
    await send(event());
    expect(server.requests.map((r) => r.method)).toEqual(["GET"]);
    expect(failures()).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: failed to execute request: The operation was aborted`,
    ]);
  });

  it("GitHub App credentials are refused by name; without any credential, Flux's message", async () => {
    secretData[`${NS}/forge`] = {
      githubAppID: "1",
      githubAppInstallationID: "2",
      githubAppPrivateKey: "-----BEGIN RSA PRIVATE KEY-----",
    };
    await register({ type: "github", address: `${server.url}/org/app` });
    await send(event());
    secretData[`${NS}/forge`] = {};
    await send(event({ message: "again" }));
    expect(server.requests).toEqual([]);
    expect(failures()).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: GitHub App authentication (the 'githubAppID' key of secret '${NS}/forge') is not supported by Sluice yet; use a token`,
      `failed to send notification for Kustomization/${NS}/podinfo: github token or github app details must be specified`,
    ]);
  });
});

describe("gitlab, gitea, bitbucketserver", () => {
  it("gitlab: statuses named by the key, then the status with Private-Token; the secret's password stands in for a token (GitLab API 'Commits': list the statuses of a commit, set the pipeline status of a commit)", async () => {
    secretData[`${NS}/forge`] = { username: "git", password: "glpat-secret" };
    await register({ type: "gitlab", address: `${server.url}/group/sub/my.app.git` });
    server.answer(json([]), { status: 201, body: "{}" });
    await send(event({ severity: "error", reason: "BuildFailed", message: "kustomize build failed" }));
    expect(failures()).toEqual([]);
    const key = encodeURIComponent(defaultKey());
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /api/v4/projects/group%2Fsub%2Fmy%2Eapp/repository/commits/${SHA}/statuses?name=${key}`,
      `POST /api/v4/projects/group%2Fsub%2Fmy%2Eapp/statuses/${SHA}`,
    ]);
    expect(server.requests[1]?.headers["private-token"]).toBe("glpat-secret");
    expect(bodyOf(1)).toEqual({ state: "failed", name: defaultKey(), description: "build failed" });
  });

  it("gitea: the server version is checked, Progressing is `pending`, then success (Gitea API 'repository': repoListStatuses, repoCreateStatus)", async () => {
    await register({ type: "gitea", address: `${server.url}/org/app` });
    const version = json({ version: "1.24.3" });
    server.answer(version, json([]), { status: 201, body: "{}" }, version, json([]), { status: 201, body: "{}" });
    // A Progressing event carrying the commit (an annotation on the object) is what a Gitea status shows as pending.
    await send(event({ reason: "Progressing", metadata: { commit: SHA } }), event());
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /api/v1/version",
      `GET /api/v1/repos/org/app/commits/${SHA}/statuses?limit=50&page=1`,
      `POST /api/v1/repos/org/app/statuses/${SHA}`,
      "GET /api/v1/version",
      `GET /api/v1/repos/org/app/commits/${SHA}/statuses?limit=50&page=1`,
      `POST /api/v1/repos/org/app/statuses/${SHA}`,
    ]);
    expect(server.requests[2]?.headers.authorization).toBe(`token ${TOKEN}`);
    expect(bodyOf(2)).toEqual({ state: "pending", target_url: "", description: "progressing", context: defaultKey() });
    expect(bodyOf(5)).toMatchObject({ state: "success", description: "reconciliation succeeded" });
  });

  it("gitea older than 1.11 is refused as the SDK refuses it", async () => {
    await register({ type: "gitea", address: `${server.url}/org/app` });
    server.answer(json({ version: "1.10.0" }));
    await send(event());
    expect(server.requests).toHaveLength(1);
    expect(failures()[0]).toContain("gitea server is older than 1.11.0");
  });

  it("bitbucketserver: the build status keyed by the sha1 of the status key, basic auth and Atlassian's headers (Bitbucket Data Center REST API 'Builds and Deployments': get/store a build status)", async () => {
    secretData[`${NS}/forge`] = { username: "flux", password: "bb-secret" };
    const address = `${server.url}/context/scm/PROJ/app.git`;
    await register({ type: "bitbucketserver", address });
    server.answer({ status: 404, body: "{}" }, { status: 204 });
    await send(event());
    expect(failures()).toEqual([]);
    const key = createHash("sha1").update(defaultKey()).digest("hex");
    const builds = `/context/rest/api/latest/projects/PROJ/repos/app/commits/${SHA}/builds`;
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${builds}?key=${key}`, `POST ${builds}`]);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`Basic ${Buffer.from("flux:bb-secret").toString("base64")}`);
      expect(request.headers["x-atlassian-token"]).toBe("no-check");
      expect(request.headers["x-requested-with"]).toBe("XMLHttpRequest");
    }
    expect(server.requests[1]?.body.toString()).toBe(
      JSON.stringify({
        description: "reconciliation succeeded",
        key,
        name: "kustomization/podinfo [reconciliation succeeded]",
        state: "SUCCESSFUL",
        url: address,
      }),
    );
  });

  it("bitbucketserver: an address that is not a /scm/ clone URL fails naming why, before any request", async () => {
    await register({ type: "bitbucketserver", address: `${server.url}/projects/PROJ/repos/app` });
    await send(event());
    expect(server.requests).toEqual([]);
    expect(failures()[0]).toContain("supplied provider address is not http(s) git clone url");
  });

  it("bitbucket: Bitbucket Cloud's API whatever the address' host, the token <user>:<app password> as basic auth, the build status keyed by the sha1 of the key (Bitbucket Cloud REST API 'Commit statuses': get/create a build status)", async () => {
    // api.bitbucket.org is fixed (Flux ignores the address' host), so the requests are checked as the delivery makes them.
    const sent: ProviderRequest[] = [];
    const answers = [
      { status: 404, body: '{"type":"error"}' },
      { status: 201, body: "{}" },
    ];
    await deliveryFor("bitbucket")!(event({ severity: "error", reason: "HealthCheckFailed" }), {
      endpoint: {
        type: "bitbucket",
        url: new URL("https://bitbucket.org/workspace/app.git"),
        token: "flux:app-password",
        headers: {},
        timeoutMs: 15_000,
        secretValues: [],
      },
      commitStatus: "kustomization/podinfo/0c9c2e41",
      providerUid: "0c9c2e41-0000-4000-8000-000000000000",
      alert: { namespace: "apps", name: "commits", uid: "1b2c3d4e-0000-4000-8000-000000000000" },
      network: { allowPrivateNetworks: false },
      send: async (request) => (sent.push(request), answers.shift()!),
    });
    const key = createHash("sha1").update("kustomization/podinfo/0c9c2e41").digest("hex");
    const statuses = `https://api.bitbucket.org/2.0/repositories/workspace/app/commit/${SHA}/statuses/build`;
    expect(sent.map((r) => `${r.method ?? "POST"} ${r.url.href}`)).toEqual([
      `GET ${statuses}/${key}`,
      `POST ${statuses}`,
    ]);
    expect(sent[0]?.headers.authorization).toBe(`Basic ${Buffer.from("flux:app-password").toString("base64")}`);
    expect(JSON.parse(sent[1]!.body.toString())).toEqual({
      key,
      url: "https://bitbucket.org",
      state: "FAILED",
      name: "kustomization/podinfo",
      description: "health check failed",
    });
  });

  it("azuredevops: the organisation's resource locations, then the commit's statuses and the status under the key and genre, PAT as basic auth, the negotiated API version (Azure DevOps REST API 6.0 'Git Statuses - List', 'Git Statuses - Create')", async () => {
    secretData[`${NS}/forge`] = { token: "ado-pat" };
    await register(
      { type: "azuredevops", address: `${server.url}/org/project/_git/app` },
      { eventMetadata: { summary: "prod" } },
    );
    const locations = {
      count: 1,
      value: [
        {
          id: "428dd4fb-fda5-4722-af02-9313b80305da",
          area: "git",
          resourceName: "statuses",
          routeTemplate: "{project}/_apis/{area}/repositories/{repositoryId}/commits/{commitId}/{resource}",
          resourceVersion: 1,
          minVersion: "1.0",
          maxVersion: "7.1",
          releasedVersion: "7.0",
        },
      ],
    };
    const listed = {
      count: 1,
      value: [{ context: { name: defaultKey(), genre: "fluxcd:prod" }, state: "error", description: "build failed" }],
    };
    server.answer(json(locations), json(listed), { status: 201, body: "{}" });
    await send(event());
    expect(failures()).toEqual([]);
    const statuses = `/org/project/_apis/git/repositories/app/commits/${SHA}/statuses`;
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "OPTIONS /org/_apis",
      `GET ${statuses}`,
      `POST ${statuses}`,
    ]);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`Basic ${Buffer.from(":ado-pat").toString("base64")}`);
      expect(request.headers["x-tfs-fedauthredirect"]).toBe("Suppress");
    }
    expect(server.requests[0]?.headers.accept).toBe("application/json");
    expect(server.requests[2]?.headers.accept).toBe("application/json;api-version=6.0");
    expect(server.requests[2]?.headers["content-type"]).toBe("application/json;charset=utf-8");
    expect(bodyOf(2)).toEqual({
      context: { genre: "fluxcd:prod", name: defaultKey() },
      description: "reconciliation succeeded",
      state: "succeeded",
    });
  });

  it("azuredevops: an address that is not <org>/<project>/_git/<repo>, or no token, fails naming it before any request", async () => {
    await register({ type: "azuredevops", address: `${server.url}/org/app` });
    await send(event());
    secretData[`${NS}/forge`] = {};
    await applyToStore(store, providerObject({ type: "azuredevops", address: `${server.url}/org/p/_git/app` }));
    await send(event({ message: "again" }));
    expect(server.requests).toEqual([]);
    expect(failures()).toEqual([
      `failed to send notification for Kustomization/${NS}/podinfo: invalid repository id "org/app"`,
      `failed to send notification for Kustomization/${NS}/podinfo: failed to acquire azure devops token: a token is needed (workload identity is not supported by Sluice yet)`,
    ]);
  });
});
