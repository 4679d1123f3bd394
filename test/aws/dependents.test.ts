import { randomBytes } from "node:crypto";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { S3Dependents } from "../../src/aws/s3-dependents.js";
import { targetsOf, type DependentsIndex } from "../../src/ports/dependents.js";
import { MemoryDependents } from "../../src/store/memory-dependents.js";

// The dependents index with ConfigMaps and Secrets among the targets (Flux's config watchers' indexes), for both
// implementations: in memory (sluice run) and in S3 on moto (Lambda).

const aws = inject("testbed").aws;
const credentials = async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey });
const s3 = new S3Client({ region: aws.region, endpoint: aws.endpoint, credentials, forcePathStyle: true });
const bucket = `dependents-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

const release = { kind: "HelmRelease", namespace: "apps", name: "web" };
const chart = { spec: { chart: "web", sourceRef: { kind: "HelmRepository", name: "charts" } } };

describe("targetsOf: the ConfigMaps and Secrets Flux's config watchers index", () => {
  it("a HelmRelease's valuesFrom and kubeConfig.secretRef, in its own namespace, once each", () => {
    const targets = targetsOf(release, {
      chart,
      valuesFrom: [
        { kind: "ConfigMap", name: "web-values" },
        { kind: "Secret", name: "web-secrets", valuesKey: "a" },
        { kind: "Secret", name: "web-secrets", valuesKey: "b" },
      ],
      kubeConfig: { secretRef: { name: "remote" } },
    });
    expect(targets).toEqual([
      "ConfigMap/apps/web-values",
      "HelmChart/apps/apps-web",
      "Secret/apps/remote",
      "Secret/apps/web-secrets",
    ]);
  });

  it("a Kustomization's substituteFrom, decryption.secretRef and kubeConfig.secretRef", () => {
    const targets = targetsOf(
      { kind: "Kustomization", namespace: "apps", name: "web" },
      {
        sourceRef: { kind: "GitRepository", name: "fleet" },
        postBuild: {
          substituteFrom: [
            { kind: "ConfigMap", name: "vars" },
            { kind: "Secret", name: "vars" },
          ],
        },
        decryption: { provider: "sops", secretRef: { name: "sops-age" } },
        kubeConfig: { secretRef: { name: "remote", key: "value" } },
      },
    );
    expect(targets).toEqual([
      "ConfigMap/apps/vars",
      "GitRepository/apps/fleet",
      "Secret/apps/remote",
      "Secret/apps/sops-age",
      "Secret/apps/vars",
    ]);
  });

  it("a stored spec never admitted: references that name no ConfigMap or Secret shape no key", () => {
    const targets = targetsOf(release, {
      chart,
      valuesFrom: [
        { kind: "ConfigMap", name: "x/HelmRelease/apps/victim" },
        { kind: "ConfigMap", name: "../other" },
        { kind: "ConfigMap", name: "" },
        { kind: "ConfigMap", name: 7 },
        { kind: "Deployment", name: "web" },
        null,
      ],
      kubeConfig: { secretRef: { name: "UPPER" } },
    });
    expect(targets).toEqual(["HelmChart/apps/apps-web"]);
    expect(targetsOf(release, { chart, valuesFrom: "web-values" })).toEqual(["HelmChart/apps/apps-web"]);
  });
});

describe.each([
  ["memory", () => new MemoryDependents()],
  [`S3 on moto ${aws.version}`, () => new S3Dependents(s3, bucket)],
] as const)("dependents index (%s) with config targets", (_name, make: () => DependentsIndex) => {
  it("finds a ConfigMap's users, not another ConfigMap's whose name starts the same, and follows spec changes", async () => {
    const index = make();
    const prefix = randomBytes(3).toString("hex");
    const web = { ...release, name: `${prefix}-web` };
    const api = { ...release, name: `${prefix}-api` };
    const values = { kind: "ConfigMap", namespace: "apps", name: `${prefix}-values` };
    await index.record(web, targetsOf(web, { chart, valuesFrom: [{ kind: "ConfigMap", name: values.name }] })!);
    await index.record(
      api,
      targetsOf(api, { chart, valuesFrom: [{ kind: "ConfigMap", name: `${values.name}.extra` }] })!,
    );
    expect(await index.of(values)).toEqual([`HelmRelease/apps/${web.name}`]);
    expect(await index.of({ ...values, kind: "Secret" })).toEqual([]);
    // The HelmRelease stops reading it: the edge goes.
    await index.record(web, targetsOf(web, { chart })!);
    expect(await index.of(values)).toEqual([]);
    await index.record(web, targetsOf(web, { chart, valuesFrom: [{ kind: "ConfigMap", name: values.name }] })!);
    await index.forget(web);
    expect(await index.of(values)).toEqual([]);
    expect(await index.of({ ...values, name: `${values.name}.extra` })).toEqual([`HelmRelease/apps/${api.name}`]);
  });
});
