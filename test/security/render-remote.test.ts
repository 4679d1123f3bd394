import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { Kustomization } from "../../src/api/kustomization.js";
import { buildKustomization } from "../../src/render/kustomize.js";
import { defaultRenderLimits } from "../../src/render/limits.js";
import { createRepo, pushTree } from "../env/git-server.js";
import { configMap, kubectl, kustomizationSpec, refusal, tempTree, versions } from "../render/helpers.js";

const run = promisify(execFile);
const { git } = inject("testbed");
const spec = (extra: Partial<Kustomization["spec"]> = {}) => kustomizationSpec({ path: "app", ...extra });
const tree = (files: Record<string, unknown>) => tempTree("sluice-remote-", files);
let serial = 0;

/** A repository on the test bed's Git server holding a kustomization folder `base/`. */
async function remoteBase(): Promise<string> {
  const name = `remote-base-${process.pid}-${serial++}`;
  const url = await createRepo(git, name);
  await pushTree(git, name, {
    files: {
      "base/kustomization.yaml": stringify({ resources: ["cm.yaml"] }),
      "base/cm.yaml": stringify(configMap("from-remote")),
    },
  });
  return `${url}//base?ref=main`;
}

const savedEnv = { ...process.env };
afterEach(() => {
  process.env = { ...savedEnv };
});

describe(`remote bases and the kustomize process (kustomize ${versions.kustomize}, ${git.version})`, () => {
  it.each([
    ["resources", "https://github.com/example/repo//deploy?ref=v1", "is a remote base"],
    ["resources", "https://example.com/manifests/app.yaml", "is a remote base"],
    ["bases", "github.com/example/repo/deploy?ref=v1", "is a remote base"],
    ["components", "git::https://gitlab.example.com/team/repo.git//comp?ref=main", "is a remote base"],
    ["resources", "git@github.com:example/repo.git//deploy", "is a remote base"],
    ["resources", "ssh://git@example.com/repo.git//deploy", "is a remote base"],
    ["generators", "HTTPS://example.com/generator.yaml", "is a remote base"],
    ["resources", "not-here", "is not a local path in the source"],
    ["generators", "kind: X\ngit@github.com:example/repo", "is a remote base"],
  ])("with remote bases disabled, refuses a %s entry '%s'", async (field, entry, reason) => {
    // Arrange
    const root = await tree({
      "app/kustomization.yaml": {
        resources: ["cm.yaml"],
        [field]: field === "resources" ? ["cm.yaml", entry] : [entry],
      },
      "app/cm.yaml": configMap("a"),
    });
    // Act
    const error = await refusal(buildKustomization(root, spec(), { kubectl, noRemoteBases: true }));
    // Assess
    expect(error.message).toBe(
      `app/kustomization.yaml: ${field} entry '${entry}' ${reason}, and remote bases are disabled`,
    );
  });

  it("with remote bases disabled, refuses a remote base in a nested kustomization and a remote patch file", async () => {
    const nested = await tree({
      "app/kustomization.yaml": { resources: ["../base"] },
      "base/kustomization.yaml": { resources: ["https://github.com/example/repo//x"] },
    });
    const patch = await tree({
      "app/kustomization.yaml": { resources: ["cm.yaml"], patches: [{ path: "https://example.com/patch.yaml" }] },
      "app/cm.yaml": configMap("a"),
    });
    expect((await refusal(buildKustomization(nested, spec(), { kubectl, noRemoteBases: true }))).message).toBe(
      "base/kustomization.yaml: resources entry 'https://github.com/example/repo//x' is a remote base, and remote bases are disabled",
    );
    expect((await refusal(buildKustomization(patch, spec(), { kubectl, noRemoteBases: true }))).message).toBe(
      "app/kustomization.yaml: patches.path entry 'https://example.com/patch.yaml' is a remote file, and remote bases are disabled",
    );
  });

  it("refuses a github.com/... entry even when a local folder of that name exists (kustomize would fetch it)", async () => {
    const root = await tree({
      "app/kustomization.yaml": { resources: ["github.com/example/repo"] },
      "app/github.com/example/repo/kustomization.yaml": { resources: ["cm.yaml"] },
      "app/github.com/example/repo/cm.yaml": configMap("a"),
    });
    expect((await refusal(buildKustomization(root, spec(), { kubectl, noRemoteBases: true }))).message).toMatch(
      /resources entry 'github.com\/example\/repo' is a remote base/,
    );
  });

  it("with remote bases disabled, still renders local bases and inline builtin transformers", async () => {
    // Arrange
    const inline = stringify({
      apiVersion: "builtin",
      kind: "LabelTransformer",
      metadata: { name: "team" },
      labels: { team: "a" },
      fieldSpecs: [{ path: "metadata/labels", create: true }],
    });
    const root = await tree({
      "app/kustomization.yaml": { resources: ["../base"], transformers: [inline] },
      "base/kustomization.yaml": { resources: ["cm.yaml"] },
      "base/cm.yaml": configMap("local"),
    });
    // Act
    const objects = await buildKustomization(root, spec(), { kubectl, noRemoteBases: true });
    // Assess
    expect(objects).toEqual([expect.objectContaining({ metadata: { name: "local", labels: { team: "a" } } })]);
  });

  it("fetches a remote base when allowed, but never with the host's git credentials: kustomize gets an empty private HOME", async () => {
    // Arrange: a HOME whose git credential store would authenticate to the test bed's server.
    const base = await remoteBase();
    const home = await mkdtemp(join(tmpdir(), "sluice-host-home-"));
    await writeFile(join(home, ".gitconfig"), "[credential]\n\thelper = store\n");
    await writeFile(
      join(home, ".git-credentials"),
      `http://${git.username}:${git.password}@${new URL(git.baseUrl).host}\n`,
    );
    const root = await tree({ "app/kustomization.yaml": { resources: [base] } });
    const withHostHome = await run(kubectl, ["kustomize", join(root, "app")], {
      env: { PATH: process.env.PATH, HOME: home },
    });
    process.env.HOME = home;
    // Act
    const error = await refusal(buildKustomization(root, spec(), { kubectl }));
    // Assess
    expect(withHostHome.stdout).toContain("from-remote");
    expect(error.message).toMatch(
      /^kustomize build failed: .*(Authentication failed|could not read Username|terminal prompts disabled)/s,
    );
  });

  it("kills kustomize and the git it started (SIGKILL to the process group) at renderLimits.timeoutMs, and hides the environment from them", async () => {
    // Arrange: a "Git server" that accepts connections and never answers.
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      closed.push(new Promise((resolve) => socket.on("close", () => resolve())));
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const root = await tree({
      "app/kustomization.yaml": { resources: [`git::http://127.0.0.1:${port}/stuck.git//base?ref=main`] },
    });
    process.env.AWS_SECRET_ACCESS_KEY = "must-not-leak";
    process.env.GIT_ASKPASS = "/bin/echo";
    try {
      // Act
      const started = Date.now();
      const build = refusal(
        buildKustomization(root, spec(), { kubectl, limits: { ...defaultRenderLimits, timeoutMs: 3_000 } }),
      );
      const environments = await environmentsOf(port, root);
      const error = await build;
      const elapsed = Date.now() - started;
      // Assess
      expect(error.message).toBe("kustomize build did not finish within the 3000 ms limit (renderLimits.timeoutMs)");
      expect(elapsed).toBeLessThan(10_000);
      await Promise.all(closed);
      expect(await processesMentioning(String(port))).toEqual([]);
      expect(environments.length).toBeGreaterThanOrEqual(2);
      for (const env of environments) {
        expect(env).not.toHaveProperty("AWS_SECRET_ACCESS_KEY");
        expect(env).not.toHaveProperty("GIT_ASKPASS");
        expect(env.HOME).toMatch(/sluice-kustomize-home-/);
      }
    } finally {
      server.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  it("kills kustomize once its output passes renderLimits.maxOutputBytes", async () => {
    const files: Record<string, unknown> = {
      "app/kustomization.yaml": { resources: Array.from({ length: 20 }, (_, i) => `cm-${i}.yaml`) },
    };
    for (let i = 0; i < 20; i++) files[`app/cm-${i}.yaml`] = configMap(`cm-${i}`, { blob: "x".repeat(10_000) });
    const error = await refusal(
      buildKustomization(await tree(files), spec(), {
        kubectl,
        limits: { ...defaultRenderLimits, maxOutputBytes: 64 << 10 },
      }),
    );
    expect(error.message).toBe("kustomize output is over the 65536-byte limit (renderLimits.maxOutputBytes)");
  });
});

/** Environments of the kustomize and git processes working on `root` or talking to `port`, read from /proc while they run. */
async function environmentsOf(port: number, root: string): Promise<Record<string, string>[]> {
  const deadline = Date.now() + 2_500;
  let found: Record<string, string>[] = [];
  while (Date.now() < deadline && found.length < 2) {
    found = [];
    for (const pid of await processesMentioning(String(port), root)) {
      const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
      if (environ)
        found.push(
          Object.fromEntries(
            environ
              .split("\0")
              .filter(Boolean)
              .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
          ),
        );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return found;
}

async function processesMentioning(...needles: string[]): Promise<string[]> {
  const pids: string[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p) && p !== String(process.pid))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (needles.some((n) => cmdline.includes(n)) && !cmdline.includes("vitest")) pids.push(pid);
  }
  return pids;
}
