import { randomBytes } from "node:crypto";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describe, expect, inject, it } from "vitest";
import { BundleRejectedError, bundleDigest, hmacSigner, kmsPublicKey, kmsSigner, openBundle, publicKeyVerifier, sealBundle, type BundleContent } from "../../src/agent/bundle.js";
import { agentVerifier } from "../../src/agent/config.js";
import { S3BundleChannel } from "../../src/aws/s3-bundle-channel.js";
import { configMap } from "../apply/helpers.js";

const { aws } = inject("testbed");
const base = { region: aws.region, endpoint: aws.endpoint, credentials: async () => ({ accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey }) };
const options = { prune: true, force: false, wait: false, healthChecks: [], timeoutMs: 60_000, intervalMs: 600_000, retryMs: 60_000, deletionPolicy: "MirrorPrune" as const };
const content = (value: string): BundleContent => ({ cluster: "edge", kustomization: { namespace: "apps", name: "web" }, revision: "main@sha1:abc", sequence: 1, options, objects: [configMap("settings", { value }, { namespace: "apps" })] });
const bytes = (bundle: unknown) => Buffer.from(JSON.stringify(bundle));

describe(`bundles: digest, signature and index (KMS, Secrets Manager and S3 of ${aws.version})`, () => {
  it("a KMS-signed bundle verifies with the key's public half alone, and any change to it is refused", async () => {
    // Arrange
    const kms = new KMSClient(base);
    const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.KeyId!;
    const verifier = publicKeyVerifier(keyId, await kmsPublicKey(kms, keyId));
    // Act
    const sealed = await sealBundle(content("one"), kmsSigner(kms, keyId));
    const edited = structuredClone(sealed);
    (edited.content.objects[0]!.data as Record<string, string>).value = "evil";
    const resealed = { ...edited, digest: bundleDigest(edited.content) };
    // Assess
    await expect(openBundle(bytes(sealed), verifier, "edge")).resolves.toEqual(content("one"));
    await expect(openBundle(bytes(edited), verifier, "edge")).rejects.toThrow(/digest mismatch/);
    await expect(openBundle(bytes(resealed), verifier, "edge")).rejects.toThrow(`signature by ${keyId} does not verify`);
    await expect(openBundle(bytes(sealed), verifier, "other")).rejects.toThrow("bundle is for cluster 'edge', not 'other'");
    await expect(openBundle(Buffer.from("{"), verifier, "edge")).rejects.toBeInstanceOf(BundleRejectedError);
  });

  it("the digest does not depend on key order, so re-rendering the same objects publishes nothing new", () => {
    const reordered = JSON.parse(JSON.stringify(content("one"), ["revision", "sequence", "objects", "options", "kustomization", "cluster", "data", "value", "metadata", "name", "namespace", "kind", "apiVersion", ...Object.keys(options)])) as BundleContent;
    expect(bundleDigest(reordered)).toBe(bundleDigest(content("one")));
    expect(bundleDigest(content("two"))).not.toBe(bundleDigest(content("one")));
  });

  it("an HMAC-signed bundle verifies with the key from Secrets Manager; another key or algorithm does not", async () => {
    // Arrange
    const sm = new SecretsManagerClient(base);
    const secretId = `sluice/bundle-hmac-${randomBytes(3).toString("hex")}`;
    const key = randomBytes(32);
    await sm.send(new CreateSecretCommand({ Name: secretId, SecretString: key.toString("base64") }));
    const verifier = await agentVerifier({ cluster: "edge", bucket: "b", region: aws.region, bundleKey: `hmac:${secretId}`, pollMs: 1_000, healthPort: 0, concurrency: 1 }, sm);
    // Act
    const sealed = await sealBundle(content("one"), hmacSigner(secretId, key));
    const forged = await sealBundle(content("one"), hmacSigner(secretId, randomBytes(32)));
    // Assess
    await expect(openBundle(bytes(sealed), verifier, "edge")).resolves.toEqual(content("one"));
    await expect(openBundle(bytes(forged), verifier, "edge")).rejects.toThrow("does not verify");
    await expect(openBundle(bytes({ ...sealed, signature: { ...sealed.signature, algorithm: "ECDSA_SHA_256" } }), verifier, "edge")).rejects.toThrow("does not verify");
  });

  it("the index keeps every entry when many workers publish for one cluster at once (conditional writes, retried)", async () => {
    // Arrange
    const s3 = new S3Client({ ...base, forcePathStyle: true });
    const bucket = `bundles-${randomBytes(3).toString("hex")}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const signer = hmacSigner("k", randomBytes(32));
    const names = Array.from({ length: 12 }, (_, i) => `app-${i}`);
    // Act: one channel object per "worker", all at once.
    await Promise.all(names.map(async (name) => new S3BundleChannel(s3, bucket, "edge").publish(await sealBundle({ ...content(name), kustomization: { namespace: "apps", name } }, signer), name)));
    // Assess
    const index = await new S3BundleChannel(s3, bucket, "edge").index();
    expect(index === "unchanged" ? [] : Object.keys(index.index.bundles).sort()).toEqual(names.map((n) => `apps/${n}`).sort());
  }, 60_000);
});
