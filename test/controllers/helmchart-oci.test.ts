import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { HelmChart } from "../../src/api/helmchart.js";
import { dispatch } from "../../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../../src/controllers/reconciler-ports.js";
import { applyToStore } from "../../src/store/objects.js";
import { REGISTRY_USER, startAuthRegistry } from "../env/auth-registry.js";
import { cosignKeyPair, cosignSign } from "../env/cosign.js";
import { testHelm, tinyChart } from "../env/charts.js";
import { pushLayers } from "../env/oci.js";
import { HELM_CHART_LAYER } from "../../src/sources/oci/helm-chart.js";
import { front, sourceRuntime } from "../security/source-helpers.js";

// HelmChart from a HelmRepository of type oci: charts pushed to the test bed's registry by the real
// `helm push`, pulled as source-controller's OCIChartRepository pulls them; fronts on loopback count
// the requests and tamper with the chart layer.

const { host } = inject("testbed").registry;
let ports: ReconcilerPorts;
let serial = 0;
const closers: (() => void)[] = [];

beforeAll(async () => {
  ({ rt: ports } = await sourceRuntime({ allowPrivateNetworks: true, strictStatus: true }));
});
afterAll(() => closers.forEach((close) => close()));

type Status = NonNullable<HelmChart["status"]>;
const ready = (status: Status) => status.conditions?.find((c) => c.type === "Ready");

/** Pushes versions of a chart named `name` under `oci://<host>/<folder>` with helm; the packaged archives by version. */
async function pushCharts(folder: string, name: string, versions: string[]): Promise<Record<string, Buffer>> {
  const out = await mkdtemp(join(tmpdir(), "sluice-oci-charts-"));
  const packaged: Record<string, Buffer> = {};
  for (const version of versions) {
    await testHelm(["package", await tinyChart(name, version), "--destination", out]);
    const file = join(out, `${name}-${version}.tgz`);
    await testHelm(["push", file, `oci://${host}/${folder}`, "--plain-http"]);
    packaged[version] = await readFile(file);
  }
  return packaged;
}

async function reconcileChart(
  name: string,
  repositoryUrl: string,
  spec: Partial<HelmChart["spec"]>,
  generation = 1,
  provider?: string,
) {
  await applyToStore(ports.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "HelmRepository",
    metadata: { name, namespace: "apps" },
    spec: { type: "oci", interval: "5m", url: repositoryUrl, ...(provider && { provider }) },
  });
  await applyToStore(ports.store, {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "HelmChart",
    metadata: { name, namespace: "apps", generation },
    spec: { interval: "5m", chart: name, sourceRef: { kind: "HelmRepository", name }, ...spec },
  });
  const outcome = await dispatch(ports, { key: `HelmChart/apps/${name}`, reason: "interval" });
  return outcome!.status as Status;
}

describe("HelmChart from an OCI HelmRepository", () => {
  it("pulls the newest stable version among the registry's tags, byte for byte as helm pushed it", async () => {
    const name = `ocichart-${++serial}`;
    const packaged = await pushCharts("charts", name, ["1.0.0", "1.1.0", "2.0.0-rc.1"]);
    const status = await reconcileChart(name, `oci://${host}/charts`, {});
    expect(ready(status)).toMatchObject({
      status: "True",
      reason: "ChartPullSucceeded",
      message: `pulled '${name}' chart with version '1.1.0'`,
    });
    expect(status.artifact).toMatchObject({ revision: "1.1.0", path: `helmchart/apps/${name}/${name}-1.1.0.tgz` });
    expect(await ports.artifacts.get(status.artifact!.path)).toEqual(packaged["1.1.0"]);
  });

  it("pulls an exact version without listing tags, and checks nothing again while it is stored", async () => {
    const name = `ocichart-${++serial}`;
    await pushCharts("exact", name, ["1.0.0", "1.2.0"]);
    const seen: string[] = [];
    const logged = await front(`http://${host}`, (req) => {
      seen.push(req.url ?? "");
      return false;
    });
    closers.push(logged.close);
    const url = `oci://127.0.0.1:${logged.port}/exact`;
    const first = await reconcileChart(name, url, { version: "1.0.0" });
    const again = await reconcileChart(name, url, { version: "1.0.0" });
    expect(first.artifact?.revision).toBe("1.0.0");
    expect(seen.some((path) => path.includes("/tags/list"))).toBe(false);
    expect(seen).toHaveLength(2); // the manifest, the chart layer
    expect(ready(again)?.status).toBe("True");
  });

  it("maps SemVer build metadata to Helm's `_` in tags, and fails with ChartPullError when nothing matches", async () => {
    const name = `ocichart-${++serial}`;
    await pushCharts("meta", name, ["1.0.0+build.7"]);
    const built = await reconcileChart(name, `oci://${host}/meta`, { version: ">=1.0.0" });
    const none = await reconcileChart(name, `oci://${host}/meta`, { version: ">=5.0.0" }, 2);
    expect(built.artifact?.revision).toBe("1.0.0+build.7");
    expect(ready(none)).toMatchObject({
      status: "False",
      reason: "ChartPullError",
      message:
        "chart pull error: failed to get chart version for remote reference: could not locate a version matching provided version string >=5.0.0",
    });
  });

  it("provider aws: the runtime's credentials for the registry when the HelmRepository has no secretRef", async () => {
    // Prepare: a chart pushed to the htpasswd registry, which stands for ECR (its login is tested in test/aws/ecr.test.ts)
    const registry = await startAuthRegistry();
    closers.push(() => void registry.stop());
    const name = `ocichart-${++serial}`;
    const archive = (await pushCharts("aws-source", name, ["1.0.0"]))["1.0.0"]!;
    const layer = { data: archive, mediaType: HELM_CHART_LAYER };
    await pushLayers(registry.host, `charts/${name}`, "1.0.0", [layer], { authorization: registry.authorization });
    const asked: string[] = [];
    ports.registryLogin = { login: async (_provider, host) => (asked.push(host), REGISTRY_USER) };
    try {
      // Act
      const status = await reconcileChart(name, `oci://${registry.host}/charts`, { version: "1.0.0" }, 1, "aws");
      // Assess
      expect(ready(status)).toMatchObject({ status: "True", reason: "ChartPullSucceeded" });
      expect(await ports.artifacts.get(status.artifact!.path)).toEqual(archive);
      expect(asked).toEqual([registry.host]);
    } finally {
      ports.registryLogin = undefined;
    }
  });

  it("refuses a chart layer that is not its digest, storing nothing", async () => {
    const name = `ocichart-${++serial}`;
    await pushCharts("tampered", name, ["1.0.0"]);
    const tampering = await front(`http://${host}`, (req, res) => {
      if (!req.url?.includes("/blobs/")) return false;
      void fetch(`http://${host}${req.url}`).then(async (answer) => {
        const body = Buffer.from(await answer.arrayBuffer());
        body.writeUInt8(body.readUInt8(0) ^ 1, 0);
        res.writeHead(200).end(body);
      });
      return true;
    });
    closers.push(tampering.close);
    const status = await reconcileChart(name, `oci://127.0.0.1:${tampering.port}/tampered`, { version: "1.0.0" });
    expect(ready(status)).toMatchObject({ status: "False", reason: "ChartPullError" });
    expect(ready(status)?.message).toMatch(/blob sha256:\w+ has digest sha256:\w+: refused$/);
    expect(status.artifact).toBeUndefined();
  });

  it("verify: a chart cosign signed is pulled by the digest verified; an unsigned one is refused, nothing stored", async () => {
    // Prepare: two versions pushed by helm, 1.0.0 signed by the real cosign, 2.0.0 not
    const keys = await cosignKeyPair();
    const name = `ocichart-${++serial}`;
    const packaged = await pushCharts("signed", name, ["1.0.0", "2.0.0"]);
    const repository = `${host}/signed/${name}`;
    const digestOf = async (tag: string) =>
      (
        await fetch(`http://${repository.replace(host, `${host}/v2`)}/manifests/${tag}`, {
          method: "HEAD",
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        })
      ).headers.get("docker-content-digest")!;
    const signedDigest = await digestOf("1.0.0");
    await cosignSign(keys, `${repository}@${signedDigest}`);
    ports.secrets = {
      secret: async ({ name: secret }) => (secret === "chart-keys" ? { "cosign.pub": keys.publicKey } : undefined),
      configMap: async () => undefined,
    };
    const verify = { provider: "cosign" as const, secretRef: { name: "chart-keys" } };
    try {
      // Act
      const accepted = await reconcileChart(name, `oci://${host}/signed`, { version: "1.0.0", verify });
      const refused = await reconcileChart(`${name}`, `oci://${host}/signed`, { version: "2.0.0", verify }, 2);
      const missingKeys = await reconcileChart(
        name,
        `oci://${host}/signed`,
        {
          version: "1.0.0",
          verify: { provider: "cosign", secretRef: { name: "absent" } },
        },
        3,
      );
      // Assess
      const condition = (status: Status, type: string) => status.conditions?.find((c) => c.type === type);
      expect(ready(accepted)).toMatchObject({ status: "True", reason: "ChartPullSucceeded" });
      expect(condition(accepted, "SourceVerified")).toMatchObject({
        status: "True",
        reason: "Succeeded",
        message: "verified signature of version 1.0.0",
      });
      expect(await ports.artifacts.get(accepted.artifact!.path)).toEqual(packaged["1.0.0"]);
      const message = `chart verification error: no matching signatures were found for '${repository}@${await digestOf("2.0.0")}'`;
      expect(ready(refused)).toMatchObject({ status: "False", reason: "ChartVerificationError", message });
      expect(condition(refused, "BuildFailed")).toMatchObject({ status: "True", reason: "ChartVerificationError" });
      expect(condition(refused, "SourceVerified")).toMatchObject({
        status: "False",
        reason: "VerificationError",
        message,
      });
      expect(refused.artifact).toEqual(accepted.artifact); // 2.0.0 was not stored
      expect(ready(missingKeys)).toMatchObject({
        status: "False",
        reason: "VerificationError",
        message:
          "failed to verify the signature using provider 'cosign': failed to get secret 'apps/absent': secret not found",
      });
    } finally {
      ports.secrets = { secret: async () => undefined, configMap: async () => undefined };
    }
  });
});
