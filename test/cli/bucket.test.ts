import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileStore } from "../../src/store/fs-store.js";
import { writeStatus } from "../../src/store/objects.js";
import { adminCluster } from "../apply/helpers.js";
import { freshNamespace } from "../env/kube-client.js";

// `sluice create|get|suspend|resume source bucket`, as flux's commands (the export shapes are in flux-export.test.ts).

const execute = promisify(execFile);
const { kube } = inject("testbed");
let ns: { name: string; remove(): Promise<void> };
let stateDir: string;

beforeAll(async () => {
  ns = await freshNamespace(kube, "cli-bucket");
  stateDir = await mkdtemp(join(tmpdir(), "sluice-cli-bucket-"));
});
afterAll(() => ns.remove());

const sluice = (...rest: string[]) =>
  execute(process.execPath, [
    "bin/sluice.js",
    ...["--state-dir", stateDir, "--kubeconfig", kube.kubeconfigPath, "-n", ns.name],
    ...rest,
  ]);
const failing = (...rest: string[]) =>
  sluice(...rest).then(
    () => ({ code: 0, stderr: "" }),
    (e: { code: number; stderr: string }) => e,
  );
const store = () => new FileStore(statePaths(stateDir).store);
const secretOf = async (name: string) => {
  const admin = await adminCluster(kube);
  return admin.client
    .send<{ data: Record<string, string> }>({ method: "GET", path: `/api/v1/namespaces/${ns.name}/secrets/${name}` })
    .then(
      (secret) =>
        Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()])),
      () => undefined,
    );
};

describe(`sluice … source bucket, kube-apiserver ${kube.version}`, () => {
  it("create writes --access-key/--secret-key to the Secret bucket-NAME and registers the Bucket referencing it", async () => {
    // Act
    await sluice(
      ...["create", "source", "bucket", "app", "--bucket-name", "manifests", "--endpoint", "minio.example:9000"],
      ...["--insecure", "--access-key", "AKIAEXAMPLE", "--secret-key", "s3cr3t", "--interval", "10m"],
    );
    // Assess
    const stored = await store().get({ kind: "Bucket", namespace: ns.name, name: "app" });
    expect(stored?.object.spec).toEqual({
      bucketName: "manifests",
      endpoint: "minio.example:9000",
      insecure: true,
      interval: "10m0s",
      provider: "generic",
      secretRef: { name: "bucket-app" },
    });
    expect(await secretOf("bucket-app")).toEqual({ accesskey: "AKIAEXAMPLE", secretkey: "s3cr3t" });
  });

  it("create refuses a provider Sluice cannot read, before writing the Secret or the object", async () => {
    const refused = await failing(
      ...["create", "source", "bucket", "gcs", "--bucket-name", "b", "--endpoint", "storage.googleapis.com"],
      ...["--provider", "gcp", "--access-key", "k", "--secret-key", "s"],
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('spec.provider ("gcp")');
    expect(await store().get({ kind: "Bucket", namespace: ns.name, name: "gcs" })).toBeUndefined();
    expect(await secretOf("bucket-gcs")).toBeUndefined();
  });

  it("get sources bucket prints flux's columns, the revision's digest cut to 8 characters; suspend and resume set spec.suspend", async () => {
    // Prepare
    const revision = `sha256:${"ab".repeat(32)}`;
    const key = { kind: "Bucket", namespace: ns.name, name: "app" };
    await writeStatus(store(), key, {
      observedGeneration: 1,
      artifact: { revision, path: "p", url: "u", digest: revision, lastUpdateTime: new Date().toISOString() },
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Succeeded",
          message: `stored artifact: revision '${revision}'`,
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    });
    // Act
    const table = (await sluice("get", "sources", "bucket")).stdout;
    await sluice("suspend", "source", "bucket", "app");
    const suspended = (await store().get(key))?.object.spec as { suspend?: boolean };
    await sluice("resume", "source", "bucket", "app", "--no-wait");
    const resumed = (await store().get(key))?.object.spec as { suspend?: boolean };
    // Assess
    expect(table.split("\n")[0]).toMatch(/^NAME\s+REVISION\s+SUSPENDED\s+READY\s+MESSAGE\s*$/);
    expect(table.split("\n")[1]).toMatch(
      /^app\s+sha256:abababab\s+False\s+True\s+stored artifact: revision 'sha256:abababab'/i,
    );
    expect(suspended.suspend).toBe(true);
    expect(resumed.suspend).toBeFalsy();
  });
});
