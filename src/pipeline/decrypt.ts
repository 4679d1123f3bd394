import type { KubeObject } from "../apply/object.js";
import { REASON } from "../api/reasons.js";
import type { DataKeyDecrypter } from "../ports/data-keys.js";
import { DecryptionError, decryptObjects, requiresDecryption } from "../render/sops.js";
import { ReconcileError } from "./reconcile-error.js";

/** Flux's `spec.decryption` as the worker and the agent both read it. */
export interface Decryption {
  secretRef?: string;
}

/**
 * The decrypt phase: SOPS-encrypted objects decrypted with the age identities of `secretRef` or a
 * KMS; an encrypted object without `spec.decryption` fails the build (BuildFailed), never applied.
 */
export async function decryptPhase(
  objects: KubeObject[],
  decryption: Decryption | undefined,
  readSecret: (name: string) => Promise<Record<string, string> | undefined>,
  dataKeys?: DataKeyDecrypter,
): Promise<KubeObject[]> {
  return asBuildFailure(() => decryptObjects(objects, decryption, readSecret, dataKeys));
}

/** For a set decrypted elsewhere (an agent cluster decrypts itself): only that it can be. */
export async function checkDecryptable(objects: KubeObject[], decryption: unknown): Promise<void> {
  await asBuildFailure(async () => requiresDecryption(objects, decryption));
}

async function asBuildFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DecryptionError)
      throw new ReconcileError(REASON.buildFailed, `decryption failed: ${error.message}`);
    throw error;
  }
}
