import { randomBytes } from "node:crypto";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describe, expect, inject, it } from "vitest";
import {
  BundleRejectedError,
  bundleDigest,
  hmacSigner,
  openBundle,
  publicKeyVerifier,
  sealBundle,
  type KustomizationBundle,
  type SealedBundle,
} from "../../src/bundle/bundle.js";
import { kmsPublicKey, kmsSigner } from "../../src/aws/kms.js";
import { agentVerifier, type AgentConfig } from "../../src/agent/config.js";
import { S3BundleChannel } from "../../src/aws/s3-bundle-channel.js";
import type { AwsConfig } from "../../src/runtime/lambda/config.js";
import { awsClients, awsRuntime } from "../../src/runtime/lambda/worker.js";
import { systemClock } from "../../src/ports/clock.js";
import { configMap } from "../apply/helpers.js";

const { aws } = inject("testbed");
const base = {
  region: aws.region,
  endpoint: aws.endpoint,
  credentials: async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey }),
};
const options = {
  prune: true,
  force: false,
  wait: false,
  healthChecks: [],
  timeoutMs: 60_000,
  intervalMs: 600_000,
  retryMs: 60_000,
  deletionPolicy: "MirrorPrune" as const,
};
const content = (value: string): KustomizationBundle => ({
  cluster: "edge",
  kustomization: { namespace: "apps", name: "web" },
  revision: "main@sha1:abc",
  sequence: 1,
  options,
  objects: [configMap("settings", { value }, { namespace: "apps" })],
});
const bytes = (bundle: unknown) => Buffer.from(JSON.stringify(bundle));
/** Where an agent of `cluster` found the bundle: under apps/web, at the bundle's own digest. */
const at = (bundle: SealedBundle, cluster = "edge") => ({
  cluster,
  kustomization: { namespace: "apps", name: "web" },
  digest: bundle.digest,
});
const agentConfig = (cluster: string, bundleKey: string): AgentConfig => ({
  cluster,
  bucket: "b",
  region: aws.region,
  bundleKey,
  pollMs: 1_000,
  healthPort: 0,
  concurrency: 1,
});

describe(`bundles: digest, signature and index (KMS, Secrets Manager and S3 of ${aws.version})`, () => {
  it("a KMS-signed bundle verifies with the key's public half alone, and any change to it is refused", async () => {
    // Arrange
    const kms = new KMSClient(base);
    const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" })))
      .KeyMetadata!.KeyId!;
    const verifier = publicKeyVerifier(keyId, await kmsPublicKey(kms, keyId));
    // Act
    const sealed = await sealBundle(content("one"), kmsSigner(kms, keyId));
    const edited = structuredClone(sealed);
    (edited.content.objects[0]!.data as Record<string, string>).value = "evil";
    const resealed = { ...edited, digest: bundleDigest(edited.content) };
    // Assess
    await expect(openBundle(bytes(sealed), verifier, at(sealed))).resolves.toEqual(content("one"));
    await expect(openBundle(bytes(edited), verifier, at(sealed))).rejects.toThrow(/digest mismatch/);
    await expect(openBundle(bytes(resealed), verifier, at(resealed))).rejects.toThrow(
      `signature by ${keyId} does not verify`,
    );
    await expect(openBundle(bytes(sealed), verifier, at(sealed, "other"))).rejects.toThrow(
      "bundle is for cluster 'edge', not 'other'",
    );
    await expect(openBundle(Buffer.from("{"), verifier, at(sealed))).rejects.toBeInstanceOf(BundleRejectedError);
    for (const garbage of ["null", "[]", '"Bundle"', JSON.stringify({ ...sealed, content: "x" })])
      await expect(openBundle(Buffer.from(garbage), verifier, at(sealed))).rejects.toThrow(
        "not a sluice.dev/v1alpha1 Bundle",
      );
  });

  it("a genuine bundle is refused under another Kustomization's index key or another digest than the index names", async () => {
    // Arrange
    const signer = hmacSigner("k", randomBytes(32));
    const genuine = await sealBundle(content("one"), signer);
    // Act
    const underAnotherKey = openBundle(bytes(genuine), signer, {
      ...at(genuine),
      kustomization: { namespace: "apps", name: "api" },
    });
    const underAnotherNamespace = openBundle(bytes(genuine), signer, {
      ...at(genuine),
      kustomization: { namespace: "team-b", name: "web" },
    });
    const atAnotherDigest = openBundle(bytes(genuine), signer, {
      ...at(genuine),
      digest: bundleDigest(content("two")),
    });
    // Assess
    await expect(underAnotherKey).rejects.toThrow(
      "bundle is for Kustomization apps/web, but the index lists it under apps/api",
    );
    await expect(underAnotherNamespace).rejects.toThrow(
      "bundle is for Kustomization apps/web, but the index lists it under team-b/web",
    );
    await expect(atAnotherDigest).rejects.toThrow(
      `bundle is ${genuine.digest}, but the index names ${bundleDigest(content("two"))}`,
    );
  });

  it("the digest does not depend on key order, so re-rendering the same objects publishes nothing new", () => {
    const reordered = JSON.parse(
      JSON.stringify(content("one"), [
        "revision",
        "sequence",
        "objects",
        "options",
        "kustomization",
        "cluster",
        "data",
        "value",
        "metadata",
        "name",
        "namespace",
        "kind",
        "apiVersion",
        ...Object.keys(options),
      ]),
    ) as KustomizationBundle;
    expect(bundleDigest(reordered)).toBe(bundleDigest(content("one")));
    expect(bundleDigest(content("two"))).not.toBe(bundleDigest(content("one")));
  });

  it("an HMAC-signed bundle verifies with the agent's own cluster key from Secrets Manager; another cluster's key, another key or algorithm does not", async () => {
    // Arrange: one key per cluster, as hmac:<prefix>/{cluster} names them.
    const sm = new SecretsManagerClient(base);
    const prefix = `sluice/bundle-keys-${randomBytes(3).toString("hex")}`;
    const keys = { edge: randomBytes(32), other: randomBytes(32) };
    for (const [cluster, key] of Object.entries(keys))
      await sm.send(new CreateSecretCommand({ Name: `${prefix}/${cluster}`, SecretString: key.toString("base64") }));
    const verifier = await agentVerifier(agentConfig("edge", `hmac:${prefix}/{cluster}`), sm);
    // Act
    const sealed = await sealBundle(content("one"), hmacSigner(`${prefix}/edge`, keys.edge));
    const forged = await sealBundle(content("one"), hmacSigner(`${prefix}/edge`, randomBytes(32)));
    // The agent of `other` holds its own key: what it signs names edge but carries other's key id, or edge's id with other's key.
    const byOtherAgent = await sealBundle(content("one"), hmacSigner(`${prefix}/other`, keys.other));
    const byOtherAgentAsEdge = await sealBundle(content("one"), hmacSigner(`${prefix}/edge`, keys.other));
    // Assess
    await expect(openBundle(bytes(sealed), verifier, at(sealed))).resolves.toEqual(content("one"));
    await expect(openBundle(bytes(forged), verifier, at(forged))).rejects.toThrow("does not verify");
    await expect(openBundle(bytes(byOtherAgent), verifier, at(byOtherAgent))).rejects.toThrow(
      `signature by ${prefix}/other does not verify`,
    );
    await expect(openBundle(bytes(byOtherAgentAsEdge), verifier, at(byOtherAgentAsEdge))).rejects.toThrow(
      `signature by ${prefix}/edge does not verify`,
    );
    await expect(
      openBundle(
        bytes({ ...sealed, signature: { ...sealed.signature, algorithm: "ECDSA_SHA_256" } }),
        verifier,
        at(sealed),
      ),
    ).rejects.toThrow("does not verify");
  });

  it("the worker signs each cluster's bundles with that cluster's HMAC key, and refuses one HMAC key for all clusters", async () => {
    // Arrange
    const clients = awsClients(base as AwsConfig);
    const prefix = `sluice/worker-keys-${randomBytes(3).toString("hex")}`;
    for (const cluster of ["edge", "other"])
      await clients.secretsManager.send(
        new CreateSecretCommand({ Name: `${prefix}/${cluster}`, SecretString: randomBytes(32).toString("base64") }),
      );
    const config = {
      ...base,
      bucket: "b",
      fifoUrl: "f",
      delayUrl: "d",
      cluster: "",
      bundleKey: `hmac:${prefix}/{cluster}`,
    } as AwsConfig;
    const events = { emit: async () => {} };
    const log = { info: () => {}, warn: () => {}, error: () => {}, child: () => log };
    const runtime = await awsRuntime(config, clients, log, events, systemClock);
    const edgeAgent = await agentVerifier(agentConfig("edge", config.bundleKey!), clients.secretsManager);
    // Act
    const forEdge = await sealBundle(content("one"), runtime.agents!.signer("edge"));
    const forOther = await sealBundle({ ...content("one"), cluster: "other" }, runtime.agents!.signer("other"));
    const shared = awsRuntime({ ...config, bundleKey: `hmac:${prefix}/shared` }, clients, log, events, systemClock);
    // Assess
    expect(forEdge.signature.keyId).toBe(`${prefix}/edge`);
    expect(forOther.signature.keyId).toBe(`${prefix}/other`);
    await expect(openBundle(bytes(forEdge), edgeAgent, at(forEdge))).resolves.toMatchObject({ cluster: "edge" });
    await expect(openBundle(bytes(forOther), edgeAgent, at(forOther))).rejects.toThrow(
      `signature by ${prefix}/other does not verify`,
    );
    await expect(shared).rejects.toThrow(
      `SLUICE_BUNDLE_KEY 'hmac:${prefix}/shared': an HMAC secret id must contain {cluster}`,
    );
  }, 60_000);

  it("the index keeps every entry when many workers publish for one cluster at once (conditional writes, retried)", async () => {
    // Arrange
    const s3 = new S3Client({ ...base, forcePathStyle: true });
    const bucket = `bundles-${randomBytes(3).toString("hex")}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const signer = hmacSigner("k", randomBytes(32));
    const names = Array.from({ length: 12 }, (_, i) => `app-${i}`);
    // Act: one channel object per "worker", all at once.
    await Promise.all(
      names.map(async (name) =>
        new S3BundleChannel(s3, bucket, "edge").publish(
          await sealBundle({ ...content(name), kustomization: { namespace: "apps", name } }, signer),
          name,
        ),
      ),
    );
    // Assess
    const index = await new S3BundleChannel(s3, bucket, "edge").index();
    expect(index === "unchanged" ? [] : Object.keys(index.index.bundles).sort()).toEqual(
      names.map((n) => `apps/${n}`).sort(),
    );
  }, 60_000);
});
