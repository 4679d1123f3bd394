import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { OciError, type OciClient, type OciDescriptor } from "./client.js";

// Cosign signatures of an OCI manifest, checked with public keys as source-controller v1.9.4 does
// through cosign v3.0.6 (internal/oci/cosign): Sigstore bundles attached as referrers (cosign v3's
// default) are looked for first; only when there are none, the cosign v2 layout — the tag
// `sha256-<hex>.sig` whose layers are simple-signing payloads, each signed in an annotation. Keys are
// read as cosign's UnmarshalPEMToPublicKey does and used as signature.LoadVerifier(key, SHA-256)
// does: ECDSA and RSA PKCS#1 v1.5 over SHA-256, Ed25519 over the message itself. Unlike Flux (which
// sets no claim verifier for the v2 layout), a v2 payload must also name the digest being verified.

/** A key from a `*.pub` entry, named by its entry. */
export interface CosignKey {
  name: string;
  key: KeyObject;
}

/** Verification failed or could not be done; the message says why, never a key's or a signature's bytes. */
export class CosignError extends Error {
  override name = "CosignError";
}

const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle";
const IN_TOTO = "application/vnd.in-toto+json";
/** cosign's maxLayers for a signature manifest. */
const MAX_SIGNATURE_LAYERS = 1000;
/** A payload or bundle is a few KiB; a descriptor over this is refused before it is downloaded. */
const MAX_PAYLOAD_BYTES = 1 << 20;
/** Referrers examined for bundles; a repository flooded with referrers costs no more than this. */
const MAX_REFERRERS = 32;

/**
 * The keys of every `*.pub` entry of a Secret, as Flux reads them. An entry that is not a PEM public
 * key of a type cosign verifies with is refused naming the entry (Flux stops at it too, when it gets
 * there before a key that verifies).
 */
export function cosignKeys(data: Record<string, string>, secret: string): CosignKey[] {
  const keys: CosignKey[] = [];
  for (const [name, pem] of Object.entries(data).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.endsWith(".pub")) continue;
    const fail = (why: string) => new CosignError(`'${name}' in secret '${secret}' is not a public key: ${why}`);
    const block = /-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY)-----/.exec(pem);
    if (!block) throw fail("PEM decoding failed");
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pem, format: "pem", ...(block[1] === "RSA PUBLIC KEY" && { type: "pkcs1" }) });
    } catch {
      throw fail("the PEM block does not hold a valid key");
    }
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const supported =
      key.asymmetricKeyType === "rsa" ||
      key.asymmetricKeyType === "ed25519" ||
      (key.asymmetricKeyType === "ec" && ["prime256v1", "secp384r1", "secp521r1"].includes(curve ?? ""));
    if (!supported) throw fail(`unsupported public key type ${key.asymmetricKeyType}${curve ? ` (${curve})` : ""}`);
    keys.push({ name, key });
  }
  return keys;
}

/**
 * Whether a cosign signature of the manifest `digest`, made with one of `keys`, is in the repository.
 * A missing signature, one by another key, or one over another digest is false; a registry or content
 * failure (a signature manifest over the size limit, a layer not of its digest) throws OciError.
 */
export async function hasCosignSignature(client: OciClient, digest: string, keys: CosignKey[]): Promise<boolean> {
  const bundles = await referrerBundles(client, digest);
  if (bundles.length > 0) return bundles.some((bundle) => bundleSigned(bundle, digest, keys));
  return legacySigned(client, digest, keys);
}

const dsseEnvelope = z.object({
  payload: z.string(),
  payloadType: z.string(),
  signatures: z.array(z.object({ sig: z.string() })).min(1),
});
const bundleSchema = z.object({ mediaType: z.string(), dsseEnvelope: dsseEnvelope.optional() });
type Bundle = z.infer<typeof bundleSchema>;

/**
 * The Sigstore bundles among the digest's referrers: each referrer manifest is read (a referrers tag index written
 * by go-containerregistry lists them with the config's media type, not the artifact type), and those that are not
 * a bundle, or cannot be read, are skipped as cosign skips them.
 */
async function referrerBundles(client: OciClient, digest: string): Promise<Bundle[]> {
  const bundles: Bundle[] = [];
  const referrers = (await client.referrers(digest)).slice(0, MAX_REFERRERS);
  for (const referrer of referrers) {
    const bundle = await readBundle(client, referrer.digest).catch((error: unknown) => {
      if (error instanceof OciError) return undefined;
      throw error;
    });
    if (bundle) bundles.push(bundle);
  }
  return bundles;
}

/** The bundle a referrer manifest holds as its one layer, or undefined when it holds something else. */
async function readBundle(client: OciClient, digest: string): Promise<Bundle | undefined> {
  const { manifest } = await client.imageManifest(digest);
  const layer = manifest.layers.length === 1 ? manifest.layers[0]! : undefined;
  if (!layer?.mediaType.startsWith(BUNDLE_MEDIA_TYPE)) return undefined;
  const parsed = bundleSchema.safeParse(parseJson(await client.blob(layer, MAX_PAYLOAD_BYTES)));
  return parsed.success && parsed.data.mediaType.startsWith(BUNDLE_MEDIA_TYPE) ? parsed.data : undefined;
}

const inTotoStatement = z.object({
  subject: z.array(z.object({ digest: z.record(z.string(), z.string()) })),
});

/**
 * A bundle whose DSSE envelope is signed by one of the keys over an in-toto statement with the digest
 * among its subjects (sigstore-go's artifact digest policy). A bundle of a bare message signature is
 * refused, as cosign refuses it for an image.
 */
function bundleSigned(bundle: Bundle, digest: string, keys: CosignKey[]): boolean {
  const envelope = bundle.dsseEnvelope;
  if (!envelope || envelope.payloadType !== IN_TOTO) return false;
  const payload = Buffer.from(envelope.payload, "base64");
  const signed = preAuthenticationEncoding(envelope.payloadType, payload);
  if (!envelope.signatures.some(({ sig }) => signedByAny(signed, Buffer.from(sig, "base64"), keys))) return false;
  const statement = inTotoStatement.safeParse(parseJson(payload));
  const [algorithm, hex] = digest.split(":");
  return statement.success && statement.data.subject.some((s) => s.digest[algorithm!] === hex);
}

/** DSSE's PAE: what a DSSE signature signs. */
function preAuthenticationEncoding(type: string, payload: Buffer): Buffer {
  const typeBytes = Buffer.from(type);
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${typeBytes.length} `),
    typeBytes,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

const simpleSigning = z.object({
  critical: z.object({ image: z.object({ "docker-manifest-digest": z.string() }) }),
});

/** cosign v2: a simple-signing layer of `sha256-<hex>.sig` signed by one of the keys, naming the digest. */
async function legacySigned(client: OciClient, digest: string, keys: CosignKey[]): Promise<boolean> {
  let layers: OciDescriptor[];
  try {
    layers = (await client.imageManifest(`${digest.replace(":", "-")}.sig`)).manifest.layers;
  } catch (error) {
    if (error instanceof OciError && error.notFound) return false;
    throw error;
  }
  if (layers.length > MAX_SIGNATURE_LAYERS)
    throw new OciError(`the signature manifest of ${digest} has ${layers.length} layers, over ${MAX_SIGNATURE_LAYERS}`);
  for (const layer of layers) {
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (layer.mediaType !== SIMPLE_SIGNING || !signature) continue;
    const payload = await client.blob(layer, MAX_PAYLOAD_BYTES);
    if (!signedByAny(payload, Buffer.from(signature, "base64"), keys)) continue;
    const claim = simpleSigning.safeParse(parseJson(payload));
    if (claim.success && claim.data.critical.image["docker-manifest-digest"] === digest) return true;
  }
  return false;
}

function signedByAny(data: Buffer, signature: Buffer, keys: CosignKey[]): boolean {
  return keys.some(({ key }) => {
    try {
      return verify(key.asymmetricKeyType === "ed25519" ? null : "sha256", data, key, signature);
    } catch {
      return false; // a malformed signature is no signature
    }
  });
}

function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
}
