import { createReadStream } from "node:fs";
import { copyFile, mkdir, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { basename, extname, join, resolve, sep } from "node:path";
import type { Running, RunContext } from "./component.js";
import { freePort } from "./process.js";
import { helm } from "./charts.js";
import { podinfoPackages } from "./podinfo.js";

/** How tests reach the static Helm repository (an `index.yaml` plus packaged charts). */
export interface HelmRepoInfo {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The folder it serves; `publishChart` writes here. */
  dir: string;
  version: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".yaml": "application/x-yaml",
  ".tgz": "application/gzip",
  ".prov": "text/plain",
};

/**
 * Serves a folder read-only over HTTP, as a Helm chart repository is served by any static host. It
 * starts with podinfo's real chart in two versions (see podinfo.ts); tests publish more.
 */
export async function start(ctx: RunContext): Promise<Running<HelmRepoInfo>> {
  const dir = join(ctx.runDir, "helm-repo");
  await mkdir(dir, { recursive: true });
  for (const chart of await podinfoPackages(ctx.cacheDir)) await copyFile(chart, join(dir, basename(chart)));
  const server = createServer(async (req, res) => {
    const path = resolve(dir, `.${decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)}`);
    // Only GET/HEAD of files inside the folder; anything else is refused.
    if ((req.method !== "GET" && req.method !== "HEAD") || !path.startsWith(dir + sep))
      return void res.writeHead(404).end();
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return void res.writeHead(404).end();
    res.writeHead(200, {
      "content-type": CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
      "content-length": info.size,
    });
    if (req.method === "HEAD") return void res.end();
    createReadStream(path).pipe(res);
  });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const home = join(ctx.runDir, "helm-home");
  await helm(ctx.cacheDir, ["repo", "index", dir, "--url", url], home);
  const { stdout } = await helm(ctx.cacheDir, ["version", "--template", "{{.Version}}"], home);
  await new Promise<void>((done, fail) => server.once("error", fail).listen(port, "127.0.0.1", done));
  return {
    info: { url, dir, version: `static index (helm ${stdout.trim()})` },
    stop: () => new Promise<void>((done) => server.close(() => done()).closeAllConnections()),
  };
}
