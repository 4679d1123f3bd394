import { generateKeyPairSync, verify } from "node:crypto";
import { execFile } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { applyToStore, updateObject } from "../../src/store/objects.js";
import { planeSuite, ready, until } from "../controllers/helpers.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { automationFixtures } from "./automation-fixtures.js";
import { pushTags } from "./registry-tags.js";

// ImageUpdateAutomation reconciled by a local control plane against the test bed's Git server: ImagePolicies
// are put in the Store with a status (suspended, so nothing rescans them), the automation commits and pushes.

const run = promisify(execFile);
const { kube, git, registry } = inject("testbed");
const local = planeSuite(kube, git, { namespace: "image-auto" });
const ns = () => local.namespace;
const { deploy, fixture, setPolicy, automation, show, status, requestReconcile } = automationFixtures(local, git);

describe("ImageUpdateAutomation against the test bed's Git server", () => {
  it("closes the loop of the issue: a tag pushed to the registry is picked by the policy, committed, and applied by the Kustomization", async () => {
    // Prepare: the registry has 6.0.0; Git deploys it with the marker; Flux's guide's objects in the Store
    const image = `${registry.host}/${ns()}/podinfo`;
    await pushTags(registry.host, `${ns()}/podinfo`, ["6.0.0"]);
    const repo = `${ns()}-e2e`;
    const url = await createRepo(git, repo);
    const manifest = (tag: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 0
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
        - name: podinfo
          image: ${image}:${tag} # {"$imagepolicy": "${ns()}:podinfo"}
`;
    await pushTree(git, repo, { files: { "deploy/podinfo.yaml": manifest("6.0.0") } });
    const objects: KubeObject[] = [
      {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata: { name: "fleet-infra", namespace: ns() },
        spec: { interval: "1h", url, ref: { branch: "main" }, secretRef: { name: "git-auth" } },
      },
      {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name: "apps", namespace: ns() },
        spec: {
          interval: "1h",
          path: "./deploy",
          prune: true,
          targetNamespace: ns(),
          sourceRef: { kind: "GitRepository", name: "fleet-infra" },
        },
      },
      {
        apiVersion: "image.toolkit.fluxcd.io/v1beta2",
        kind: "ImageRepository",
        metadata: { name: "podinfo", namespace: ns() },
        spec: { image, interval: "1h" },
      },
      {
        apiVersion: "image.toolkit.fluxcd.io/v1beta2",
        kind: "ImagePolicy",
        metadata: { name: "podinfo", namespace: ns() },
        spec: { imageRepositoryRef: { name: "podinfo" }, policy: { semver: { range: ">=6.0.0 <7.0.0" } } },
      },
      automation("podinfo-e2e", "fleet-infra", { push: { branch: "main" } }),
    ];
    (objects[4]!.spec as { update: { path: string } }).update.path = "./deploy";
    const store = local.plane.runtime.store;
    for (const object of objects) await applyToStore(store, object);
    const deployed = async () => {
      const info = (await local.admin.discovery.find("apps/v1", "Deployment"))!;
      const live = await getObject(local.admin, info, ns(), "podinfo");
      return (live?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec
        .containers[0]!.image;
    };
    let statuses = "";
    const why = async () => {
      const all = await store.list({ namespace: ns() });
      statuses = all
        .filter((o) => objects.some((x) => x.kind === o.object.kind && x.metadata.name === o.object.metadata.name))
        .map((o) => `${o.object.kind}: ${JSON.stringify(o.object.status)}`)
        .join("\n");
    };
    await until(
      () => `6.0.0 applied\n${statuses}`,
      async () => (await why(), (await deployed()) === `${image}:6.0.0`),
      40_000,
    );
    // Act: a new tag, and the registry's event (a rescan request, as a Receiver or ECR rule makes it)
    const started = Date.now();
    await pushTags(registry.host, `${ns()}/podinfo`, ["6.1.0", "7.0.0"]);
    await updateObject(store, { kind: "ImageRepository", namespace: ns(), name: "podinfo" }, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: new Date().toISOString() };
    });
    // Assess: committed with the message, then applied, without waiting for any interval
    await until(
      () => `6.1.0 applied\n${statuses}`,
      async () => (await why(), (await deployed()) === `${image}:6.1.0`),
      40_000,
    );
    const elapsed = Date.now() - started;
    expect(await show(repo, "--no-patch", "--format=%B", "main")).toBe(`${image}:6.1.0\n\n`);
    expect(await show(repo, "main:deploy/podinfo.yaml")).toBe(manifest("6.1.0"));
    expect(elapsed).toBeLessThan(30_000);
    console.log(`tag pushed → applied: ${elapsed} ms`);
  }, 120_000);

  it("runs the issue's v1beta1 example: commits the new image with the .Updated message and pushes to main, the rest of the file kept", async () => {
    // Prepare
    const { name, repo } = await fixture("6.1.0");
    // Act
    await applyToStore(local.plane.runtime.store, automation("podinfo", name, { push: { branch: "main" } }));
    const done = await until("the automation pushed", async () => {
      const s = await status("podinfo");
      return s.lastPushCommit ? s : undefined;
    });
    // Assess
    const file = await show(repo, "main:apps/podinfo.yaml");
    expect(file).toBe(deploy("ghcr.io/stefanprodan/podinfo:6.1.0").replace("NS", ns()));
    const log = await show(repo, "--no-patch", "--format=%H%n%an <%ae>%n%B", "main");
    expect(log).toBe(
      `${done.lastPushCommit}\nfluxbot <fluxbot@users.noreply.github.com>\nghcr.io/stefanprodan/podinfo:6.1.0\n\n`,
    );
    expect(ready(done as never)).toMatchObject({ status: "True", message: "repository up-to-date" });
  });

  it("retries on the new head when someone pushes in between, never forcing over their commit", async () => {
    // Prepare: a hook that, on the automation's first push, lands a person's commit on main first
    const { name, repo } = await fixture("6.2.0");
    const bare = join(git.root, `${repo}.git`);
    await writeFile(
      join(bare, "hooks/pre-receive"),
      `#!/bin/sh
[ -e "$GIT_DIR/raced" ] && exit 0
touch "$GIT_DIR/raced"
# Outside receive-pack's quarantine, as another client's push would be.
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_INDEX_FILE="$GIT_DIR/race-index"
git read-tree refs/heads/main
blob=$(printf 'fleet, edited by a person\\n' | git hash-object -w --stdin)
git update-index --add --cacheinfo 100644 "$blob" README.md
tree=$(git write-tree)
commit=$(GIT_AUTHOR_NAME=person GIT_AUTHOR_EMAIL=p@example.com GIT_COMMITTER_NAME=person GIT_COMMITTER_EMAIL=p@example.com git commit-tree "$tree" -p refs/heads/main -m "a person's edit")
git update-ref refs/heads/main "$commit"
`,
    );
    await chmod(join(bare, "hooks/pre-receive"), 0o755);
    // Act
    await applyToStore(local.plane.runtime.store, automation("raced", name, {}));
    let last: Awaited<ReturnType<typeof status>> = {};
    const done = await until(
      () => `the automation pushed after the race: ${JSON.stringify(last)}`,
      async () => (last = await status("raced")).lastPushCommit,
    );
    // Assess: the person's commit is the automation's parent, both changes are on main
    const parents = await show(repo, "--no-patch", "--format=%s", `${done}^`);
    expect(parents).toContain("a person's edit");
    expect(await show(repo, "main:README.md")).toBe("fleet, edited by a person\n");
    expect(await show(repo, "main:apps/podinfo.yaml")).toContain("image: ghcr.io/stefanprodan/podinfo:6.2.0 #");
    expect((await show(repo, "--no-patch", "--format=%H", "main")).trim()).toBe(done);
  });

  it("fails without pushing, naming the cause and no credential: an escaping update.path, a runaway template, the removed .Changed.ImageResult", async () => {
    // Prepare
    const { name, repo } = await fixture("6.5.0");
    const before = await show(repo, "--no-patch", "--format=%H", "main");
    type Spec = { update: { path: string }; git: { commit: { messageTemplate: string } } };
    const broken = (autoName: string, change: (spec: Spec) => void) => {
      const object = automation(autoName, name, {});
      change(object.spec as Spec);
      return object;
    };
    // Act
    await applyToStore(
      local.plane.runtime.store,
      broken("escape", (spec) => (spec.update.path = "../../..")),
    );
    await applyToStore(
      local.plane.runtime.store,
      broken(
        "runaway",
        (spec) => (spec.git.commit.messageTemplate = '{{range .Updated.Images}}{{printf "%900000s" "x"}}{{end}}'),
      ),
    );
    await applyToStore(
      local.plane.runtime.store,
      broken("removed", (spec) => (spec.git.commit.messageTemplate = "{{ .Changed.ImageResult }}")),
    );
    await applyToStore(
      local.plane.runtime.store,
      automation("pr-to-itself", name, { push: { pullRequest: { provider: "github", secretRef: { name: "none" } } } }),
    );
    const failed = async (autoName: string) =>
      until(`${autoName} failed`, async () => {
        const condition = (await status(autoName)).conditions?.find((c) => c.type === "Ready");
        return condition?.status === "False" && (await status(autoName));
      });
    type Status = Awaited<ReturnType<typeof status>>;
    const [escape, runaway, removed, toItself] = (await Promise.all(
      ["escape", "runaway", "removed", "pr-to-itself"].map(failed),
    )) as [Status, Status, Status, Status];
    // Assess
    const readyOf = (s: Awaited<ReturnType<typeof status>>) => s.conditions!.find((c) => c.type === "Ready")!;
    expect(readyOf(escape)).toMatchObject({
      reason: "UpdateFailed",
      message: "failed to apply policies: spec.update.path '../../..' points outside the repository",
    });
    expect(readyOf(runaway)).toMatchObject({ reason: "GitOperationFailed" });
    expect(readyOf(runaway).message).toMatch(
      /^failed to update source: failed to run template from spec: printf width 900000 exceeds the output limit$/,
    );
    expect(readyOf(removed)).toMatchObject({ reason: "RemovedTemplateField" });
    expect(removed.conditions!.find((c) => c.type === "Stalled")?.status).toBe("True");
    expect(readyOf(toItself)).toMatchObject({
      reason: "InvalidSourceConfiguration",
      message:
        "spec.git.push.pullRequest needs spec.git.push.branch, other than the branch it merges into ('main'): invalid source configuration",
    });
    expect(await show(repo, "--no-patch", "--format=%H", "main")).toBe(before);
    expect(JSON.stringify([escape, runaway, removed])).not.toContain(git.password);
  });

  it("sends push.options (git push -o) to a server that takes them, with the branch's push and the refspec's; none to one that does not; refuses a line break", async () => {
    // Prepare: two repositories whose pre-receive hook records the push options it receives, one advertising them
    const record = async (repo: string, advertise: boolean) => {
      const bare = join(git.root, `${repo}.git`);
      if (advertise) await run("git", ["-C", bare, "config", "receive.advertisePushOptions", "true"]);
      await writeFile(
        join(bare, "hooks/pre-receive"),
        `#!/bin/sh
refs=$(cut -d' ' -f3 | tr '\\n' ' ')
{ printf '%s count=%s' "$refs" "\${GIT_PUSH_OPTION_COUNT:-none}"
  i=0; while [ "$i" -lt "\${GIT_PUSH_OPTION_COUNT:-0}" ]; do eval "v=\\$GIT_PUSH_OPTION_$i"; printf ' [%s]' "$v"; i=$((i+1)); done
  echo; } >> "$GIT_DIR/push-options.log"
`,
      );
      await chmod(join(bare, "hooks/pre-receive"), 0o755);
      return () => readFile(join(bare, "push-options.log"), "utf8").catch(() => "");
    };
    const taking = await fixture("6.9.0");
    const plain = await fixture("6.9.0");
    const received = await record(taking.repo, true);
    const ignored = await record(plain.repo, false);
    const options = { "ci.skip": "", "merge_request.title": "bump podinfo = 6.9.0", topic: "images" };
    // Act
    await applyToStore(
      local.plane.runtime.store,
      automation("options", taking.name, { push: { branch: "main", refspec: "main:refs/heads/released", options } }),
    );
    await applyToStore(local.plane.runtime.store, automation("no-options", plain.name, { push: { options } }));
    await applyToStore(
      local.plane.runtime.store,
      automation("smuggled", plain.name, { push: { options: { ok: "x\n0000", other: "y" } } }),
    );
    const pushedBy = async (name: string) => {
      let last = {};
      return until(
        () => `${name} pushed: ${JSON.stringify(last)}`,
        async () => (last = await status(name)) && (await status(name)).lastPushCommit,
      );
    };
    await Promise.all([pushedBy("options"), pushedBy("no-options")]);
    const refused = await until("smuggled refused", async () => {
      const readyOf = (await status("smuggled")).conditions?.find((c) => c.type === "Ready");
      return readyOf?.status === "False" ? readyOf : undefined;
    });
    // Assess: each push carried the options, in key order, as go-git encodes them (key=value)
    const sent = " count=3 [ci.skip=] [merge_request.title=bump podinfo = 6.9.0] [topic=images]";
    expect(await received()).toBe(`refs/heads/main ${sent}\nrefs/heads/released ${sent}\n`);
    expect(await show(taking.repo, "released:apps/podinfo.yaml")).toContain("podinfo:6.9.0 #");
    // receive-pack counts 0 when none came (option lines it did not advertise would have failed the push)
    expect(await ignored()).toBe("refs/heads/main  count=0\n");
    expect(refused).toMatchObject({
      reason: "InvalidSourceConfiguration",
      message: "spec.git.push.options: option 'ok' holds a line break or NUL: invalid source configuration",
    });
  });

  it("opens one pull request from the push branch and updates it for a newer image (GitHub REST contract)", async () => {
    // Prepare: a loopback GitHub checking the documented requests —
    // https://docs.github.com/en/rest/pulls/pulls#list-pull-requests,
    // https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request,
    // https://docs.github.com/en/rest/pulls/pulls#update-a-pull-request
    const pulls: { number: number; head: string; base: string; title: string; body: string }[] = [];
    let outage = 0;
    const seen: string[] = [];
    const token = "ghp_secret-token-never-logged";
    const server = createServer(async (req, res) => {
      const body = await read(req);
      const url = new URL(req.url!, "http://x");
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      const bad = (why: string) =>
        res.writeHead(422, { "content-type": "application/json" }).end(JSON.stringify({ message: why }));
      if (req.headers.authorization !== `token ${token}`) return bad("authorization");
      if (!String(req.headers.accept).includes("application/vnd.github")) return bad("accept");
      const html = (n: number) => `https://github.example/org/fleet/pull/${n}`;
      if (req.method === "GET" && url.pathname === "/repos/org/fleet/pulls") {
        const [owner, head] = (url.searchParams.get("head") ?? "").split(":");
        if (owner !== "org" || url.searchParams.get("state") !== "open") return bad("list query");
        const found = pulls.filter((p) => p.head === head && p.base === url.searchParams.get("base"));
        return res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify(found.map((p) => ({ ...p, html_url: html(p.number) }))));
      }
      if (req.method === "POST" && url.pathname === "/repos/org/fleet/pulls") {
        // GitHub down for the first create: the branch is pushed, the pull request must follow on the next run.
        if (!outage++) return res.writeHead(502).end("bad gateway");
        const input = JSON.parse(body) as { head: string; base: string; title: string; body: string };
        if (!input.head || !input.base || !input.title) return bad("create fields");
        const pull = { number: pulls.length + 1, ...input };
        pulls.push(pull);
        return res
          .writeHead(201, { "content-type": "application/json" })
          .end(JSON.stringify({ ...pull, html_url: html(pull.number) }));
      }
      const patch = /^\/repos\/org\/fleet\/pulls\/(\d+)$/.exec(url.pathname);
      if (req.method === "PATCH" && patch) {
        const pull = pulls.find((p) => p.number === Number(patch[1]))!;
        Object.assign(pull, JSON.parse(body));
        return res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ ...pull, html_url: html(pull.number) }));
      }
      bad("unexpected request");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const { name, repo } = await fixture("6.3.0");
      // The clone URL must name the GitHub repository: org/fleet.git under the Git server's folder.
      const orgRepo = `${repo}/org/fleet`;
      await createRepo(git, orgRepo);
      await pushTree(git, orgRepo, {
        files: { "apps/podinfo.yaml": deploy("ghcr.io/stefanprodan/podinfo:6.0.0").replace("NS", ns()) },
      });
      await updateObject(local.plane.runtime.store, { kind: "GitRepository", namespace: ns(), name }, (o) => {
        (o.spec as { url: string }).url = `${git.baseUrl}/${orgRepo}.git`;
      });
      await local.admin.client.send({
        method: "POST",
        path: `/api/v1/namespaces/${ns()}/secrets`,
        body: { metadata: { name: "github" }, stringData: { token } },
      });
      const pullRequest = { provider: "github", secretRef: { name: "github" }, apiURL: api };
      // Act 1
      await applyToStore(
        local.plane.runtime.store,
        automation("pr", name, { push: { branch: "image-updates", pullRequest } }),
      );
      const failed = await until("the pull request failed", async () => {
        const condition = (await status("pr")).conditions?.find((c) => c.type === "Ready");
        return condition?.status === "False" && condition;
      });
      await requestReconcile("pr");
      await until("the pull request opened", async () => (await status("pr")).pullRequest);
      const firstBody = pulls[0]!.body;
      // Act 2: a newer image
      await setPolicy("6.4.0");
      await requestReconcile("pr");
      await until("the pull request updated", async () => pulls[0]?.body.includes("6.4.0"));
      // Assess
      expect(failed).toMatchObject({ reason: "PullRequestFailed" });
      expect(failed.message).not.toContain(token);
      expect(firstBody).toBe("ghcr.io/stefanprodan/podinfo:6.3.0");
      expect(pulls).toHaveLength(1);
      expect(pulls[0]).toMatchObject({
        head: "image-updates",
        base: "main",
        title: "ghcr.io/stefanprodan/podinfo:6.4.0",
      });
      expect(pulls[0]!.body).toContain(
        "`apps/podinfo.yaml` (Deployment podinfo): `ghcr.io/stefanprodan/podinfo:6.3.0` → `ghcr.io/stefanprodan/podinfo:6.4.0`",
      );
      expect(seen.filter((s) => s.startsWith("POST"))).toEqual([
        "POST /repos/org/fleet/pulls",
        "POST /repos/org/fleet/pulls",
      ]);
      expect(seen.filter((s) => s.startsWith("PATCH"))).toEqual(["PATCH /repos/org/fleet/pulls/1"]);
      expect(await show(orgRepo, "image-updates:apps/podinfo.yaml")).toContain("podinfo:6.4.0 #");
      expect(await show(orgRepo, "main:apps/podinfo.yaml")).toContain("podinfo:6.0.0 #");
      expect(JSON.stringify(await status("pr"))).not.toContain(token);
    } finally {
      server.close();
    }
  });
  it("opens one GitLab merge request and updates it for a newer image (GitLab REST v4 contract)", async () => {
    // Prepare: a loopback GitLab checking the documented requests —
    // https://docs.gitlab.com/api/merge_requests/#list-project-merge-requests,
    // https://docs.gitlab.com/api/merge_requests/#create-mr,
    // https://docs.gitlab.com/api/merge_requests/#update-mr
    const mrs: { iid: number; source_branch: string; target_branch: string; title: string; description: string }[] = [];
    const seen: string[] = [];
    const token = "glpat-secret-token-never-logged";
    const { name, repo } = await fixture("6.6.0");
    const projectPath = `${repo}/group/fleet`;
    const project = `/api/v4/projects/${encodeURIComponent(projectPath)}/merge_requests`;
    const server = createServer(async (req, res) => {
      const body = await read(req);
      const url = new URL(req.url!, "http://x");
      seen.push(`${req.method} ${req.url!.split("?")[0]}`);
      const reply = (status: number, value: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      if (req.headers["private-token"] !== token) return reply(401, { message: "401 Unauthorized" });
      const web = (iid: number) => `https://gitlab.example/group/fleet/-/merge_requests/${iid}`;
      if (req.method === "GET" && req.url!.split("?")[0] === project) {
        if (url.searchParams.get("state") !== "opened") return reply(400, { error: "state" });
        const found = mrs.filter(
          (m) =>
            m.source_branch === url.searchParams.get("source_branch") &&
            m.target_branch === url.searchParams.get("target_branch"),
        );
        return reply(
          200,
          found.map((m) => ({ ...m, web_url: web(m.iid) })),
        );
      }
      if (req.method === "POST" && req.url === project) {
        const input = JSON.parse(body) as (typeof mrs)[number];
        if (!input.source_branch || !input.target_branch || !input.title) return reply(400, { error: "fields" });
        const mr = { ...input, iid: mrs.length + 1 };
        mrs.push(mr);
        return reply(201, { ...mr, web_url: web(mr.iid) });
      }
      const iid = req.url!.startsWith(`${project}/`) ? Number(req.url!.slice(project.length + 1)) : NaN;
      if (req.method === "PUT" && Number.isInteger(iid)) {
        const mr = mrs.find((m) => m.iid === iid)!;
        Object.assign(mr, JSON.parse(body));
        return reply(200, { ...mr, web_url: web(mr.iid) });
      }
      reply(404, { message: "404 Not found" });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v4`;
    try {
      await createRepo(git, projectPath);
      await pushTree(git, projectPath, {
        files: { "apps/podinfo.yaml": deploy("ghcr.io/stefanprodan/podinfo:6.0.0").replace("NS", ns()) },
      });
      await updateObject(local.plane.runtime.store, { kind: "GitRepository", namespace: ns(), name }, (o) => {
        (o.spec as { url: string }).url = `${git.baseUrl}/${projectPath}.git`;
      });
      await local.admin.client.send({
        method: "POST",
        path: `/api/v1/namespaces/${ns()}/secrets`,
        body: { metadata: { name: "gitlab" }, stringData: { token } },
      });
      const pullRequest = { provider: "gitlab", secretRef: { name: "gitlab" }, apiURL: api, title: "Image updates" };
      // Act
      await applyToStore(
        local.plane.runtime.store,
        automation("mr", name, { push: { branch: "image-updates", pullRequest } }),
      );
      await until("the merge request opened", async () => (await status("mr")).pullRequest);
      await setPolicy("6.7.0");
      await requestReconcile("mr");
      await until("the merge request updated", async () => mrs[0]?.description.includes("6.7.0"));
      // Assess
      expect(mrs).toHaveLength(1);
      expect(mrs[0]).toMatchObject({ source_branch: "image-updates", target_branch: "main", title: "Image updates" });
      expect(seen.filter((s) => !s.startsWith("GET"))).toEqual([`POST ${project}`, `PUT ${project}/1`]);
      expect(await show(projectPath, "image-updates:apps/podinfo.yaml")).toContain("podinfo:6.7.0 #");
      expect((await status("mr")).pullRequest).toEqual({
        number: 1,
        url: "https://gitlab.example/group/fleet/-/merge_requests/1",
      });
      expect(JSON.stringify(await status("mr"))).not.toContain(token);
    } finally {
      server.close();
    }
  });
  it("authenticates to GitHub as an App: a JWT signed with the app's key exchanged for an installation token", async () => {
    // Prepare: GitHub's documented exchange —
    // https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app,
    // https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const installationToken = "ghs_installation-token-never-logged";
    const seen: string[] = [];
    const server = createServer(async (req, res) => {
      await read(req);
      seen.push(`${req.method} ${req.url!.split("?")[0]}`);
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      if (req.method === "POST" && req.url === "/app/installations/42/access_tokens") {
        const [header, payload, signature] = String(req.headers.authorization)
          .replace(/^Bearer /, "")
          .split(".");
        const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as {
          iat: number;
          exp: number;
          iss: string;
        };
        const signed = verify(
          "RSA-SHA256",
          Buffer.from(`${header}.${payload}`),
          publicKey,
          Buffer.from(signature!, "base64url"),
        );
        if (!signed || claims.iss !== "1234" || claims.exp - claims.iat > 600) return json(401, { message: "bad JWT" });
        return json(201, { token: installationToken, expires_at: "2030-01-01T00:00:00Z" });
      }
      if (req.headers.authorization !== `token ${installationToken}`) return json(401, { message: "Bad credentials" });
      if (req.method === "GET") return json(200, []);
      return json(201, { number: 7, html_url: "https://github.example/org/fleet/pull/7" });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const { name, repo } = await fixture("6.8.0");
      const orgRepo = `${repo}/org/fleet`;
      await createRepo(git, orgRepo);
      await pushTree(git, orgRepo, {
        files: { "apps/podinfo.yaml": deploy("ghcr.io/stefanprodan/podinfo:6.0.0").replace("NS", ns()) },
      });
      await updateObject(local.plane.runtime.store, { kind: "GitRepository", namespace: ns(), name }, (o) => {
        (o.spec as { url: string }).url = `${git.baseUrl}/${orgRepo}.git`;
      });
      const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
      await local.admin.client.send({
        method: "POST",
        path: `/api/v1/namespaces/${ns()}/secrets`,
        body: {
          metadata: { name: "github-app" },
          stringData: { githubAppID: "1234", githubAppInstallationID: "42", githubAppPrivateKey: pem },
        },
      });
      const pullRequest = { provider: "github", secretRef: { name: "github-app" }, apiURL: api };
      // Act
      await applyToStore(
        local.plane.runtime.store,
        automation("app", name, { push: { branch: "image-updates", pullRequest } }),
      );
      const opened = await until("the pull request opened as the app", async () => (await status("app")).pullRequest);
      // Assess
      expect(opened).toEqual({ number: 7, url: "https://github.example/org/fleet/pull/7" });
      expect(seen).toEqual([
        "POST /app/installations/42/access_tokens",
        "GET /repos/org/fleet/pulls",
        "POST /repos/org/fleet/pulls",
      ]);
      expect(JSON.stringify(await status("app"))).not.toContain(installationToken);
    } finally {
      server.close();
    }
  });
});

async function read(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}
