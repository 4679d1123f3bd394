import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { createGzip } from "node:zlib";
import { Header, Parser } from "tar";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FLUX_MEDIA_TYPES, pushLayers, rawTarGz } from "../env/oci.js";
import { REGISTRY_USER, startAuthRegistry } from "../env/auth-registry.js";
import { testCertificates } from "../env/pki.js";
import { front } from "../security/source-helpers.js";
import { startTlsRegistry } from "../env/tls-registry.js";
import { flux } from "./flux.js";
import { runCli, type Run } from "./in-process.js";

// `sluice push|pull|tag artifact` and `list artifacts` against the test bed's registry, with flux
// v2.9.5's own CLI as the oracle: each pulls what the other pushed, and the outputs compare.

const { registry } = inject("testbed");
let work: string;
let counter = 0;
const repo = () => `${registry.host}/cli/app${++counter}`;

/** The CLI in this process, HOME set to the suite's folder. */
const sluice = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { HOME: work, ...env });

/** Every entry of a tar.gz: path, type, permission bits, size, owner, time and content. */
function entries(data: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const found: string[] = [];
    const parser = new Parser({
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on("data", (c: Buffer) => chunks.push(c));
        entry.on("end", () =>
          found.push(
            [entry.path, entry.type, entry.mode?.toString(8), entry.size, entry.uid, entry.mtime?.getTime()].join(" ") +
              ` ${Buffer.concat(chunks).toString("base64")}`,
          ),
        );
      },
    });
    parser.on("end", () => resolve(found)).on("error", reject);
    parser.end(data);
  });
}

async function manifestOf(host: string, repository: string, reference: string) {
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${reference}`, {
    headers: { accept: FLUX_MEDIA_TYPES.manifest },
  });
  return (await response.json()) as {
    mediaType: string;
    config: { mediaType: string; digest: string; size: number };
    layers: { mediaType: string; digest: string; size: number }[];
    annotations: Record<string, string>;
  };
}

const blob = async (host: string, repository: string, digest: string) =>
  Buffer.from(await (await fetch(`http://${host}/v2/${repository}/blobs/${digest}`)).arrayBuffer());

/** A folder of manifests with what Flux leaves out by default (.git, a png) and a link, an executable, a 0600 file. */
async function sourceFolder(): Promise<string> {
  const dir = await mkdtemp(join(work, "src-"));
  await mkdir(join(dir, "deploy", "nested"), { recursive: true });
  await mkdir(join(dir, ".git"));
  await writeFile(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
  await writeFile(join(dir, "deploy", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n");
  await writeFile(join(dir, "deploy", "nested", "run.sh"), "#!/bin/sh\n");
  await chmod(join(dir, "deploy", "nested", "run.sh"), 0o755);
  await writeFile(join(dir, "deploy", "secret.yaml"), "kind: Secret\n");
  await chmod(join(dir, "deploy", "secret.yaml"), 0o600);
  await writeFile(join(dir, "logo.png"), "png");
  await symlink("/etc/passwd", join(dir, "deploy", "passwd"));
  return dir;
}

const listing = async (dir: string): Promise<string[]> =>
  (await readdir(dir, { recursive: true, withFileTypes: true }))
    .map((e) => `${join(e.parentPath, e.name).slice(dir.length + 1)}${e.isDirectory() ? "/" : ""}`)
    .sort();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sluice-artifact-cli-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe(`sluice push artifact, against flux's own push (test bed registry ${registry.version})`, () => {
  it("uploads the artifact flux would: same manifest fields, config bytes, annotations and tarball entries", async () => {
    // Prepare
    const dir = await sourceFolder();
    const [ours, theirs] = [repo(), repo()];
    const args = (url: string) => [
      "push",
      "artifact",
      `oci://${url}:v1.0.0`,
      "--path",
      dir,
      "--source",
      "https://git.example/org/app",
      "--revision",
      "main@sha1:0123456789abcdef0123456789abcdef01234567",
      "--reproducible",
      "-a",
      "org.opencontainers.image.licenses=Apache-2.0",
      "-o",
      "json",
    ];
    // Act
    const pushed = await sluice(args(ours));
    const reference = await flux(args(theirs));
    // Assess
    expect(pushed).toMatchObject({ code: 0, stderr: "" });
    const info = JSON.parse(pushed.stdout) as Record<string, string>;
    const fluxInfo = JSON.parse(reference.stdout) as Record<string, string>;
    expect(Object.keys(info)).toEqual(Object.keys(fluxInfo));
    expect(info).toEqual({
      url: `oci://${ours}@${info.digest}`,
      repository: ours,
      tag: "v1.0.0",
      digest: expect.stringMatching(/^sha256:[a-f0-9]{64}$/) as string,
    });
    const path = (url: string) => url.slice(registry.host.length + 1);
    const [mine, flux_] = [
      await manifestOf(registry.host, path(ours), "v1.0.0"),
      await manifestOf(registry.host, path(theirs), "v1.0.0"),
    ];
    expect(mine.annotations).toEqual(flux_.annotations);
    expect(mine.annotations["org.opencontainers.image.created"]).toBe("1970-01-01T00:00:00Z");
    expect({ ...mine, layers: mine.layers.map((l) => l.mediaType) }).toEqual({
      ...flux_,
      layers: flux_.layers.map((l) => l.mediaType),
    });
    expect(await blob(registry.host, path(ours), mine.config.digest)).toEqual(
      await blob(registry.host, path(theirs), flux_.config.digest),
    );
    const layer = await entries(await blob(registry.host, path(ours), mine.layers[0]!.digest));
    expect(layer).toEqual(await entries(await blob(registry.host, path(theirs), flux_.layers[0]!.digest)));
    // Folders keep the mode the umask gave them; files theirs; the link, .git and the png are left out.
    expect(layer.map((e) => e.split(" ").slice(0, 2).join(" "))).toEqual([
      ". Directory",
      "deploy Directory",
      "deploy/cm.yaml File",
      "deploy/nested Directory",
      "deploy/nested/run.sh File",
      "deploy/secret.yaml File",
    ]);
    expect(layer.filter((e) => e.includes(" File ")).map((e) => e.split(" ")[2])).toEqual(["644", "755", "600"]);
  });

  it("pushes a single file and stdin (--path -), and says where as flux does; a second push uploads no blob", async () => {
    // Prepare
    const dir = await sourceFolder();
    const url = repo();
    const base = ["--source", "s", "--revision", "r"];
    // Act
    const file = await sluice(["push", "artifact", `oci://${url}:file`, "-f", join(dir, "deploy", "cm.yaml"), ...base]);
    const again = await sluice([
      "push",
      "artifact",
      `oci://${url}:again`,
      "-f",
      join(dir, "deploy", "cm.yaml"),
      ...base,
    ]);
    const piped = await new Promise<Run>((resolve) => {
      const child = execFile(
        process.execPath,
        ["bin/sluice.js", "push", "artifact", `oci://${url}:stdin`, "--path", "-", ...base, "-o", "yaml"],
        { env: { PATH: process.env.PATH, HOME: work } },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      );
      Readable.from(["kind: ConfigMap\n\n\n"]).pipe(child.stdin!);
    });
    // Assess
    expect(file.code).toBe(0);
    expect(file.stderr).toMatch(
      new RegExp(
        `^► pushing artifact to ${url}:file\\n✔ artifact successfully pushed to ${url}@sha256:[a-f0-9]{64}\\n$`,
      ),
    );
    expect(again.code).toBe(0);
    const fileManifest = await manifestOf(registry.host, url.slice(registry.host.length + 1), "file");
    expect(
      await entries(await blob(registry.host, url.slice(registry.host.length + 1), fileManifest.layers[0]!.digest)),
    ).toHaveLength(2);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toMatch(/^digest: sha256:[a-f0-9]{64}\nrepository: .*\ntag: stdin\nurl: oci:\/\/.*@sha256:/);
    const out = await mkdtemp(join(work, "stdin-"));
    await sluice(["pull", "artifact", `oci://${url}:stdin`, "-o", out]);
    const [name] = await readdir(out);
    expect(await readFile(join(out, name!), "utf8")).toBe("kind: ConfigMap");
  });

  it("--ignore-paths replaces flux's default exclusions; bad flags fail with exit 1 and flux's message", async () => {
    // Prepare
    const dir = await sourceFolder();
    const url = repo();
    const base = ["--path", dir, "--source", "s", "--revision", "r"];
    // Act
    const ignoring = await sluice(["push", "artifact", `oci://${url}:v1`, ...base, "--ignore-paths", "deploy/nested/"]);
    const noSource = await sluice(["push", "artifact", `oci://${url}:v1`, "--path", dir, "--revision", "r"]);
    const badAnnotation = await sluice(["push", "artifact", `oci://${url}:v1`, ...base, "-a", "a=b=c"]);
    const badCreated = await sluice([
      "push",
      "artifact",
      `oci://${url}:v1`,
      ...base,
      "-a",
      "org.opencontainers.image.created=yesterday",
    ]);
    const noScheme = await sluice(["push", "artifact", url, ...base]);
    const missing = await sluice([
      "push",
      "artifact",
      `oci://${url}:v1`,
      "--path",
      join(dir, "nope"),
      "--source",
      "s",
      "--revision",
      "r",
    ]);
    // Assess
    expect(ignoring.code).toBe(0);
    const manifest = await manifestOf(registry.host, url.slice(registry.host.length + 1), "v1");
    const names = (
      await entries(await blob(registry.host, url.slice(registry.host.length + 1), manifest.layers[0]!.digest))
    ).map((e) => e.split(" ")[0]);
    expect(names).toContain(".git/HEAD");
    expect(names).toContain("logo.png");
    expect(names).not.toContain("deploy/nested/run.sh");
    expect(noSource).toMatchObject({ code: 1, stderr: "✗ --source is required\n" });
    expect(badAnnotation).toMatchObject({
      code: 1,
      stderr: "✗ invalid annotation a=b=c, must be in the format key=value\n",
    });
    expect(badCreated.stderr).toContain('invalid created timestamp "yesterday"');
    expect(noScheme.stderr).toBe("✗ URL must be in format 'oci://<domain>/<org>/<repo>'\n");
    expect(missing.stderr).toContain("must point to an existing directory or file");
  });
});

describe("progress of large artifacts", () => {
  it("reports a layer of 1 MiB or more on stderr: uploaded, already there, downloaded", async () => {
    // Prepare: 2 MiB that gzip cannot shrink
    const dir = await mkdtemp(join(work, "large-"));
    await writeFile(join(dir, "blob.bin"), randomBytes(2 << 20));
    const url = repo();
    const push = (tag: string) =>
      sluice([
        "push",
        "artifact",
        `oci://${url}:${tag}`,
        "--path",
        dir,
        "--source",
        "s",
        "--revision",
        "r",
        "--reproducible",
      ]);
    // Act
    const first = await push("v1");
    const second = await push("v2");
    const pulled = await sluice(["pull", "artifact", `oci://${url}:v1`, "-o", await mkdtemp(join(work, "large-out-"))]);
    // Assess
    expect(first.stderr).toMatch(
      /^► pushing artifact to .*\n► uploading layer of 2\.0 MiB\n✔ layer uploaded \(\d+ ms\)\n✔ artifact successfully pushed/,
    );
    expect(second.stderr).toContain("✔ layer already in the registry (");
    expect(pulled.stderr).toContain("✔ downloaded layer of 2.0 MiB\n");
  });
});

describe("sluice pull artifact", () => {
  it("pulls what flux pushed, and flux pulls what sluice pushed: the same files, links left out", async () => {
    // Prepare
    const dir = await sourceFolder();
    const [ours, theirs] = [repo(), repo()];
    const push = (url: string) => [
      "push",
      "artifact",
      `oci://${url}:v1`,
      "--path",
      dir,
      "--source",
      "src",
      "--revision",
      "rev",
    ];
    await sluice(push(ours));
    await flux(push(theirs));
    const [a, b] = [await mkdtemp(join(work, "a-")), await mkdtemp(join(work, "b-"))];
    // Act
    const pulled = await sluice(["pull", "artifact", `oci://${theirs}:v1`, "-o", a]);
    const byFlux = await flux(["pull", "artifact", `oci://${ours}:v1`, "-o", b]);
    // Assess
    expect(pulled.code).toBe(0);
    expect(pulled.stderr).toMatch(
      new RegExp(
        `^► pulling artifact from ${theirs}:v1\\n✔ source src\\n✔ revision rev\\n✔ digest ${theirs}@sha256:[a-f0-9]{64}\\n✔ artifact content extracted to ${a}\\n$`,
      ),
    );
    expect(byFlux.stderr).toContain(`✔ artifact content extracted to ${b}`);
    expect(await listing(a)).toEqual(await listing(b));
    expect(await listing(a)).toEqual([
      "deploy/",
      "deploy/cm.yaml",
      "deploy/nested/",
      "deploy/nested/run.sh",
      "deploy/secret.yaml",
    ]);
  });

  it("refuses a layer with '..' or an absolute path, leaving an occupied output folder as it was", async () => {
    // Prepare
    const url = repo();
    const repository = url.slice(registry.host.length + 1);
    const hostile = async (tag: string, path: string) =>
      pushLayers(registry.host, repository, tag, [
        {
          data: rawTarGz([
            { path: "ok.yaml", body: "a" },
            { path, body: "escaped" },
          ]),
          mediaType: FLUX_MEDIA_TYPES.content,
        },
      ]);
    await hostile("dots", "../../escaped.yaml");
    await hostile("absolute", `${work}/absolute.yaml`);
    const out = await mkdtemp(join(work, "out-"));
    await writeFile(join(out, "keep.txt"), "mine");
    // Act
    const dots = await sluice(["pull", "artifact", `oci://${url}:dots`, "-o", out]);
    const absolute = await sluice(["pull", "artifact", `oci://${url}:absolute`, "-o", out]);
    // Assess
    expect(dots.code).toBe(1);
    expect(dots.stderr).toContain("'..' is not allowed");
    expect(absolute.code).toBe(1);
    expect(absolute.stderr).toContain("absolute paths are not allowed");
    expect(await listing(out)).toEqual(["keep.txt"]);
    expect(await readdir(work)).not.toContain("absolute.yaml");
  });

  it("drops a symbolic link entry and extracts over an occupied folder, as flux does", async () => {
    // Prepare
    const url = repo();
    await pushLayers(registry.host, url.slice(registry.host.length + 1), "v1", [
      {
        data: rawTarGz([
          { path: "link", type: "SymbolicLink", linkpath: "/etc" },
          { path: "app.yaml", body: "new" },
        ]),
        mediaType: FLUX_MEDIA_TYPES.content,
      },
    ]);
    const out = await mkdtemp(join(work, "out-"));
    await writeFile(join(out, "app.yaml"), "old");
    await writeFile(join(out, "keep.txt"), "mine");
    // Act
    const pulled = await sluice(["pull", "artifact", `oci://${url}:v1`, "-o", out]);
    // Assess
    expect(pulled.code).toBe(0);
    expect(await listing(out)).toEqual(["app.yaml", "keep.txt"]);
    expect(await readFile(join(out, "app.yaml"), "utf8")).toBe("new");
  });

  it("stops a decompression bomb at the extraction limit, and refuses a layer that is not gzip", async () => {
    // Prepare: one tar entry of 600 MiB of zeros, gzipped to well under 1 MiB
    const url = repo();
    const repository = url.slice(registry.host.length + 1);
    const size = 600 << 20;
    const header = Buffer.alloc(512);
    new Header({ path: "bomb.yaml", type: "File", size, mode: 0o644, mtime: new Date(0) }).encode(header, 0);
    const zeros = Buffer.alloc(1 << 20);
    const bomb = await buffer(
      Readable.from(
        (function* () {
          yield header;
          for (let i = 0; i < size >> 20; i++) yield zeros;
          yield Buffer.alloc(1024);
        })(),
      ).pipe(createGzip({ level: 9 })),
    );
    await pushLayers(registry.host, repository, "bomb", [{ data: bomb, mediaType: FLUX_MEDIA_TYPES.content }]);
    await pushLayers(registry.host, repository, "plain", [{ data: Buffer.from("kind: x\n"), mediaType: "text/plain" }]);
    const out = await mkdtemp(join(work, "out-"));
    // Act
    const exploded = await sluice(["pull", "artifact", `oci://${url}:bomb`, "-o", out]);
    const plain = await sluice(["pull", "artifact", `oci://${url}:plain`, "-o", out]);
    const notDir = await sluice(["pull", "artifact", `oci://${url}:plain`, "-o", join(out, "nope")]);
    // Assess
    expect(bomb.length).toBeLessThan(1 << 20);
    expect(exploded.code).toBe(1);
    expect(exploded.stderr).toContain("archive expands to more than 536870912 bytes");
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("is not a gzipped tarball");
    expect(notDir.stderr).toContain("invalid output path");
    expect(await readdir(out)).toEqual([]);
  });
});

describe("sluice build artifact and diff artifact", () => {
  it("builds flux's tarball, and finds no change against an artifact flux pushed from the same folder", async () => {
    // Prepare
    const dir = await sourceFolder();
    const url = repo();
    await flux(["push", "artifact", `oci://${url}:v1`, "--path", dir, "--source", "s", "--revision", "r"]);
    const [ours, theirs] = [join(work, "ours.tgz"), join(work, "theirs.tgz")];
    // Act
    const built = await sluice(["build", "artifact", "-p", dir, "-o", ours]);
    await flux(["build", "artifact", "-p", dir, "-o", theirs]);
    const same = await sluice(["diff", "artifact", `oci://${url}:v1`, "--path", dir]);
    await writeFile(join(dir, "deploy", "cm.yaml"), "changed\n");
    const changed = await sluice(["diff", "artifact", `oci://${url}:v1`, "--path", dir]);
    const noPath = await sluice(["diff", "artifact", `oci://${url}:v1`]);
    // Assess
    expect(built).toMatchObject({
      code: 0,
      stderr: `► building artifact from ${dir}\n✔ artifact created at ${ours}\n`,
    });
    expect(await entries(await readFile(ours))).toEqual(await entries(await readFile(theirs)));
    expect(same).toMatchObject({ code: 0, stderr: "✔ no changes detected\n" });
    expect(changed).toMatchObject({ code: 1, stderr: "✗ the remote artifact contents differs from the local one\n" });
    expect(noPath).toMatchObject({ code: 1, stderr: '✗ invalid path ""\n' });
  });
});

describe("sluice tag artifact and list artifacts", () => {
  it("tags as flux does, and lists byte for byte as flux lists (newest name first, cosign tags hidden, filters)", async () => {
    // Prepare
    const dir = await sourceFolder();
    const url = repo();
    for (const tag of ["1.0.0", "1.1.0", "2.0.0-rc.1", "v2.0.0", "dev"])
      await sluice([
        "push",
        "artifact",
        `oci://${url}:${tag}`,
        "--path",
        dir,
        "--source",
        "src",
        "--revision",
        `r-${tag}`,
      ]);
    // Act
    const tagged = await sluice([
      "tag",
      "artifact",
      `oci://${url}:1.1.0`,
      "--tag",
      "latest,stable",
      "--tag",
      "sha256-x.sig",
    ]);
    const lists = [
      [],
      ["--filter-semver", ">=1.1.0"],
      ["--filter-regex", "^v|dev"],
      ["--filter-semver", "1.x", "--filter-regex", "0$"],
    ];
    const ours: Run[] = [];
    for (const flags of lists) ours.push(await sluice(["list", "artifacts", `oci://${url}`, ...flags]));
    const theirs = await Promise.all(lists.map((flags) => flux(["list", "artifacts", `oci://${url}`, ...flags])));
    const badSemver = await sluice(["list", "artifacts", `oci://${url}`, "--filter-semver", "not a range"]);
    // Assess
    expect(tagged).toMatchObject({
      code: 0,
      stderr: `► tagging artifact\n✔ artifact tagged as ${url}:latest\n✔ artifact tagged as ${url}:stable\n✔ artifact tagged as ${url}:sha256-x.sig\n`,
    });
    expect(ours.map((r) => r.stdout)).toEqual(theirs.map((r) => r.stdout));
    expect(ours[0]!.stdout.split("\n").map((line) => line.split("\t")[0]!.trim())).toEqual([
      "ARTIFACT",
      `${url}:v2.0.0`,
      `${url}:stable`,
      `${url}:latest`,
      `${url}:dev`,
      `${url}:2.0.0-rc.1`,
      `${url}:1.1.0`,
      `${url}:1.0.0`,
      "",
    ]);
    expect(ours[0]!.stdout).toContain(`${url}:latest`);
    const row = (tag: string) =>
      ours[0]!.stdout.split("\n").find((l) => l.startsWith(`${url}:${tag}\t`) || l.startsWith(`${url}:${tag} `));
    expect(row("latest")!.split("\t")[1]).toBe(row("1.1.0")!.split("\t")[1]);
    expect(badSemver.code).toBe(1);
    expect(badSemver.stderr).toContain("semver 'not a range' parse error");
  });
});

describe("registry credentials and TLS", () => {
  let auth: Awaited<ReturnType<typeof startAuthRegistry>>;
  beforeAll(async () => {
    auth = await startAuthRegistry();
  });
  afterAll(async () => {
    await auth.stop();
  });

  it("logs in with the docker config or --creds; without credentials the push fails and no secret is printed", async () => {
    // Prepare
    const dir = await sourceFolder();
    const { username, password } = REGISTRY_USER;
    const dockerConfig = await mkdtemp(join(work, "docker-"));
    await writeFile(
      join(dockerConfig, "config.json"),
      JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } } }),
    );
    const push = (tag: string) => [
      "push",
      "artifact",
      `oci://${auth.host}/cli/private:${tag}`,
      "--path",
      dir,
      "--source",
      "s",
      "--revision",
      "r",
    ];
    // Act
    const anonymous = await sluice(push("v1"));
    const wrong = await sluice([...push("v1"), "--creds", `${username}:not-the-password`]);
    const withConfig = await sluice(push("v1"), { DOCKER_CONFIG: dockerConfig });
    const withCreds = await sluice([...push("v2"), "--creds", `${username}:${password}`]);
    const out = await mkdtemp(join(work, "private-"));
    const pulled = await sluice(["pull", "artifact", `oci://${auth.host}/cli/private:v2`, "-o", out], {
      DOCKER_CONFIG: dockerConfig,
    });
    const tokenOnly = await sluice([...push("v3"), "--creds", "just-a-token"]);
    // Assess
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/pushing artifact failed: .*401/);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).not.toContain("not-the-password");
    expect(withConfig.code).toBe(0);
    expect(withCreds).toMatchObject({ code: 0 });
    expect(withCreds.stderr).toContain("► logging in to registry with credentials\n");
    expect(pulled.code).toBe(0);
    expect(await listing(out)).toContain("deploy/cm.yaml");
    expect(tokenOnly.stderr).toContain("a registry token alone is not supported");
    for (const run of [anonymous, wrong, withConfig, withCreds, pulled])
      expect(run.stderr + run.stdout).not.toContain(password);
  });

  it("asks a bearer realm for a push token (scope pull,push) with the credentials; a pull token cannot write", async () => {
    // Prepare: a front of the test bed registry that writes only with a token granted for push
    const { username, password } = REGISTRY_USER;
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    const scopes: string[] = [];
    let port = 0;
    const server = await front(`http://${registry.host}`, (req, res) => {
      const url = new URL(req.url ?? "/", "http://front");
      if (url.pathname === "/token") {
        const scope = url.searchParams.get("scope") ?? "";
        scopes.push(scope);
        if (req.headers.authorization !== basic) return (void res.writeHead(401).end(), true);
        const token = scope.endsWith(":pull,push") ? "push-token" : "pull-token";
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: 300 }));
        return true;
      }
      const reads = req.method === "GET" || req.method === "HEAD";
      const auth = req.headers.authorization;
      if (auth === "Bearer push-token" || (reads && auth === "Bearer pull-token")) return false;
      const realm = `http://127.0.0.1:${port}/token`;
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="front"` }).end();
      return true;
    });
    port = server.port;
    const dir = await sourceFolder();
    const url = `127.0.0.1:${port}/cli/bearer`;
    try {
      // Act
      const creds = ["--creds", `${username}:${password}`];
      const pushed = await sluice([
        "push",
        "artifact",
        `oci://${url}:v1`,
        "--path",
        dir,
        "--source",
        "s",
        "--revision",
        "r",
        ...creds,
      ]);
      const tagged = await sluice(["tag", "artifact", `oci://${url}:v1`, "--tag", "v2", ...creds]);
      const listed = await sluice(["list", "artifacts", `oci://${url}`, ...creds]);
      // Assess
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(tagged.code, tagged.stderr).toBe(0);
      expect(listed.stdout).toContain(`${url}:v2\t`);
      expect(scopes).toContain("repository:cli/bearer:pull,push");
      expect(scopes).toContain("repository:cli/bearer:pull");
      for (const run of [pushed, tagged, listed]) expect(run.stdout + run.stderr).not.toMatch(/push-token|s3cret/);
    } finally {
      server.close();
    }
  });

  it("sends no credentials to an upload Location on another host, as go-containerregistry sends none", async () => {
    // Prepare: a registry front that starts every upload on a second server, which records what it is sent
    const { username, password } = REGISTRY_USER;
    const received: (string | undefined)[] = [];
    const elsewhere = await front(`http://${registry.host}`, (req) => {
      received.push(req.headers.authorization);
      return false;
    });
    const server = await front(`http://${registry.host}`, (req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="front"' }).end();
        return true;
      }
      if (req.method !== "POST") return false;
      res.writeHead(202, { location: `${elsewhere.baseUrl}/v2/cli/upload/blobs/uploads/stolen` }).end();
      return true;
    });
    const dir = await sourceFolder();
    try {
      // Act
      const pushed = await sluice([
        ...["push", "artifact", `oci://127.0.0.1:${server.port}/cli/upload:v1`, "--path", dir],
        ...["--source", "s", "--revision", "r", "--creds", `${username}:${password}`],
      ]);
      // Assess: the upload reached the other server (and failed there), without the Authorization header
      expect(pushed.code).toBe(1);
      expect(received.length).toBeGreaterThan(0);
      expect(received.every((authorization) => authorization === undefined)).toBe(true);
    } finally {
      server.close();
      elsewhere.close();
    }
  });

  it("--provider aws is refused for a registry that is not ECR's, naming the provider step", async () => {
    // Act
    const result = await sluice(["list", "artifacts", `oci://${registry.host}/cli/x`, "--provider", "aws"]);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`✗ error during login with provider: '${registry.host}' is not an ECR registry`);
  });

  it("trusts a registry's certificate through SSL_CERT_FILE, and refuses it without", async () => {
    // Prepare
    const pki = await testCertificates();
    const tls = await startTlsRegistry(pki);
    const caFile = join(work, "ca.crt");
    await writeFile(caFile, pki.ca);
    const dir = await sourceFolder();
    try {
      const push = [
        "push",
        "artifact",
        `oci://${tls.host}/cli/tls:v1`,
        "--path",
        dir,
        "--source",
        "s",
        "--revision",
        "r",
      ];
      // Act
      const trusted = await sluice(push, { SSL_CERT_FILE: caFile });
      const listed = await sluice(["list", "artifacts", `oci://${tls.host}/cli/tls`], { SSL_CERT_FILE: caFile });
      const untrusted = await sluice(push);
      // Assess
      // The registry known to answer HTTPS (this process's client remembers it), the refusal names the certificate.
      expect(untrusted.code, untrusted.stderr).toBe(1);
      expect(untrusted.stderr).toMatch(/pushing artifact failed: .*certificate/);
      expect(trusted.code).toBe(0);
      expect(listed.stdout).toContain(`${tls.host}/cli/tls:v1\t`);
    } finally {
      await tls.stop();
    }
  });
});
