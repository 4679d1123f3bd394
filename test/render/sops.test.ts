import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/apply/object.js";
import { kmsDataKeys } from "../../src/aws/kms.js";
import { decryptObjects, decryptSops, isSopsEncrypted } from "../../src/render/sops.js";
import { ageKey, sopsEncrypt, sopsVersion } from "../env/sops.js";

const { aws } = inject("testbed");
const secret = {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "db", namespace: "apps", labels: { app: "db" } },
  type: "Opaque",
  stringData: { password: "hunter2", empty: "", url: "postgres://db:5432/app?x=1" },
  data: { token: Buffer.from("t0ken").toString("base64") },
};
const typed = {
  apiVersion: "example.com/v1",
  kind: "Settings",
  metadata: { name: "typed" },
  spec: {
    replicas: 3,
    ratio: 1.5,
    enabled: true,
    disabled: false,
    hosts: ["a", "b"],
    nested: { deep: [{ k: "v" }] },
    note_unencrypted: "plain",
  },
};
let key: { identity: string; recipient: string };
let version = "";

beforeAll(async () => {
  key = await ageKey();
  version = await sopsVersion();
});

describe("SOPS decryption against files encrypted by the real sops", () => {
  it(`decrypts a Secret encrypted with age and --encrypted-regex, as Flux's docs set it up`, async () => {
    const encrypted = await sopsEncrypt(secret, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
    expect(version).toMatch(/^sops 3\./);
    expect(isSopsEncrypted(encrypted)).toBe(true);
    expect(JSON.stringify(encrypted)).not.toContain("hunter2");
    await expect(decryptSops(encrypted, { ageIdentities: [key.identity] }, "Secret/apps/db")).resolves.toEqual(secret);
  });

  it("decrypts every value type when the whole document is encrypted (ints, floats, booleans, lists, _unencrypted keys)", async () => {
    const encrypted = await sopsEncrypt(typed, ["--age", key.recipient]);
    expect((encrypted.spec as Record<string, unknown>).replicas).toMatch(/^ENC\[.*type:int\]$/);
    expect((encrypted.spec as Record<string, unknown>).note_unencrypted).toBe("plain");
    await expect(decryptSops(encrypted, { ageIdentities: [key.identity] }, "Settings/typed")).resolves.toEqual(typed);
  });

  it("honours --mac-only-encrypted and --unencrypted-regex", async () => {
    const encrypted = await sopsEncrypt(typed, [
      "--age",
      key.recipient,
      "--mac-only-encrypted",
      "--unencrypted-regex",
      "^(apiVersion|kind|metadata)$",
    ]);
    expect(encrypted.kind).toBe("Settings");
    await expect(decryptSops(encrypted, { ageIdentities: [key.identity] }, "Settings/typed")).resolves.toEqual(typed);
  });

  it("refuses altered files: a changed plaintext field (MAC), a value moved to another key (its path is authenticated), a foreign key", async () => {
    // Arrange
    const encrypted = await sopsEncrypt(secret, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
    const renamed = structuredClone(encrypted);
    renamed.metadata.labels = { app: "other" };
    const swapped = structuredClone(encrypted) as KubeObject & { stringData: Record<string, string> };
    swapped.stringData.url = swapped.stringData.password!;
    const other = await ageKey();
    // Act + Assess
    await expect(decryptSops(renamed, { ageIdentities: [key.identity] }, "Secret/apps/db")).rejects.toThrow(
      "Secret/apps/db: SOPS MAC mismatch",
    );
    await expect(decryptSops(swapped, { ageIdentities: [key.identity] }, "Secret/apps/db")).rejects.toThrow(
      "Secret/apps/db: stringData.url: does not decrypt",
    );
    await expect(decryptSops(encrypted, { ageIdentities: [other.identity] }, "Secret/apps/db")).rejects.toThrow(
      `no key to decrypt its SOPS data key (tried age ${key.recipient})`,
    );
  });

  it("decrypts with AWS KMS (moto) when the file was encrypted to a KMS key", async () => {
    // Arrange
    const kms = new KMSClient({
      region: aws.region,
      endpoint: aws.endpoint,
      credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
    });
    const arn = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const env = {
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
    };
    // Act
    const encrypted = await sopsEncrypt(secret, ["--kms", arn, "--encrypted-regex", "^(data|stringData)$"], env);
    // Assess
    await expect(
      decryptSops(encrypted, { ageIdentities: [], kms: kmsDataKeys(kms) }, "Secret/apps/db"),
    ).resolves.toEqual(secret);
  });

  it("a rendered set: encrypted objects decrypted with the secretRef's *.agekey entries, others untouched, none without spec.decryption", async () => {
    const encrypted = await sopsEncrypt(secret, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
    const plain: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { a: "b" } };
    const read = async (name: string) =>
      name === "sops-age" ? { "identity.agekey": `# created: today\n${key.identity}\n` } : undefined;
    await expect(decryptObjects([plain, encrypted], { secretRef: "sops-age" }, read)).resolves.toEqual([plain, secret]);
    await expect(decryptObjects([plain, encrypted], undefined, read)).rejects.toThrow(
      "Secret/apps/db is SOPS-encrypted but spec.decryption is not set",
    );
    await expect(decryptObjects([encrypted], { secretRef: "missing" }, read)).rejects.toThrow(
      "spec.decryption.secretRef: secret 'missing' not found",
    );
    await expect(decryptObjects([plain], undefined, read)).resolves.toEqual([plain]);
  });
});
