import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import type { HelmChart } from "../../src/api/helmchart.js";
import { archiveDirectory } from "../../src/artifacts/archive.js";
import { extractArchive } from "../../src/artifacts/extract.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { readEvents } from "../../src/notify/file-events.js";
import type { MemoryQueue } from "../../src/queue/memory-queue.js";
import { applyToStore, writeStatus } from "../../src/store/objects.js";
import { publishChart, testHelm, tinyChart } from "../env/charts.js";
import { front, sourceRuntime } from "../security/source-helpers.js";

// HelmChart against the test bed's static Helm repository (charts packaged by the real helm), a
// GitRepository artifact stored as the GitRepository reconcile stores one, and hostile servers.
// Reconciled through dispatch, as every runtime does.

const helmRepo = inject("testbed").helmRepo;
let ports: ReconcilerPorts;
let eventsFile: string;
let serial = 0;
const servers: { close(): void }[] = [];

beforeAll(async () => {
  ({ rt: ports, eventsFile } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
});
afterAll(() => servers.forEach((s) => s.close()));

type Status = NonNullable<HelmChart["status"]>;
const condition = (status: Status, type: string) => status.conditions?.find((c) => c.type === type);

/** Publishes versions of a chart of its own name (extra files beside values.yaml) and reconciles a HelmRepository for it. */
async function repositoryWith(versions: string[], files: Record<string, string> = {}) {
  const name = `hc-${++serial}`;
  for (const version of versions) {
    const dir = await tinyChart(name, version);
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
    await publishChart(helmRepo, dir);
  }
  await reconcileObject("HelmRepository", name, { interval: "5m", url: helmRepo.url });
  return name;
}

async function reconcileObject(kind: string, name: string, spec: Record<string, unknown>, generation = 1) {
  await applyToStore(ports.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind,
    metadata: { name, namespace: "apps", generation },
    spec,
  });
  return dispatch(ports, { key: `${kind}/apps/${name}`, reason: "interval" });
}

/** Stores a HelmChart, reconciles it once; its status, events and the files of its artifact. */
async function reconcileChart(name: string, spec: Partial<HelmChart["spec"]>, generation = 1) {
  const full = { interval: "5m", chart: name, sourceRef: { kind: "HelmRepository", name }, ...spec };
  const outcome = await reconcileObject("HelmChart", name, full, generation);
  const status = outcome!.status as Status;
  const events = (await readEvents(eventsFile)).filter(
    (e) => e.involvedObject.kind === "HelmChart" && e.involvedObject.name === name,
  );
  return { status, events };
}

/** The files of a stored chart archive, extracted. */
async function filesOf(status: Status): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-chart-out-"));
  await extractArchive((await ports.artifacts.get(status.artifact!.path))!, dir);
  return dir;
}

describe("HelmChart from a HelmRepository", () => {
  it("a new index wakes the HelmCharts built from it at once, not at their interval, and they take the new version", async () => {
    // Arrange
    const name = await repositoryWith(["1.0.0"]);
    const first = await reconcileChart(name, {});
    await publishChart(helmRepo, await tinyChart(name, "1.1.0"));
    // Act
    await dispatch(ports, { key: `HelmRepository/apps/${name}`, reason: "interval" });
    const woken = (ports.queue as MemoryQueue).pending().filter((p) => p.key === `HelmChart/apps/${name}`);
    const second = await dispatch(ports, { key: `HelmChart/apps/${name}`, reason: "source" });
    // Assess
    expect(first.status.artifact?.revision).toBe("1.0.0");
    expect(woken.filter((p) => p.reason === "source")).toHaveLength(1);
    expect((second!.status as Status).artifact?.revision).toBe("1.1.0");
  });

  it("stores the newest version the range allows, byte for byte as the repository serves it, named <chart>-<version>.tgz", async () => {
    // Prepare
    const name = await repositoryWith(["1.0.0", "1.1.0", "2.0.0-rc.1", "3.0.0"]);
    // Act
    const ranged = await reconcileChart(name, { version: ">=1.0.0, <2.0.0" });
    // Assess
    const message = `pulled '${name}' chart with version '1.1.0'`;
    expect(condition(ranged.status, "Ready")).toMatchObject({ status: "True", reason: "ChartPullSucceeded", message });
    expect(condition(ranged.status, "ArtifactInStorage")).toMatchObject({
      status: "True",
      reason: "ChartPullSucceeded",
    });
    expect(ranged.status.artifact).toMatchObject({
      revision: "1.1.0",
      path: `helmchart/apps/${name}/${name}-1.1.0.tgz`,
    });
    expect(ranged.status).toMatchObject({
      observedChartName: name,
      observedSourceArtifactRevision: expect.stringMatching(/^sha256:/),
    });
    const served = await readFile(join(helmRepo.dir, `${name}-1.1.0.tgz`));
    expect(await ports.artifacts.get(ranged.status.artifact!.path)).toEqual(served);
    expect(ranged.events.map((e) => [e.reason, e.message])).toEqual([["ChartPullSucceeded", message]]);
  });

  it("reads ranges as Helm's semver does: '*' is the newest stable, a pre-release only when the range names one", async () => {
    const name = await repositoryWith(["1.0.0", "2.0.0-rc.1", "1.5.0"]);
    expect((await reconcileChart(name, {})).status.artifact?.revision).toBe("1.5.0");
    expect((await reconcileChart(name, { version: ">=2.0.0-0" }, 2)).status.artifact?.revision).toBe("2.0.0-rc.1");
    expect((await reconcileChart(name, { version: "~1.0" }, 3)).status.artifact?.revision).toBe("1.0.0");
  });

  it("downloads again only when the chosen version or the spec changed", async () => {
    // Prepare: the first reconcile stores 1.0.0, then the repository loses the archive
    const name = await repositoryWith(["1.0.0"]);
    const first = await reconcileChart(name, {});
    const { rm } = await import("node:fs/promises");
    await rm(join(helmRepo.dir, `${name}-1.0.0.tgz`));
    // Act
    const again = await reconcileChart(name, {});
    const changed = await reconcileChart(name, { valuesFiles: ["values.yaml"] }, 2);
    // Assess: nothing downloaded while unchanged; a new generation rebuilds and finds the archive gone
    expect(again.status.artifact).toEqual(first.status.artifact);
    expect(condition(again.status, "Ready")?.status).toBe("True");
    expect(again.events).toHaveLength(1);
    expect(condition(changed.status, "Ready")).toMatchObject({ status: "False", reason: "ChartPullError" });
    expect(condition(changed.status, "FetchFailed")?.message).toContain("404");
    expect(changed.status.artifact).toEqual(first.status.artifact);
  });

  it("merges valuesFiles in order into values.yaml, the generation as the version's build metadata", async () => {
    // Prepare
    const name = await repositoryWith(["1.0.0"], {
      "values-prod.yaml": stringify({ greeting: "prod", nested: { a: 1, b: 2 } }),
      "values-eu.yaml": stringify({ nested: { b: 3 }, region: "eu" }),
    });
    // Act
    const { status, events } = await reconcileChart(name, {
      valuesFiles: ["values.yaml", "values-prod.yaml", "values-eu.yaml"],
    });
    // Assess
    const message = `packaged '${name}' chart with version '1.0.0+1' and merged values files [values.yaml values-prod.yaml values-eu.yaml]`;
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: "ChartPackageSucceeded", message });
    expect(status.artifact?.path).toBe(`helmchart/apps/${name}/${name}-1.0.0+1.tgz`);
    const dir = await filesOf(status);
    const { parse } = await import("yaml");
    expect(parse(await readFile(join(dir, name, "values.yaml"), "utf8"))).toEqual({
      greeting: "prod",
      nested: { a: 1, b: 3 },
      region: "eu",
    });
    expect(parse(await readFile(join(dir, name, "Chart.yaml"), "utf8"))).toMatchObject({ name, version: "1.0.0+1" });
    expect(events.map((e) => e.reason)).toEqual(["ChartPackageSucceeded"]);
    // helm itself reads the packaged chart
    const { stdout } = await testHelm(["template", "r", join(dir, name)]);
    expect(stdout).toContain('greeting: "prod"');
  });

  it("skips a missing values file with ignoreMissingValuesFiles and records the files it used; without it, stalls naming the file", async () => {
    const name = await repositoryWith(["1.0.0"], { "values-prod.yaml": "greeting: prod\n" });
    const ignored = await reconcileChart(name, {
      valuesFiles: ["values-prod.yaml", "values-missing.yaml"],
      ignoreMissingValuesFiles: true,
    });
    expect(condition(ignored.status, "Ready")?.status).toBe("True");
    expect(ignored.status.observedValuesFiles).toEqual(["values-prod.yaml"]);

    const missing = await reconcileChart(name, { valuesFiles: ["values-prod.yaml", "values-missing.yaml"] }, 2);
    expect(condition(missing.status, "Ready")).toMatchObject({
      status: "False",
      reason: "ValuesFilesError",
      message: "values files merge error: no values file found at path 'values-missing.yaml'",
    });
    expect(condition(missing.status, "Stalled")?.status).toBe("True");
    expect(condition(missing.status, "BuildFailed")?.status).toBe("True");
  });

  it("stalls on a version the index does not have, naming spec.version, and keeps the artifact it had", async () => {
    const name = await repositoryWith(["1.0.0"]);
    const before = await reconcileChart(name, {});
    const { status, events } = await reconcileChart(name, { version: "9.9.9" }, 2);
    expect(condition(status, "Ready")).toMatchObject({
      status: "False",
      reason: "InvalidChartReference",
      message: `invalid chart reference: failed to get chart version for remote reference: no '${name}' chart with version matching '9.9.9' found (spec.chart '${name}', spec.version '9.9.9')`,
    });
    expect(condition(status, "Stalled")?.status).toBe("True");
    expect(condition(status, "FetchFailed")?.reason).toBe("InvalidChartReference");
    expect(status.artifact).toEqual(before.status.artifact);
    expect(events.at(-1)).toMatchObject({ severity: "error", reason: "InvalidChartReference" });
  });

  it("verify on a chart from an HTTP repository fails as in Flux (not implemented there), storing nothing", async () => {
    const name = await repositoryWith(["1.0.0"]);
    const verify = { provider: "cosign" as const, secretRef: { name: "keys" } };
    const { status, events } = await reconcileChart(name, { verify });
    const message = "chart verification error: not implemented";
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "ChartVerificationError", message });
    expect(condition(status, "BuildFailed")).toMatchObject({ status: "True", reason: "ChartVerificationError" });
    expect(condition(status, "SourceVerified")).toMatchObject({
      status: "False",
      reason: "VerificationError",
      message,
    });
    expect(status.artifact).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ severity: "error", reason: "ChartVerificationError" });
  });

  it("waits for a source that is missing or has no artifact yet", async () => {
    const absent = await reconcileChart(`absent-${++serial}`, {});
    expect(condition(absent.status, "Ready")).toMatchObject({ status: "False", reason: "SourceUnavailable" });
    expect(condition(absent.status, "Ready")?.message).toMatch(/HelmRepository.* not found/);
    const name = `unfetched-${++serial}`;
    await applyToStore(ports.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmRepository",
      metadata: { name, namespace: "apps", generation: 1 },
      spec: { interval: "5m", url: helmRepo.url },
    });
    const unfetched = await reconcileChart(name, {});
    expect(condition(unfetched.status, "Ready")).toMatchObject({
      status: "False",
      reason: "NoSourceArtifact",
      message: `no artifact available for HelmRepository source '${name}'`,
    });
    expect(condition(unfetched.status, "Stalled")).toBeUndefined();
  });
});

describe("HelmChart credentials", () => {
  it("sends the HelmRepository's basic auth with the chart to its own origin only, to another with passCredentials", async () => {
    // Prepare: the chart on a second server (another origin) that records the Authorization it gets
    const archive = await readFile(join(helmRepo.dir, `${await repositoryWith(["1.0.0"])}-1.0.0.tgz`));
    const seen: (string | undefined)[] = [];
    const elsewhere = createServer(
      (req, res) => void (seen.push(req.headers.authorization), res.writeHead(200).end(archive)),
    );
    await new Promise<void>((done) => elsewhere.listen(0, "127.0.0.1", done));
    servers.push({ close: () => elsewhere.close().closeAllConnections() });
    const chartAt = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/c.tgz`;
    const name = await hostileRepository(archive, { url: chartAt });
    ports.secrets = {
      secret: async () => ({ username: "reader", password: "s3cret" }),
      configMap: async () => undefined,
    };
    const repository = (await ports.store.get({ kind: "HelmRepository", namespace: "apps", name }))!.object;
    const spec = repository.spec as Record<string, unknown>;
    try {
      // Act
      await reconcileObject("HelmRepository", name, { ...spec, secretRef: { name: "auth" } }, 2);
      const withheld = await reconcileChart(name, { chart: "evil" });
      await reconcileObject("HelmRepository", name, { ...spec, secretRef: { name: "auth" }, passCredentials: true }, 3);
      // a new generation of the chart, so it is pulled again ([values.yaml] alone leaves the chart as it is)
      const passed = await reconcileChart(name, { chart: "evil", valuesFiles: ["values.yaml"] }, 2);
      // Assess
      expect(condition(withheld.status, "Ready")?.status).toBe("True");
      expect(condition(passed.status, "Ready")?.status).toBe("True");
      expect(seen).toEqual([undefined, `Basic ${Buffer.from("reader:s3cret").toString("base64")}`]);
    } finally {
      ports.secrets = { secret: async () => undefined, configMap: async () => undefined };
    }
  });
});

/** A tar.gz of raw entries (headers written by hand, so any path or type can be tried). */
function tarGz(
  entries: { path: string; type?: "File" | "Directory" | "SymbolicLink"; body?: string; linkpath?: string }[],
) {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? "");
    const header = Buffer.alloc(512);
    new Header({
      path: entry.path,
      type: entry.type ?? "File",
      size: entry.type === "File" || !entry.type ? body.length : 0,
      mode: 0o644,
      mtime: new Date(0),
      linkpath: entry.linkpath,
    }).encode(header, 0);
    blocks.push(header);
    if (body.length > 0 && (entry.type ?? "File") === "File")
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const CHART_YAML = "apiVersion: v2\nname: evil\nversion: 1.0.0\n";

/** A repository on loopback whose index lists `evil` 1.0.0 at `url` (relative to it or absolute), served `archive`. */
async function hostileRepository(archive: Buffer, options: { url?: string; digest?: string } = {}) {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/index.yaml") {
      const entry = {
        apiVersion: "v2",
        name: "evil",
        version: "1.0.0",
        urls: [options.url ?? "evil-1.0.0.tgz"],
        digest: options.digest ?? createHash("sha256").update(archive).digest("hex"),
      };
      return void res.writeHead(200).end(stringify({ apiVersion: "v1", entries: { evil: [entry] } }));
    }
    res.writeHead(200).end(archive);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  servers.push({ close: () => server.close().closeAllConnections() });
  const name = `evil-${++serial}`;
  await reconcileObject("HelmRepository", name, {
    interval: "5m",
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  return name;
}

describe("HelmChart refuses hostile charts and indexes, storing nothing", () => {
  const cases: [string, () => Promise<string>, RegExp][] = [
    [
      "an archive with a symlink",
      () =>
        hostileRepository(
          tarGz([
            { path: "evil/Chart.yaml", body: CHART_YAML },
            { path: "evil/values.yaml", type: "SymbolicLink", linkpath: "/etc/passwd" },
          ]),
        ),
      /unsupported file type SymbolicLink/,
    ],
    [
      "an archive with '..'",
      () => hostileRepository(tarGz([{ path: "evil/../../escape", body: "x" }])),
      /'\.\.' is not allowed/,
    ],
    [
      "an archive over the chart size limit",
      () => hostileRepository(Buffer.alloc((10 << 20) + 1)),
      /exceeds the maximum chart size of 10485760 bytes/,
    ],
    [
      "an index entry pointing at the metadata address",
      () =>
        hostileRepository(tarGz([{ path: "evil/Chart.yaml", body: CHART_YAML }]), {
          url: "http://169.254.169.254/latest/meta-data/x.tgz",
        }),
      /169\.254\.169\.254/,
    ],
    [
      "an index entry pointing at a local file",
      () => hostileRepository(tarGz([{ path: "evil/Chart.yaml", body: CHART_YAML }]), { url: "file:///etc/passwd" }),
      /chart URL file:\/\/\/etc\/passwd: only http and https are fetched/,
    ],
    [
      "a digest other than the index's",
      () => hostileRepository(tarGz([{ path: "evil/Chart.yaml", body: CHART_YAML }]), { digest: "0".repeat(64) }),
      /not the sha256:0{64} the index gives/,
    ],
    [
      "an archive without Chart.yaml",
      () => hostileRepository(tarGz([{ path: "evil/values.yaml", body: "a: 1\n" }])),
      /Chart.yaml file is missing/,
    ],
  ];
  it.each(cases)("%s: Ready=False ChartPullError", async (_what, prepare, detail) => {
    // Prepare
    const name = await prepare();
    // Act
    const { status } = await reconcileChart(name, { chart: "evil" });
    // Assess
    expect(condition(status, "Ready")).toMatchObject({ status: "False", reason: "ChartPullError" });
    expect(condition(status, "Ready")?.message).toMatch(
      /^chart pull error: failed to download chart|^chart pull error: /,
    );
    expect(condition(status, "Ready")?.message).toMatch(detail);
    expect(status.artifact).toBeUndefined();
    expect(await ports.artifacts.list(`helmchart/apps/${name}/`)).toEqual([]);
  });
});

/** Stores a GitRepository whose artifact is the folder `files` describes, as its reconcile stores one. */
async function gitSource(
  files: Record<string, string | Buffer>,
  { name = `git-${++serial}`, commit = "0123456789abcdef".repeat(3).slice(0, 40) } = {},
) {
  const dir = await mkdtemp(join(tmpdir(), "sluice-chart-git-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const archive = await archiveDirectory(dir, { ignore: "" });
  const stored = await ports.artifacts.put(`gitrepository/apps/${name}/${commit}.tar.gz`, archive.data);
  const object = {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name, namespace: "apps", generation: 1 },
    spec: { interval: "5m", url: "https://git.example/org/charts.git" },
  };
  await applyToStore(ports.store, object);
  const revision = `main@sha1:${commit}`;
  await writeStatus(
    ports.store,
    { kind: "GitRepository", namespace: "apps", name },
    {
      artifact: { ...stored, revision, lastUpdateTime: new Date().toISOString() },
    },
  );
  return name;
}

const chartYaml = (name: string, version: string, dependencies: object[] = []) =>
  stringify({ apiVersion: "v2", name, version, ...(dependencies.length ? { dependencies } : {}) });
const TEMPLATE =
  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n";

describe("HelmChart from a GitRepository", () => {
  it("packages the chart folder with its file:// dependencies; reconcileStrategy Revision adds the short commit", async () => {
    // Prepare
    const name = await gitSource({
      "charts/app/Chart.yaml": chartYaml("app", "0.1.0", [
        { name: "lib", version: "^1.0.0", repository: "file://../lib" },
      ]),
      "charts/app/values.yaml": "greeting: app\n",
      "charts/app/templates/cm.yaml": TEMPLATE,
      "charts/app/.helmignore": "*.md\n",
      "charts/app/NOTES.md": "left out\n",
      "charts/lib/Chart.yaml": chartYaml("lib", "1.2.0"),
      "charts/lib/values.yaml": "greeting: lib\n",
      "charts/lib/templates/cm.yaml": TEMPLATE,
      "values/prod.yaml": "greeting: prod\n",
    });
    // Act
    const { status } = await reconcileChart(name, {
      chart: "charts/app",
      sourceRef: { kind: "GitRepository", name },
      reconcileStrategy: "Revision",
      valuesFiles: ["values/prod.yaml"],
    });
    // Assess
    expect(condition(status, "Ready")).toMatchObject({
      status: "True",
      reason: "ChartPackageSucceeded",
      message: "packaged 'app' chart with version '0.1.0+0123456789ab.1' and merged values files [values/prod.yaml]",
    });
    expect(status.artifact?.revision).toBe("0.1.0+0123456789ab.1");
    const dir = await filesOf(status);
    const { stdout } = await testHelm(["template", "r", join(dir, "app")]);
    expect(stdout).toContain("name: r-app");
    expect(stdout).toContain("name: r-lib");
    expect(stdout).toContain('greeting: "prod"');
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(join(dir, "app"))).sort()).toEqual([
      ".helmignore",
      "Chart.yaml",
      "charts",
      "templates",
      "values.yaml",
    ]);
  });

  it("with reconcileStrategy ChartVersion keeps the artifact across commits of the same chart version; Revision makes a new one", async () => {
    // Prepare
    const files = { "app/Chart.yaml": chartYaml("app", "0.1.0"), "app/values.yaml": "greeting: app\n" };
    const name = await gitSource(files);
    const byVersion = { chart: "app", sourceRef: { kind: "GitRepository" as const, name } };
    const byRevision = { ...byVersion, reconcileStrategy: "Revision" as const };
    const first = await reconcileChart(name, byVersion);
    const firstRevision = await reconcileChart(`${name}-rev`, byRevision);
    // Act: a new commit with the same chart
    await gitSource(
      { ...files, "README.md": "changed\n" },
      { name, commit: "fedcba9876543210".repeat(3).slice(0, 40) },
    );
    const second = await reconcileChart(name, byVersion);
    const secondRevision = await reconcileChart(`${name}-rev`, byRevision);
    // Assess
    expect(condition(first.status, "Ready")?.message).toBe("packaged 'app' chart with version '0.1.0'");
    expect(second.status.artifact).toEqual(first.status.artifact);
    expect(second.status.observedSourceArtifactRevision).toMatch(/@sha1:fedcba/);
    expect(second.events).toHaveLength(1);
    expect(firstRevision.status.artifact?.revision).toBe("0.1.0+0123456789ab");
    expect(secondRevision.status.artifact?.revision).toBe("0.1.0+fedcba987654");
    expect(secondRevision.events.map((e) => e.message)).toEqual([
      "packaged 'app' chart with version '0.1.0+0123456789ab'",
      "packaged 'app' chart with version '0.1.0+fedcba987654'",
    ]);
  });

  it("takes a packaged chart in the source as it is", async () => {
    const packaged = await readFile(join(helmRepo.dir, `${await repositoryWith(["1.2.3"])}-1.2.3.tgz`));
    const name = await gitSource({ "dist/chart.tgz": packaged });
    const { status } = await reconcileChart(name, {
      chart: "dist/chart.tgz",
      sourceRef: { kind: "GitRepository", name },
    });
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: "ChartPullSucceeded" });
    expect(await ports.artifacts.get(status.artifact!.path)).toEqual(packaged);
  });

  it("adds dependencies from chart repositories: through the namespace's HelmRepository of that URL, or fetched anonymously", async () => {
    // Prepare: a chart in the test bed's repository, reached through a front that wants the basic auth of the
    // namespace's HelmRepository for it, and by a URL no HelmRepository has
    const dependency = await repositoryWith(["1.0.0", "1.2.0"]);
    const expected = `Basic ${Buffer.from("reader:s3cret").toString("base64")}`;
    const guarded = await front(helmRepo.url, (req, res) =>
      req.headers.authorization === expected ? false : (res.writeHead(401).end(), true),
    );
    servers.push(guarded);
    const known = guarded.baseUrl;
    ports.secrets = {
      secret: async () => ({ username: "reader", password: "s3cret" }),
      configMap: async () => undefined,
    };
    await reconcileObject("HelmRepository", `${dependency}-known`, {
      interval: "5m",
      url: known,
      secretRef: { name: "auth" },
    });
    ports.secrets = { secret: async () => undefined, configMap: async () => undefined };
    const other = helmRepo.url.replace("127.0.0.1", "localhost");
    const name = await gitSource({
      "app/Chart.yaml": chartYaml("app", "0.1.0", [
        { name: dependency, version: "~1.0", repository: known },
        { name: dependency, alias: "again", version: ">=1.1.0", repository: `${other}/` },
      ]),
      "app/values.yaml": "greeting: app\n",
      "app/templates/cm.yaml": TEMPLATE,
    });
    // Act
    const denied = await reconcileChart(name, { chart: "app", sourceRef: { kind: "GitRepository", name } });
    ports.secrets = {
      secret: async () => ({ username: "reader", password: "s3cret" }),
      configMap: async () => undefined,
    };
    const { status } = await reconcileChart(name, {
      chart: "app",
      sourceRef: { kind: "GitRepository", name },
      valuesFiles: ["values.yaml"],
    });
    ports.secrets = { secret: async () => undefined, configMap: async () => undefined };
    // Assess: the HelmRepository's secret is what the dependency is fetched with: without it, no build
    expect(condition(denied.status, "Ready")).toMatchObject({ status: "False", reason: "DependencyBuildError" });
    expect(condition(denied.status, "Ready")?.message).toContain(`failed to add remote dependency '${dependency}'`);
    expect(condition(denied.status, "Ready")?.message).toContain("failed to get authentication secret 'apps/auth'");
    expect(condition(status, "Ready")).toMatchObject({ status: "True", reason: "ChartPackageSucceeded" });
    const dir = await filesOf(status);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(join(dir, "app", "charts"))).sort()).toEqual([
      `${dependency}-1.0.0.tgz`,
      `${dependency}-1.2.0.tgz`,
    ]);
    expect(await readFile(join(dir, "app", "charts", `${dependency}-1.0.0.tgz`))).toEqual(
      await readFile(join(helmRepo.dir, `${dependency}-1.0.0.tgz`)),
    );
    const { stdout } = await testHelm(["template", "r", join(dir, "app")]);
    expect(stdout).toContain("name: r-app");
    expect(stdout).toContain("name: r-config");
  });

  it("refuses an OCI dependency and a v1 chart's requirements.yaml by name, and a chart that cannot be read, each Ready=False", async () => {
    const name = await gitSource({
      "app/Chart.yaml": chartYaml("app", "0.1.0", [
        { name: "redis", version: "1.x", repository: "oci://registry.example/charts" },
      ]),
      "app/values.yaml": "",
      "broken/Chart.yaml": "apiVersion: v2\nname: broken\nversion: not-a-version\n",
      "v1/Chart.yaml": "apiVersion: v1\nname: v1\nversion: 1.0.0\n",
      "v1/requirements.yaml": stringify({ dependencies: [{ name: "lib", repository: "file://../lib" }] }),
    });
    const remote = await reconcileChart(name, { chart: "app", sourceRef: { kind: "GitRepository", name } });
    expect(condition(remote.status, "Ready")).toMatchObject({ status: "False", reason: "DependencyBuildError" });
    expect(condition(remote.status, "Ready")?.message).toBe(
      "dependency build error: failed to add remote dependency 'redis': repository 'oci://registry.example/charts': only http and https chart repositories are supported by Sluice yet (not OCI or a repository alias)",
    );
    const broken = await reconcileChart(name, { chart: "broken", sourceRef: { kind: "GitRepository", name } }, 2);
    expect(condition(broken.status, "Ready")).toMatchObject({
      status: "False",
      reason: "InvalidChartReference",
      message: "invalid chart reference: validation: chart.metadata.version 'not-a-version' is invalid",
    });
    const v1 = await reconcileChart(name, { chart: "v1", sourceRef: { kind: "GitRepository", name } }, 4);
    expect(condition(v1.status, "Ready")).toMatchObject({ status: "False", reason: "DependencyBuildError" });
    expect(condition(v1.status, "Ready")?.message).toContain("requirements.yaml");
    const absent = await reconcileChart(name, { chart: "nowhere", sourceRef: { kind: "GitRepository", name } }, 3);
    expect(condition(absent.status, "Ready")?.message).toContain(
      "no chart found at 'nowhere' in the source artifact (spec.chart)",
    );
  });

  it("bounds what a hostile Chart.yaml puts into the message: 32,768 characters in the condition and the event", async () => {
    // Prepare: a version of 200,000 characters, quoted back by the refusal
    const name = await gitSource({
      "huge/Chart.yaml": `apiVersion: v2\nname: huge\nversion: 1.0.0-${"x".repeat(200_000)}!\n`,
    });
    // Act
    const { status, events } = await reconcileChart(name, {
      chart: "huge",
      sourceRef: { kind: "GitRepository", name },
    });
    // Assess
    const ready = condition(status, "Ready")!;
    expect(ready).toMatchObject({ status: "False", reason: "InvalidChartReference" });
    expect(ready.message).toMatch(/^invalid chart reference: validation: chart.metadata.version '1.0.0-x+$/);
    expect(ready.message).toHaveLength(32_768);
    expect(events.map((e) => e.message.length)).toEqual([32_768]);
    expect(status.artifact).toBeUndefined();
  });
});
