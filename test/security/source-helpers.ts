import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { request, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { pino } from "pino";
import { FileArtifactStore } from "../../src/artifacts/fs-artifact-store.js";
import { MemoryDependents } from "../../src/store/memory-dependents.js";
import { type ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { defaultSettings, type Settings } from "../../src/controllers/settings.js";
import { FileEvents } from "../../src/notify/file-events.js";
import { MemoryQueue } from "../../src/queue/memory-queue.js";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";
import { FileReceiverIndex } from "../../src/store/fs-receiver-index.js";
import { FileStore } from "../../src/store/fs-store.js";
import { createRepo, type GitInfo } from "../env/git-server.js";
import { RenderCache } from "../../src/controllers/kustomize/render-cache.js";

const run = promisify(execFile);

/** A node of a Git tree written object by object, so it may hold what `git` itself never commits. */
export type TreeNode =
  | { name: string; mode: "100644" | "100755"; content: string }
  | { name: string; mode: "120000"; target: string }
  | { name: string; mode: "160000"; commit: string }
  | { name: string; mode: "40000"; children: TreeNode[] };

/**
 * Commits `tree` as branch main of a new bare repository served by the test bed, writing the tree
 * objects literally (duplicate names, `..`, `.git`, names with `/` are all kept); returns the clone URL.
 */
export async function hostileRepo(
  info: GitInfo,
  name: string,
  tree: TreeNode[],
): Promise<{ url: string; commit: string }> {
  const url = await createRepo(info, name);
  const bare = join(info.root, `${name}.git`);
  const scratch = await mkdtemp(join(tmpdir(), "sluice-hostile-tree-"));
  let serial = 0;
  const hashObject = async (type: "blob" | "tree", data: Buffer): Promise<string> => {
    const file = join(scratch, String(serial++));
    await writeFile(file, data);
    return (await run("git", ["-C", bare, "hash-object", "-w", "--literally", "-t", type, file])).stdout.trim();
  };
  const writeTree = async (nodes: TreeNode[]): Promise<string> => {
    const parts: Buffer[] = [];
    for (const node of nodes) {
      const oid =
        node.mode === "40000"
          ? await writeTree(node.children)
          : node.mode === "160000"
            ? node.commit
            : await hashObject("blob", Buffer.from(node.mode === "120000" ? node.target : node.content));
      parts.push(Buffer.from(`${node.mode} ${node.name}\0`, "utf8"), Buffer.from(oid, "hex"));
    }
    return hashObject("tree", Buffer.concat(parts));
  };
  const treeOid = await writeTree(tree);
  const git = (...args: string[]) =>
    run("git", ["-C", bare, "-c", "user.name=t", "-c", "user.email=t@sluice.invalid", ...args]);
  const commit = (await git("commit-tree", treeOid, "-m", "hostile tree")).stdout.trim();
  await git("update-ref", "refs/heads/main", commit);
  return { url, commit };
}

/**
 * A ReconcilerPorts of local mode's real adapters (file Store, artifacts and events, pino log captured in
 * `logs`) for reconciling GitRepositories; no cluster and no secrets (URLs carry credentials).
 */
export async function sourceRuntime(
  settings: Partial<Settings>,
): Promise<{ rt: ReconcilerPorts; logs: string[]; eventsFile: string }> {
  const state = await mkdtemp(join(tmpdir(), "sluice-source-state-"));
  const logs: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => void (logs.push(chunk.toString()), done()) });
  const clock = {
    now: () => Date.now(),
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  };
  const eventsFile = join(state, "events.jsonl");
  const rt: ReconcilerPorts = {
    store: new FileStore(join(state, "store")),
    queue: new MemoryQueue({ clock }),
    artifacts: new FileArtifactStore(join(state, "artifacts")),
    secrets: { secret: async () => undefined, configMap: async () => undefined },
    events: new FileEvents(eventsFile),
    clock,
    log: pino({ level: "debug" }, sink),
    tools: await resolveTools({ cacheDir: cacheDir() }),
    workDir: state,
    cluster: () => Promise.reject(new Error("no cluster in source tests")),
    settings: { ...defaultSettings, ...settings },
    dependents: new MemoryDependents(),
    renders: new RenderCache(),
    receivers: new FileReceiverIndex(join(state, "receivers")),
  };
  return { rt, logs, eventsFile };
}

/**
 * An HTTP front on loopback that counts requests and connections (those that carried requests, and those still
 * open) and answers them with `handle`, or proxies them to `upstream`.
 */
export async function front(
  upstream: string,
  handle?: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<{
  baseUrl: string;
  port: number;
  requests: () => number;
  connections: () => { used: number; open: number };
  close: () => void;
}> {
  let requests = 0;
  const used = new Set<Socket>();
  let open = 0;
  const server = createServer((req, res) => {
    requests++;
    used.add(req.socket);
    if (handle?.(req, res)) return;
    const proxied = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(proxied);
  });
  server.on("connection", (socket) => {
    open++;
    socket.on("close", () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    requests: () => requests,
    connections: () => ({ used: used.size, open }),
    close: () => server.close().closeAllConnections(),
  };
}
