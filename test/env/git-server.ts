import { execFile, spawn } from "node:child_process";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { Running, RunContext } from "./component.js";
import { MissingPrerequisiteError, freePort } from "./process.js";

const run = promisify(execFile);

/** How tests reach the test bed's Git smart-HTTP server. */
export interface GitInfo {
  /** http://127.0.0.1:PORT — repositories live at `${baseUrl}/<name>.git`. */
  baseUrl: string;
  /** Basic-auth credentials the server requires for every request. */
  username: string;
  password: string;
  /** Folder of the bare repositories. */
  root: string;
  /** e.g. "git version 2.39.5" */
  version: string;
}

/**
 * Real smart HTTP (clone, fetch, push; protocol v0 and v2) by running `git http-backend` as a CGI
 * per request behind a node:http server that enforces basic auth.
 */
export async function start(ctx: RunContext): Promise<Running<GitInfo>> {
  const version = await run("git", ["--version"]).then(
    (r) => r.stdout.trim(),
    () => {
      throw new MissingPrerequisiteError("git", "apt-get install -y git");
    },
  );
  const root = join(ctx.runDir, "git");
  await mkdir(root, { recursive: true });
  const username = "sluice";
  const password = randomBytes(12).toString("hex");
  const expected = Buffer.from(`Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`);

  const server = createServer((req, res) => {
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="sluice-testbed"' }).end("authentication required\n");
      return;
    }
    serveCgi(root, username, req, res);
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return {
    info: { baseUrl: `http://127.0.0.1:${port}`, username, password, root, version },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}

function serveCgi(root: string, user: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const backend = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      ...(req.headers["content-length"] ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
      HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
      // Protocol v2 (used by isomorphic-git's listServerRefs) is negotiated through this header.
      GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  req.pipe(backend.stdin);
  let head = Buffer.alloc(0);
  let headersSent = false;
  let stderr = "";
  backend.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  backend.stdout.on("data", (chunk: Buffer) => {
    if (headersSent) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    headersSent = true;
    res.write(head.subarray(end + 4));
  });
  backend.on("close", (code) => {
    if (!headersSent) res.writeHead(500).write(`git http-backend exited ${code}: ${stderr}`);
    res.end();
  });
}

/** Creates an empty bare repository that accepts pushes over HTTP; returns its clone URL. */
export async function createRepo(info: GitInfo, name: string): Promise<string> {
  const path = join(info.root, `${name}.git`);
  await run("git", ["init", "--quiet", "--bare", "--initial-branch=main", path]);
  await run("git", ["-C", path, "config", "http.receivepack", "true"]);
  return `${info.baseUrl}/${name}.git`;
}

/** Files to commit: a fixture folder to copy, or a map of path → content. */
export type Tree = { folder: string } | { files: Record<string, string> };

/**
 * Commits `tree` as the whole content of `branch` (replacing what was there) and pushes it to the
 * bare repository directly; returns the new commit sha. Optionally tags the commit.
 */
export async function pushTree(
  info: GitInfo,
  name: string,
  tree: Tree,
  options: { branch?: string; message?: string; tag?: string } = {},
): Promise<string> {
  const branch = options.branch ?? "main";
  const bare = join(info.root, `${name}.git`);
  const work = await mkdtemp(join(tmpdir(), "sluice-git-"));
  const git = (...args: string[]) =>
    run("git", ["-C", work, "-c", "user.name=Sluice Test", "-c", "user.email=test@sluice.invalid", ...args]);
  try {
    await git("init", "--quiet", `--initial-branch=${branch}`);
    if ("folder" in tree) await cp(tree.folder, work, { recursive: true });
    else {
      for (const [path, content] of Object.entries(tree.files)) {
        await mkdir(dirname(join(work, path)), { recursive: true });
        await writeFile(join(work, path), content);
      }
    }
    await git("add", "--all");
    // Parent the new commit on the branch tip when it exists, so history is linear.
    const parent = await run("git", ["-C", bare, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`]).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    const treeSha = (await git("write-tree")).stdout.trim();
    const commitArgs = ["commit-tree", treeSha, "-m", options.message ?? "test commit"];
    if (parent) {
      await git("fetch", "--quiet", bare, `refs/heads/${branch}`);
      commitArgs.push("-p", parent);
    }
    const sha = (await git(...commitArgs)).stdout.trim();
    await git("push", "--quiet", bare, `${sha}:refs/heads/${branch}`);
    if (options.tag) await git("push", "--quiet", bare, `${sha}:refs/tags/${options.tag}`);
    return sha;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
