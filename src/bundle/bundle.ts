import { createHash, createHmac, createPublicKey, timingSafeEqual, verify as verifySignature } from "node:crypto";
import type { HelmRelease } from "../api/helmrelease.js";
import type { KubeObject } from "../apply/object.js";
import type { SyncPlan } from "../apply/plan.js";

/** The Flux object a bundle belongs to: a Kustomization, or a HelmRelease when `kind` says so. */
export interface BundleOwner {
  namespace: string;
  name: string;
  /** Absent for a Kustomization (bundles and reports written before HelmReleases had none). */
  kind?: "HelmRelease";
}

/** `<namespace>/<name>` for a Kustomization, `HelmRelease/<namespace>/<name>` for a HelmRelease: the index key. */
export function refKey(owner: BundleOwner): string {
  return `${owner.kind ? `${owner.kind}/` : ""}${owner.namespace}/${owner.name}`;
}

// A bundle is what the control plane hands an agent cluster instead of applying: the rendered
// objects of one Kustomization at one revision and the options the apply engine needs — or a
// HelmRelease with its chart, released by the agent — a digest of all that, and a signature over
// the digest that the agent checks before touching its cluster.

export const BUNDLE_API_VERSION = "sluice.dev/v1alpha1";

/** The apply engine's options that travel with a bundle. */
/** The plan the agent syncs by, and what only the agent needs: its schedule, identity and decryption. */
export interface BundleOptions extends SyncPlan {
  /** How often the agent re-checks for drift (Flux's `interval`). */
  intervalMs: number;
  /** How soon a failed apply is retried (Flux's `retryInterval`). */
  retryMs: number;
  /**
   * Apply, prune and check health as this service account of the Kustomization's namespace (Flux's
   * `serviceAccountName`).
   */
  serviceAccountName?: string;
  /** SOPS decryption, done by the agent with keys that never leave the cluster (Flux's `spec.decryption`). */
  decryption?: { secretRef?: string };
}

interface BundleBase {
  cluster: string;
  /** The object the bundle belongs to (named so since bundles were only Kustomizations'). */
  kustomization: BundleOwner;
  revision: string;
  /**
   * Rises with every bundle published for this Kustomization: the publishing clock in milliseconds
   * (one more than the previous bundle's when the clock has not moved on), so it keeps rising across
   * a deletion and re-creation without any state. It is signed: an agent refuses a genuine bundle
   * older than one it accepted, replayed through the (unsigned) index.
   */
  sequence: number;
  /** A signed withdrawal: the Kustomization was deleted; the agent deletes what it applied. */
  withdrawn?: true;
  /** A signed suspension (Flux's `suspend`): the agent leaves the cluster alone, drift included, until a new bundle. */
  suspended?: true;
  /**
   * Flux's `reconcile.fluxcd.io/requestedAt`: a new value makes a new bundle, so the agent syncs (and corrects
   * drift) at once.
   */
  requestedAt?: string;
}

/** A Kustomization's rendered objects and the plan to sync them by. */
export interface KustomizationBundle extends BundleBase {
  options: BundleOptions;
  objects: KubeObject[];
  helmRelease?: undefined;
}

/**
 * A HelmRelease to release in the agent's cluster: its spec (the agent composes `valuesFrom` from its own
 * ConfigMaps and Secrets, so they never leave the cluster) and the chart the control plane fetched.
 */
export interface HelmReleaseBundle extends BundleBase {
  helmRelease: {
    object: Pick<HelmRelease, "apiVersion" | "kind" | "metadata" | "spec">;
    /** Absent from a withdrawal or a suspension: nothing is installed by them. */
    chart?: {
      name: string;
      version: string;
      ociDigest?: string;
      /** The chart artifact's digest (`sha256:<hex>`), which names the archive. */
      digest: string;
      /** The .tgz, base64. */
      archive: string;
    };
    /** The identity the agent releases as (Flux's `serviceAccountName`, or the default one); absent: the agent's own. */
    serviceAccountName?: string;
  };
  options?: undefined;
  objects?: undefined;
}

export type BundleContent = KustomizationBundle | HelmReleaseBundle;

/** The bundle as stored: content, its digest, and the signature over the digest. */
export interface SealedBundle<C extends BundleContent = BundleContent> {
  apiVersion: typeof BUNDLE_API_VERSION;
  kind: "Bundle";
  content: C;
  /** `sha256:<hex>` of the canonical JSON of `content`. */
  digest: string;
  signature: { algorithm: "HMAC_SHA_256" | "ECDSA_SHA_256"; keyId: string; value: string };
}

/** A bundle that fails its digest or signature check: never applied. */
export class BundleRejectedError extends Error {
  override name = "BundleRejectedError";
}

/**
 * How bundles are signed and checked: a KMS key, or an HMAC key in Secrets Manager whose id names a cluster as
 * `{cluster}`.
 */
export interface BundleKey {
  kind: "kms" | "hmac";
  id: string;
}

const CLUSTER_PLACEHOLDER = "{cluster}";

/**
 * Parses `kms:<key id>` or `hmac:<secret id with {cluster}>`; `name` is the setting, for the error.
 * An HMAC key verifies and signs alike, so every agent holding it could sign: one key per cluster
 * keeps that to the agent's own cluster.
 */
export function parseBundleKey(text: string, name: string): BundleKey {
  const match = /^(kms|hmac):(.+)$/.exec(text);
  if (!match) throw new Error(`${name} '${text}': expected kms:<key id> or hmac:<secret id>`);
  const key = { kind: match[1] as BundleKey["kind"], id: match[2]! };
  if (key.kind === "hmac" && !key.id.includes(CLUSTER_PLACEHOLDER)) {
    throw new Error(
      `${name} '${text}': an HMAC secret id must contain ${CLUSTER_PLACEHOLDER} (e.g. hmac:sluice/bundle-keys/${CLUSTER_PLACEHOLDER}): ` +
        "an agent can sign with the key it verifies with, so each cluster needs its own key; kms:<key id> avoids even that",
    );
  }
  return key;
}

/** The key id that signs and verifies one cluster's bundles (`{cluster}` replaced by its name). */
export function keyIdFor(key: BundleKey, cluster: string): string {
  return key.id.replaceAll(CLUSTER_PLACEHOLDER, cluster);
}

/** Signs a digest (raw 32 bytes) for the control plane. */
export interface BundleSigner {
  sign(digest: Buffer): Promise<SealedBundle["signature"]>;
}

/** Checks a signature for the agent. */
export interface BundleVerifier {
  verify(digest: Buffer, signature: SealedBundle["signature"]): Promise<boolean>;
}

export async function sealBundle<C extends BundleContent>(content: C, signer: BundleSigner): Promise<SealedBundle<C>> {
  const digest = digestOf(content);
  return {
    apiVersion: BUNDLE_API_VERSION,
    kind: "Bundle",
    content,
    digest: `sha256:${digest.toString("hex")}`,
    signature: await signer.sign(digest),
  };
}

/** `sha256:<hex>` of a bundle's content: equal for equal content, whatever the key order. */
export function bundleDigest(content: BundleContent): string {
  return `sha256:${digestOf(content).toString("hex")}`;
}

/** Where the agent found a bundle: its own cluster, the index key and the digest the index names. */
export interface BundleAddress {
  cluster: string;
  kustomization: BundleOwner;
  digest: string;
}

/**
 * Parses and checks a stored bundle; throws BundleRejectedError for anything that does not verify or
 * that is not what the (unsigned) index says it is: another cluster's bundle, another
 * Kustomization's (a withdrawal of one replayed onto another), or another digest.
 */
export async function openBundle(
  bytes: Buffer,
  verifier: BundleVerifier,
  expected: BundleAddress,
): Promise<BundleContent> {
  let bundle: SealedBundle;
  try {
    bundle = JSON.parse(bytes.toString("utf8")) as SealedBundle;
  } catch {
    throw new BundleRejectedError("bundle is not valid JSON");
  }
  const shaped =
    bundle?.apiVersion === BUNDLE_API_VERSION &&
    bundle.kind === "Bundle" &&
    typeof bundle.content === "object" &&
    bundle.content !== null;
  if (!shaped) throw new BundleRejectedError(`not a ${BUNDLE_API_VERSION} Bundle`);
  const digest = digestOf(bundle.content);
  if (`sha256:${digest.toString("hex")}` !== bundle.digest)
    throw new BundleRejectedError(
      `digest mismatch: the content hashes to sha256:${digest.toString("hex")}, the bundle says ${bundle.digest}`,
    );
  if (!(await verifier.verify(digest, bundle.signature)))
    throw new BundleRejectedError(`signature by ${bundle.signature?.keyId ?? "?"} does not verify`);
  const { content } = bundle;
  if (content.cluster !== expected.cluster)
    throw new BundleRejectedError(`bundle is for cluster '${content.cluster}', not '${expected.cluster}'`);
  if (refKey(content.kustomization) !== refKey(expected.kustomization)) {
    throw new BundleRejectedError(
      `bundle is for ${ownerName(content.kustomization)}, but the index lists it under ${refKey(expected.kustomization)}`,
    );
    if (!!content.helmRelease !== (content.kustomization.kind === "HelmRelease"))
      throw new BundleRejectedError(`bundle for ${ownerName(content.kustomization)} does not hold what its kind needs`);
  }
  if (bundle.digest !== expected.digest)
    throw new BundleRejectedError(`bundle is ${bundle.digest}, but the index names ${expected.digest}`);
  return content;
}

/** `Kustomization <ns>/<name>` or `HelmRelease <ns>/<name>`, for messages. */
export function ownerName(owner: BundleOwner): string {
  return `${owner.kind ?? "Kustomization"} ${owner.namespace}/${owner.name}`;
}

/** sha256 of JSON with object keys sorted, so the digest does not depend on key order. */
function digestOf(content: BundleContent): Buffer {
  return createHash("sha256").update(canonicalJson(content)).digest();
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** HMAC-SHA256 with a shared key (kept in Secrets Manager on the control plane, a Secret in the cluster). */
export function hmacSigner(keyId: string, key: Buffer): BundleSigner & BundleVerifier {
  const mac = (digest: Buffer) => createHmac("sha256", key).update(digest).digest();
  return {
    sign: async (digest) => ({ algorithm: "HMAC_SHA_256", keyId, value: mac(digest).toString("base64") }),
    verify: async (digest, signature) => {
      if (signature?.algorithm !== "HMAC_SHA_256" || signature.keyId !== keyId) return false;
      const given = Buffer.from(signature.value, "base64");
      const expected = mac(digest);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

export function publicKeyVerifier(keyId: string, publicKeyDer: Buffer): BundleVerifier {
  const key = createPublicKey({ key: publicKeyDer, format: "der", type: "spki" });
  return {
    verify: async (digest, signature) => {
      if (signature?.algorithm !== "ECDSA_SHA_256" || signature.keyId !== keyId) return false;
      return verifySignature("sha256", digest, key, Buffer.from(signature.value, "base64"));
    },
  };
}
