import { gzipSync } from "node:zlib";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeClient } from "../../src/cluster/kube-client.js";
import { decodeRelease, latestRelease, releaseHistory, ReleaseStorageError } from "../../src/helm/release-storage.js";
import { adminCluster, rejection } from "../apply/helpers.js";
import { testHelm, tinyChart } from "../env/charts.js";
import { adminKubeConfig, freshNamespace } from "../env/kube-client.js";

const kube = inject("testbed").kube;

/** Helm's storage encoding of a JSON text: base64 of gzip. */
const helmEncode = (json: string) => gzipSync(Buffer.from(json)).toString("base64");
const releaseJson = (name: string, version: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    name,
    version,
    namespace: "apps",
    info: { status: "deployed", description: "Install complete" },
    chart: { metadata: { name: "tiny", version: "1.0.0" } },
    config: { password: "s3cr3t-planted" },
    ...extra,
  });

describe(`release storage: Helm's Secrets read with one LIST (kube-apiserver ${kube.version})`, () => {
  let ns: Awaited<ReturnType<typeof freshNamespace>>;
  let client: KubeClient;
  const core = adminKubeConfig(kube).makeApiClient(CoreV1Api);

  /** Plants a Secret as someone with write access to the storage namespace could. */
  const plant = (name: string, labels: Record<string, string>, release: string, type = "helm.sh/release.v1") =>
    core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name, labels }, type, data: { release: Buffer.from(release).toString("base64") } },
    });

  beforeAll(async () => {
    ns = await freshNamespace(kube, "helm-storage");
    client = (await adminCluster(kube)).client;
  });
  afterAll(() => ns.remove());

  it("reads a release installed and upgraded by plain `helm` as helm itself reports it", async () => {
    // Prepare
    const chart = await tinyChart("plain", "1.2.3");
    const flags = ["--kubeconfig", kube.kubeconfigPath, "-n", ns.name];
    await testHelm(["install", "plain", chart, ...flags, "--set", "greeting=hi"]);
    await testHelm(["upgrade", "plain", chart, ...flags, "--set", "greeting=again", "--description", "second"]);
    const requestsBefore = client.counts.GET;
    // Act
    const latest = await latestRelease(client, ns.name, "plain");
    // Assess
    expect(client.counts.GET - requestsBefore).toBe(1);
    const status = JSON.parse((await testHelm(["status", "plain", ...flags, "-o", "json"])).stdout) as {
      version: number;
      info: { status: string; description: string; first_deployed: string; last_deployed: string };
    };
    const values = JSON.parse((await testHelm(["get", "values", "plain", ...flags, "-o", "json"])).stdout) as unknown;
    const manifest = (await testHelm(["get", "manifest", "plain", ...flags])).stdout;
    expect(latest).toMatchObject({
      name: "plain",
      namespace: ns.name,
      version: status.version,
      info: {
        status: status.info.status,
        description: "second",
        firstDeployed: status.info.first_deployed,
        lastDeployed: status.info.last_deployed,
      },
      chart: { name: "plain", version: "1.2.3" },
      config: values,
      applyMethod: "ssa",
      storage: { namespace: ns.name, secretName: "sh.helm.release.v1.plain.v2" },
    });
    expect(latest?.version).toBe(2);
    expect(latest?.config).toEqual({ greeting: "again" });
    expect(`${latest?.manifest}\n`).toBe(manifest);
    const history = await releaseHistory(client, ns.name, "plain");
    expect(history.map((r) => [r.version, r.info.status, r.config])).toEqual([
      [1, "superseded", { greeting: "hi" }],
      [2, "deployed", { greeting: "again" }],
    ]);
  });

  it("answers undefined for a release that has no revision, and refuses a name that would change the selector", async () => {
    // Act
    const missing = await latestRelease(client, ns.name, "never-installed");
    const injected = await rejection<ReleaseStorageError>(latestRelease(client, ns.name, "x,owner!=helm"));
    // Assess
    expect(missing).toBeUndefined();
    expect(injected).toBeInstanceOf(ReleaseStorageError);
    expect(injected.message).toContain('release name "x,owner!=helm" is not valid');
  });

  describe("hostile Secrets: each a clear error naming the Secret, never its values", () => {
    const cases: [string, (name: string) => Promise<unknown>, RegExp][] = [
      [
        "a gzip bomb (100 MiB of JSON in a 100 KiB Secret)",
        (name) =>
          plant(
            `sh.helm.release.v1.${name}.v1`,
            { owner: "helm", name, version: "1" },
            gzipSync(Buffer.alloc(100 << 20, " "), { level: 9 }).toString("base64"),
          ),
        /release data expands beyond 67108864 bytes/,
      ],
      [
        "data that is not base64",
        (name) => plant(`sh.helm.release.v1.${name}.v1`, { owner: "helm", name, version: "1" }, "not base64!!"),
        /release data is not base64/,
      ],
      [
        "gzip that is cut short",
        (name) =>
          plant(
            `sh.helm.release.v1.${name}.v1`,
            { owner: "helm", name, version: "1" },
            gzipSync(Buffer.from(releaseJson(name, 1)))
              .subarray(0, 30)
              .toString("base64"),
          ),
        /release data is not valid gzip/,
      ],
      [
        "gzip of something that is not JSON",
        (name) =>
          plant(`sh.helm.release.v1.${name}.v1`, { owner: "helm", name, version: "1" }, helmEncode("{s3cr3t-planted")),
        /release data is not JSON/,
      ],
      [
        "JSON that is not a Helm release",
        (name) =>
          plant(
            `sh.helm.release.v1.${name}.v1`,
            { owner: "helm", name, version: "1" },
            helmEncode(releaseJson(name, 1, { info: { status: "s3cr3t-planted" } })),
          ),
        /release JSON is not a Helm release: info.status/,
      ],
      [
        "the right labels on a Secret with another name",
        (name) =>
          plant(`sh.helm.release.v1.other.v1`, { owner: "helm", name, version: "1" }, helmEncode(releaseJson(name, 1))),
        /is labelled as revision 1 of release .*, whose Secret is sh\.helm\.release\.v1\..*\.v1/,
      ],
      [
        "a Secret whose content is another release",
        (name) =>
          plant(
            `sh.helm.release.v1.${name}.v7`,
            { owner: "helm", name, version: "7" },
            helmEncode(releaseJson("other", 7)),
          ),
        /holds revision 7 of release "other", not revision 7 of/,
      ],
      [
        "a version label that is not a number",
        (name) =>
          plant(
            `sh.helm.release.v1.${name}.v1`,
            { owner: "helm", name, version: "1e3" },
            helmEncode(releaseJson(name, 1)),
          ),
        /label version "1e3" is not a revision number/,
      ],
      [
        "a Secret of another type",
        (name) =>
          plant(
            `sh.helm.release.v1.${name}.v1`,
            { owner: "helm", name, version: "1" },
            helmEncode(releaseJson(name, 1)),
            "Opaque",
          ),
        /type is "Opaque", expected helm.sh\/release.v1/,
      ],
    ];

    it.each(cases.map(([what, planter, message], i) => ({ what, planter, message, name: `hostile-${i}` })))(
      "$what",
      async ({ planter, message, name }) => {
        // Prepare
        await planter(name);
        // Act
        const latest = await rejection<ReleaseStorageError>(latestRelease(client, ns.name, name));
        const history = await rejection<ReleaseStorageError>(releaseHistory(client, ns.name, name));
        // Assess
        for (const error of [latest, history]) {
          expect(error).toBeInstanceOf(ReleaseStorageError);
          expect(error.message).toMatch(new RegExp(`^Secret ${ns.name}/sh\\.helm\\.release\\.v1\\.`));
          expect(error.message).toMatch(message);
          expect(error.message).not.toContain("s3cr3t-planted");
        }
      },
    );
  });
});

describe("release storage: decoding", () => {
  it("reads a release stored before helm compressed them (base64 of plain JSON)", () => {
    // Act
    const release = decodeRelease(Buffer.from(releaseJson("legacy", 3)).toString("base64"));
    // Assess
    expect(release).toMatchObject({ name: "legacy", version: 3, info: { status: "deployed" }, hooks: [] });
  });

  it("keeps a `__proto__` key of the values as data", () => {
    // Act
    const release = decodeRelease(helmEncode(releaseJson("proto", 1, { config: JSON.parse('{"__proto__":{"x":1}}') })));
    // Assess
    expect(Object.getPrototypeOf(release.config)).toBe(Object.prototype);
    expect(Object.keys(release.config)).toEqual(["__proto__"]);
  });
});
