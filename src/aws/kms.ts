import { DecryptCommand, GetPublicKeyCommand, SignCommand, type KMSClient } from "@aws-sdk/client-kms";
import type { BundleSigner } from "../bundle/bundle.js";
import type { DataKeyDecrypter } from "../ports/data-keys.js";

/** SOPS data keys wrapped by AWS KMS, decrypted with the runtime's own role. */
export function kmsDataKeys(kms: KMSClient): DataKeyDecrypter {
  return {
    decrypt: async ({ arn, ciphertext, context }) => {
      try {
        const answer = await kms.send(
          new DecryptCommand({ KeyId: arn, CiphertextBlob: ciphertext, EncryptionContext: context }),
        );
        return Buffer.from(answer.Plaintext!);
      } catch {
        return undefined; // no access to this key: the caller tries the next one
      }
    },
  };
}

/**
 * ECDSA P-256 signatures by a KMS asymmetric key: the private key never leaves KMS. KMS signs the
 * 32-byte digest as a RAW message (it hashes it once more), so any ECDSA-SHA256 verifier can check
 * it without a KMS-specific prehash step.
 */
export function kmsSigner(kms: KMSClient, keyId: string): BundleSigner {
  return {
    sign: async (digest) => {
      const answer = await kms.send(
        new SignCommand({ KeyId: keyId, Message: digest, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256" }),
      );
      return { algorithm: "ECDSA_SHA_256", keyId, value: Buffer.from(answer.Signature!).toString("base64") };
    },
  };
}

/**
 * The KMS key's public half (DER SPKI), which an agent verifies with locally: no AWS call, no AWS credentials
 * needed.
 */
export async function kmsPublicKey(kms: KMSClient, keyId: string): Promise<Buffer> {
  return Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey!);
}
