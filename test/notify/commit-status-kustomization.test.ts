import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { provider as providerSchema } from "../../src/api/provider.js";
import { providerUid } from "../../src/notify/providers/commit-status-rules.js";
import { applyToStore } from "../../src/store/objects.js";
import { planeSuite, ready, storedStatus, until } from "../controllers/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";

// GitHub commit statuses from real Kustomization reconciles: the local control plane on the test
// bed's kube-apiserver, apps from the test bed's Git server, and a loopback stand-in for GitHub's
// commit status API (REST API 'Commit statuses': it keeps the statuses posted per commit, newest
// first, and lists them back), so the status seen is the one GitHub would show on the commit.

const { kube, git } = inject("testbed");
const local = planeSuite(kube, git, { namespace: "commit-status" });
const ns = () => local.namespace;
const TOKEN = "ghp_commitStatusToken42";

interface PostedStatus {
  state: string;
  description: string;
  context: string;
}
const statuses = new Map<string, PostedStatus[]>();
let github: { url: string; close(): Promise<void> };
const unauthorized: string[] = [];

beforeAll(async () => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        unauthorized.push(req.url ?? "");
        res.writeHead(401).end('{"message":"Bad credentials"}');
        return;
      }
      const list = /^\/api\/v3\/repos\/org\/fleet\/commits\/([0-9a-f]{40})\/statuses\?per_page=50$/.exec(req.url ?? "");
      const create = /^\/api\/v3\/repos\/org\/fleet\/statuses\/([0-9a-f]{40})$/.exec(req.url ?? "");
      if (req.method === "GET" && list) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(statuses.get(list[1]!) ?? []));
      } else if (req.method === "POST" && create) {
        const posted = JSON.parse(Buffer.concat(chunks).toString()) as PostedStatus;
        statuses.set(create[1]!, [posted, ...(statuses.get(create[1]!) ?? [])]);
        res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(posted));
      } else res.writeHead(404).end('{"message":"Not Found"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  github = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
});
afterAll(async () => github?.close());

const notification = (kind: "Alert" | "Provider", name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
  kind,
  metadata: { name, namespace: ns() },
  spec,
});
const untilReadyIs = (kind: string, name: string, status: string) =>
  until(`${kind} ${name} Ready=${status}`, async () => {
    const condition = ready(await storedStatus(local.plane, kind, ns(), name));
    return condition?.status === status && condition;
  });

/** A repository with `files`, its GitRepository and Kustomization `name`; the commit pushed. */
async function app(name: string, files: Record<string, string>): Promise<string> {
  const url = await createRepo(git, `${ns()}-${name}`);
  const commit = await pushTree(git, `${ns()}-${name}`, { files });
  const store = local.plane.runtime.store;
  await applyToStore(store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: ns() },
    spec: { interval: "10m", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
  });
  await applyToStore(store, {
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

describe(`GitHub commit status from Kustomization reconciles on kube-apiserver ${kube.version}, local runtime`, () => {
  it("the applied revision's commit gets success, a broken one's failure, under the Kustomization's key; nothing else is posted", async () => {
    // Prepare: a github Provider (token in a Secret) and an Alert on every Kustomization.
    await local.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns()}/secrets`,
      body: { metadata: { name: "github-token" }, stringData: { token: TOKEN } },
    });
    const providerObject = notification("Provider", "github", {
      type: "github",
      address: `${github.url}/org/fleet`,
      secretRef: { name: "github-token" },
    });
    await applyToStore(local.plane.runtime.store, providerObject);
    await applyToStore(
      local.plane.runtime.store,
      notification("Alert", "commits", {
        providerRef: { name: "github" },
        eventSources: [
          { kind: "Kustomization", name: "*" },
          { kind: "GitRepository", name: "*" },
        ],
      }),
    );
    await untilReadyIs("Provider", "github", "True");
    await untilReadyIs("Alert", "commits", "True");

    // Act: one app that applies, one whose kustomization.yaml names a missing file.
    const good = await app("good", {
      "deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\ndata:\n  v: '1'\n",
    });
    const broken = await app("broken", { "deploy/kustomization.yaml": "resources:\n  - missing.yaml\n" });
    await untilReadyIs("Kustomization", "good", "True");
    await untilReadyIs("Kustomization", "broken", "False");
    await until("both commits to have a status", async () => statuses.has(good) && statuses.has(broken));

    // Assess: one status per commit, keyed <kind>/<name>/<provider uid prefix> as Flux keys it.
    const uid = providerUid(providerSchema.parse(providerObject)).split("-")[0];
    expect(statuses.get(good)).toEqual([
      { state: "success", description: "reconciliation succeeded", context: `kustomization/good/${uid}` },
    ]);
    expect(statuses.get(broken)).toEqual([
      { state: "failure", description: "build failed", context: `kustomization/broken/${uid}` },
    ]);
    expect(unauthorized).toEqual([]);
    // The GitRepositories' artifacts (info events) set no status; their commits are the apps' own.
    expect([...statuses.keys()].sort()).toEqual([good, broken].sort());

    // Act: the fix is pushed and fetched.
    const fixed = await pushTree(git, `${ns()}-broken`, {
      files: { "deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fixed\n" },
    });
    await local.plane.queue.enqueue({ key: `GitRepository/${ns()}/broken`, reason: "interval" });
    await until("the fixed commit to have a status", async () => statuses.has(fixed));

    // Assess: the new commit shows success; the broken one keeps its failure.
    expect(statuses.get(fixed)).toEqual([
      { state: "success", description: "reconciliation succeeded", context: `kustomization/broken/${uid}` },
    ]);
    expect(statuses.get(broken)).toHaveLength(1);
  });

  it("a Provider whose commitStatusExpr does not compile stalls, naming the field; one that compiles is Ready", async () => {
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "bad-expr", {
        type: "github",
        address: `${github.url}/org/fleet`,
        secretRef: { name: "github-token" },
        commitStatusExpr: "event.involvedObject.(",
      }),
    );
    await applyToStore(
      local.plane.runtime.store,
      notification("Provider", "good-expr", {
        type: "gitlab",
        address: `${github.url}/org/fleet`,
        secretRef: { name: "github-token" },
        commitStatusExpr: "'flux/' + event.involvedObject.name",
      }),
    );
    const stalled = await untilReadyIs("Provider", "bad-expr", "False");
    expect(stalled.reason).toBe("InvalidSpec");
    expect(stalled.message).toMatch(
      new RegExp(`^Provider/${ns()}/bad-expr: spec\\.commitStatusExpr: failed to compile expression: `),
    );
    await untilReadyIs("Provider", "good-expr", "True");
  });
});
