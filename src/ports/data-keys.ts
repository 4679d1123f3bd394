/**
 * Decrypts a SOPS data key wrapped by a cloud KMS (SOPS's `sops.kms` entries), with the runtime's
 * own credentials. Rendering sees only this, so it needs no cloud SDK; AWS KMS is one adapter.
 */
export interface DataKeyDecrypter {
  /** The plaintext data key, or undefined when this key cannot be used (no access, unknown key). */
  decrypt(entry: { arn: string; ciphertext: Buffer; context?: Record<string, string> }): Promise<Buffer | undefined>;
}
