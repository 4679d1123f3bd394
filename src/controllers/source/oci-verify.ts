import { OciError, type OciClient } from "../../sources/oci/client.js";
import { CosignError, cosignKeys, hasCosignSignature } from "../../sources/oci/cosign.js";
import { CONDITION } from "../../api/reasons.js";
import { findCondition } from "../../pipeline/conditions.js";
import { withoutConditions, type ConditionedStatus } from "../../pipeline/status.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/** `spec.verify` of an OCIRepository or a HelmChart, as far as Sluice verifies it (cosign with public keys). */
export interface OciVerifySpec {
  provider?: string;
  secretRef?: { name: string };
}

/**
 * The signature of an artifact could not be verified. `setup`: the keys could not be read (source-controller's
 * makeVerifiers errors), else no signature verified or the lookup failed. `detail` is Flux's text without the prefix
 * each kind puts before it.
 */
export class SignatureVerificationError extends Error {
  override name = "SignatureVerificationError";
  constructor(
    readonly provider: string,
    readonly detail: string,
    readonly setup: boolean,
  ) {
    super(`failed to verify the signature using provider '${provider}': ${detail}`);
  }
}

/**
 * source-controller's verifySignature with a `secretRef`: the manifest `digest` of `repository`
 * (`<registry>/<path>`, for messages) must carry a cosign signature made with one of the Secret's
 * `*.pub` keys. Throws SignatureVerificationError otherwise.
 */
export async function verifyOciSignature(
  ports: ReconcilerPorts,
  namespace: string,
  verify: OciVerifySpec,
  client: OciClient,
  repository: string,
  digest: string,
): Promise<void> {
  const provider = verify.provider ?? "cosign";
  const setup = (detail: string) => new SignatureVerificationError(provider, detail, true);
  // Keyless and notation are refused on admission (src/api/unsupported.ts); this is the defence behind it.
  if (provider !== "cosign" || !verify.secretRef) throw setup("only cosign with spec.verify.secretRef is supported");
  const secret = `${namespace}/${verify.secretRef.name}`;
  const data = await ports.secrets.secret({ namespace, name: verify.secretRef.name });
  if (!data) throw setup(`failed to get secret '${secret}': secret not found`);
  let keys;
  try {
    keys = cosignKeys(data, secret);
  } catch (error) {
    if (error instanceof CosignError) throw setup(error.message);
    throw error;
  }
  if (keys.length === 0) throw setup(`no public keys found in secret '${secret}'`);
  let found: boolean;
  try {
    found = await hasCosignSignature(client, digest, keys);
  } catch (error) {
    if (error instanceof OciError) throw new SignatureVerificationError(provider, error.message, false);
    throw error;
  }
  if (!found)
    throw new SignatureVerificationError(
      provider,
      `no matching signatures were found for '${repository}@${digest}'`,
      false,
    );
}

/**
 * The status a reconcile starts from, as source-controller clears it: a failed verification is tried again from
 * scratch (a successful one stands for what it verified), and without `spec.verify` the condition goes.
 */
export function withoutStaleVerification<S extends ConditionedStatus>(status: S, verify: OciVerifySpec | undefined): S {
  const failed = findCondition(status.conditions, CONDITION.sourceVerified)?.status === "False";
  return failed || !verify ? withoutConditions(status, CONDITION.sourceVerified) : status;
}
