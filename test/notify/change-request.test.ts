import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { alert, event, harness, NS, provider, REVISION, type Harness } from "./harness.js";

// Contract tests of the pull/merge request comment types against a loopback forge that keeps the
// comments it is sent, checked against each forge's documented API and against notification-
// controller v1.9.3's notifiers (internal/notifier/{github_pull_request_comment,
// gitlab_merge_request_comment,gitea_pull_request_comment,git_change_request_comment,markdown}.go):
// - GitHub: "REST API endpoints for issue comments" (docs.github.com/en/rest/issues/comments) and
//   "Get the authenticated user" (docs.github.com/en/rest/users/users);
// - GitLab: "Notes API", merge requests (docs.gitlab.com/api/notes/#merge-requests) and "Users API"
//   (docs.gitlab.com/api/users/#get-the-current-user);
// - Gitea: the API's issue comments and user operations (its swagger, /api/swagger: issueGetComments,
//   issueCreateComment, issueEditComment, userGetCurrent, getVersion).

const TOKEN = "forge-token-4e2a91";
const CHANGE_REQUEST = "event.toolkit.fluxcd.io/change_request";

interface Comment {
  id: number;
  author: string;
  body: string;
}
interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A forge on loopback speaking the three APIs: the token's user is `flux-bot`; comments kept per request number. */
async function forge() {
  const comments = new Map<string, Comment[]>();
  const seen: Seen[] = [];
  let nextId = 1000;
  const server: Server = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      const path = req.url ?? "";
      seen.push({ method: req.method ?? "", path, headers: req.headers, body: text });
      const reply = (status: number, value: unknown) =>
        void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      const authorised =
        req.headers.authorization === `Bearer ${TOKEN}` ||
        req.headers.authorization === `token ${TOKEN}` ||
        req.headers["private-token"] === TOKEN;
      if (!authorised) return reply(401, { message: "Bad credentials" });
      const route = path.split("?")[0] ?? "";
      const api = /^\/api\/(v3|v4|v1)\//.exec(route)?.[1];
      const rest = route.replace(/^\/api\/v\d\//, "");
      if (rest === "version") return reply(200, { version: "1.24.2" });
      if (rest === "user") return reply(200, api === "v4" ? { username: "flux-bot" } : { login: "flux-bot" });
      const shape = (c: Comment) =>
        api === "v4"
          ? { id: c.id, body: c.body, author: { username: c.author } }
          : { id: c.id, body: c.body, user: { login: c.author } };
      const list = /^(?:repos\/org\/app\/issues|projects\/org%2Fapp\/merge_requests)\/(\d+)\/(?:comments|notes)$/.exec(
        rest,
      );
      if (list && req.method === "GET") return reply(200, (comments.get(list[1]!) ?? []).map(shape));
      if (list && req.method === "POST") {
        const comment = { id: nextId++, author: "flux-bot", body: (JSON.parse(text) as { body: string }).body };
        comments.set(list[1]!, [...(comments.get(list[1]!) ?? []), comment]);
        return reply(201, shape(comment));
      }
      const edit =
        /^repos\/org\/app\/issues\/comments\/(\d+)$/.exec(rest) ??
        /^projects\/org%2Fapp\/merge_requests\/\d+\/notes\/(\d+)$/.exec(rest);
      if (edit && (req.method === "PATCH" || req.method === "PUT")) {
        const comment = [...comments.values()].flat().find((c) => c.id === Number(edit[1]));
        if (!comment) return reply(404, { message: "Not Found" });
        comment.body = (JSON.parse(text) as { body: string }).body;
        return reply(200, shape(comment));
      }
      reply(404, { message: "Not Found" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    comments,
    seen,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

let h: Harness;
let host: Awaited<ReturnType<typeof forge>>;
beforeEach(async () => {
  h = await harness();
  host = await forge();
});
afterEach(() => host.close());

async function register(type: string) {
  h.secretData[`${NS}/forge`] = { token: TOKEN };
  await h.register(
    {
      ...provider("pr", { type, address: `${host.url}/org/app`, secretRef: { name: "forge" } }),
      metadata: { name: "pr", namespace: NS, uid: "7d3e5b9a-1111-4222-8333-444455556666" },
    },
    alert("all", "pr"),
  );
}

const markdown = (message: string) =>
  `## Flux Status\n\n⚠️ Kustomization/${NS}/podinfo\n\n${message}\n\nMetadata:\n* \`revision\`: ${REVISION}\n`;
const requested = () => host.seen.map((s) => `${s.method} ${s.path}`);

describe("change request comment Providers (contract tests against a loopback forge)", () => {
  it("githubpullrequestcomment: creates Flux's comment on the pull request named by the object's annotation, then edits that same comment", async () => {
    await register("githubpullrequestcomment");
    await h.send(event({ metadata: { revision: REVISION, [CHANGE_REQUEST]: "42" } }));
    await h.send(event({ message: "applied", metadata: { revision: REVISION, [CHANGE_REQUEST]: "42" } }));
    expect(h.failures()).toEqual([]);
    const marker = `<!-- flux-pr-comment-key:7d3e5b9a-1111-4222-8333-444455556666/Kustomization/${NS}/podinfo -->`;
    expect(host.comments.get("42")).toEqual([
      { id: 1000, author: "flux-bot", body: `${marker}\n\n${markdown("applied")}` },
    ]);
    expect(requested()).toEqual([
      "GET /api/v3/user",
      "GET /api/v3/repos/org/app/issues/42/comments?direction=asc&per_page=100&sort=created",
      "POST /api/v3/repos/org/app/issues/42/comments",
      "GET /api/v3/user",
      "GET /api/v3/repos/org/app/issues/42/comments?direction=asc&per_page=100&sort=created",
      "PATCH /api/v3/repos/org/app/issues/comments/1000",
    ]);
    expect(host.seen[2]?.headers).toMatchObject({
      authorization: `Bearer ${TOKEN}`,
      accept: "application/vnd.github.v3+json",
      "x-github-api-version": "2022-11-28",
      "content-type": "application/json",
    });
  });

  it("gitlabmergerequestcomment: a note with Flux's mr marker, PRIVATE-TOKEN, then PUT on the same note", async () => {
    await register("gitlabmergerequestcomment");
    await h.send(event({ metadata: { revision: REVISION, [CHANGE_REQUEST]: "7" } }));
    await h.send(event({ message: "applied", metadata: { revision: REVISION, [CHANGE_REQUEST]: "7" } }));
    expect(h.failures()).toEqual([]);
    const marker = `<!-- flux-mr-comment-key:7d3e5b9a-1111-4222-8333-444455556666/Kustomization/${NS}/podinfo -->`;
    expect(host.comments.get("7")).toEqual([
      { id: 1000, author: "flux-bot", body: `${marker}\n\n${markdown("applied")}` },
    ]);
    expect(requested()).toEqual([
      "GET /api/v4/user",
      "GET /api/v4/projects/org%2Fapp/merge_requests/7/notes?order_by=created_at&per_page=100&sort=asc",
      "POST /api/v4/projects/org%2Fapp/merge_requests/7/notes",
      "GET /api/v4/user",
      "GET /api/v4/projects/org%2Fapp/merge_requests/7/notes?order_by=created_at&per_page=100&sort=asc",
      "PUT /api/v4/projects/org%2Fapp/merge_requests/7/notes/1000",
    ]);
    expect(host.seen[2]?.headers["private-token"]).toBe(TOKEN);
  });

  it("giteapullrequestcomment: the SDK's version check, then the same cycle with `token` authorization", async () => {
    await register("giteapullrequestcomment");
    await h.send(event({ metadata: { revision: REVISION, [CHANGE_REQUEST]: "3" } }));
    await h.send(event({ message: "applied", metadata: { revision: REVISION, [CHANGE_REQUEST]: "3" } }));
    expect(h.failures()).toEqual([]);
    expect(host.comments.get("3")).toHaveLength(1);
    expect(requested()).toEqual([
      "GET /api/v1/version",
      "GET /api/v1/user",
      "GET /api/v1/repos/org/app/issues/3/comments?limit=100&page=1",
      "POST /api/v1/repos/org/app/issues/3/comments",
      "GET /api/v1/version",
      "GET /api/v1/user",
      "GET /api/v1/repos/org/app/issues/3/comments?limit=100&page=1",
      "PATCH /api/v1/repos/org/app/issues/comments/1000",
    ]);
    expect(host.seen[3]?.headers.authorization).toBe(`token ${TOKEN}`);
  });

  it("attacker: another user's comment carrying Flux's marker is never edited; Flux's own is created beside it", async () => {
    await register("githubpullrequestcomment");
    const marker = `<!-- flux-pr-comment-key:7d3e5b9a-1111-4222-8333-444455556666/Kustomization/${NS}/podinfo -->`;
    host.comments.set("42", [{ id: 1, author: "mallory", body: `${marker}\n\nplease merge` }]);
    await h.send(event({ metadata: { revision: REVISION, [CHANGE_REQUEST]: "42" } }));
    expect(h.failures()).toEqual([]);
    expect(host.comments.get("42")?.map((c) => [c.id, c.author])).toEqual([
      [1, "mallory"],
      [1000, "flux-bot"],
    ]);
    expect(host.comments.get("42")?.[0]?.body).toBe(`${marker}\n\nplease merge`);
  });

  it("events whose object names no request are dropped; a request number that is not one (a path, text) fails naming it, nothing sent", async () => {
    await register("githubpullrequestcomment");
    await h.send(event(), event({ metadata: { revision: REVISION, change_request: "42" } }));
    expect(host.seen).toEqual([]);
    expect(h.failures()).toEqual([]);
    await h.send(
      event({ message: "a", metadata: { [CHANGE_REQUEST]: "1/../../../user" } }),
      event({ message: "b", metadata: { [CHANGE_REQUEST]: "forty-two" } }),
    );
    expect(requested().filter((r) => !r.endsWith("/user"))).toEqual([]);
    expect(h.failures().sort()).toEqual([
      expect.stringContaining(`invalid "change_request" metadata value "1/../../../user"`),
      expect.stringContaining(`invalid "change_request" metadata value "forty-two"`),
    ]);
  });
});
