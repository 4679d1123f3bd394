import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, inject, it } from "vitest";
import { REQUESTED_AT } from "../../src/api/meta.js";
import type { KubeObject } from "../../src/apply/object.js";
import { getObject } from "../../src/apply/objects-api.js";
import { applyToStore, updateObject } from "../../src/store/objects.js";
import { planeSuite, ready, storedStatus, until } from "./helpers.js";

// A Kustomization whose source is a Bucket, end to end in a local control plane: objects put in the
// test bed's moto S3, the bucket's keys read from a Kubernetes Secret, applied to its kube-apiserver.

const { kube, git, aws } = inject("testbed");
const local = planeSuite(kube, git, { namespace: "bucket" });
const ns = () => local.namespace;
const s3 = new S3Client({
  endpoint: aws.endpoint,
  region: aws.region,
  forcePathStyle: true,
  credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
});
afterAll(() => s3.destroy());

const configMap = (greeting: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  greeting: ${greeting}\n`;

async function greeting(): Promise<string | undefined> {
  const info = (await local.admin.discovery.find("v1", "ConfigMap"))!;
  const found: KubeObject | undefined = await getObject(local.admin, info, ns(), "greeting");
  return (found?.data as Record<string, string> | undefined)?.greeting;
}

describe("Kustomization from a Bucket (local control plane, test bed moto S3 and kube-apiserver)", () => {
  it("applies the bucket's manifests, then a changed object once the Bucket is reconciled", async () => {
    // Prepare
    const bucket = `sluice-e2e-${ns()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const put = (body: string) =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: "app/deploy/cm.yaml", Body: body }));
    await put(configMap("one"));
    await local.admin.client.send({
      method: "POST",
      path: `/api/v1/namespaces/${ns()}/secrets`,
      body: {
        metadata: { name: "s3-keys" },
        stringData: { accesskey: aws.accessKeyId, secretkey: aws.secretAccessKey },
      },
    });
    const store = local.plane.runtime.store;
    await applyToStore(store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "Bucket",
      metadata: { name: "app", namespace: ns() },
      spec: {
        interval: "10m",
        bucketName: bucket,
        endpoint: new URL(aws.endpoint).host,
        insecure: true,
        prefix: "app/",
        secretRef: { name: "s3-keys" },
      },
    });
    // Act
    await applyToStore(store, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: ns() },
      spec: {
        interval: "10m",
        path: "./app/deploy",
        prune: true,
        targetNamespace: ns(),
        sourceRef: { kind: "Bucket", name: "app" },
      },
    });
    const applied = await until("the first listing applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "app");
      return ready(status)?.status === "True" && status;
    });
    const first = await greeting();
    await put(configMap("two"));
    await updateObject(store, { kind: "Bucket", namespace: ns(), name: "app" }, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [REQUESTED_AT]: new Date().toISOString() };
    });
    const source = await until("the Bucket's new revision", async () => {
      const status = (await storedStatus(local.plane, "Bucket", ns(), "app")) as { artifact?: { revision: string } };
      return status.artifact && status.artifact.revision !== applied.lastAppliedRevision && status;
    });
    const rolled = await until("the changed object applied", async () => {
      const status = await storedStatus(local.plane, "Kustomization", ns(), "app");
      return status.lastAppliedRevision === source.artifact!.revision && status;
    });
    // Assess
    expect(applied.lastAppliedRevision).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first).toBe("one");
    expect(ready(rolled)?.status).toBe("True");
    expect(await greeting()).toBe("two");
  });
});
