import { createDecipheriv, createHash, timingSafeEqual } from "node:crypto";
import { Decrypter, armor } from "age-encryption";
import type { KubeObject } from "../apply/object.js";
import type { DataKeyDecrypter } from "../ports/data-keys.js";

// SOPS decryption of Kubernetes objects (Flux's `spec.decryption.provider: sops`), written to the
// SOPS file format: the data key comes from an age identity or AWS KMS; each value is AES-256-GCM
// with its key path as additional data; the MAC (SHA-512 over the plaintext values, in document
// order, itself encrypted with the timestamp as additional data) proves nothing was altered.

/** A SOPS-encrypted object that cannot be decrypted; the message never carries a value. */
export class DecryptionError extends Error {
  override name = "DecryptionError";
}

/** What may decrypt a data key: age identities (`AGE-SECRET-KEY-1…`) and, optionally, a cloud KMS. */
export interface SopsKeys {
  ageIdentities: string[];
  kms?: DataKeyDecrypter;
}

interface SopsMetadata {
  age?: { recipient: string; enc: string }[];
  kms?: { arn: string; enc: string; context?: Record<string, string> }[];
  key_groups?: unknown[];
  pgp?: unknown[];
  lastmodified: string;
  mac: string;
  unencrypted_suffix?: string;
  encrypted_suffix?: string;
  unencrypted_regex?: string;
  encrypted_regex?: string;
  mac_only_encrypted?: boolean;
}

/** sha256("sops"): the MAC's first bytes when only encrypted values are authenticated. */
const MAC_ONLY_ENCRYPTED_INIT = createHash("sha256").update("sops").digest();
const ENCRYPTED = /^ENC\[AES256_GCM,data:(.*),iv:(.+),tag:(.+),type:(.+)\]$/;

export function isSopsEncrypted(object: KubeObject): boolean {
  return sopsMacOf(object) !== undefined;
}

/** The encrypted MAC of a SOPS document: unique per encryption, so it also identifies the file. */
export function sopsMacOf(object: unknown): string | undefined {
  const sops = (object as { sops?: { mac?: unknown } } | null)?.sops;
  return typeof sops === "object" && sops !== null && typeof sops.mac === "string" ? sops.mac : undefined;
}

/** The age identities in a decryption Secret: every `*.agekey` entry, one identity per line, `#` comments skipped. */
export function ageIdentitiesOf(data: Record<string, string>): string[] {
  return Object.entries(data)
    .filter(([key]) => key.endsWith(".agekey"))
    .flatMap(([, value]) => value.split("\n").map((line) => line.trim()))
    .filter((line) => line.startsWith("AGE-SECRET-KEY-"));
}

/** The object with its values decrypted and the `sops` metadata removed; throws DecryptionError. */
export async function decryptSops(object: KubeObject, keys: SopsKeys, subject: string): Promise<KubeObject> {
  const { sops, ...document } = object as KubeObject & { sops: SopsMetadata };
  if (sops.key_groups?.length)
    throw new DecryptionError(`${subject}: SOPS key groups (Shamir secret sharing) are not supported yet`);
  const dataKey = await decryptDataKey(sops, keys, subject);
  const hash = createHash("sha512");
  if (sops.mac_only_encrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const encrypted = encryptionRule(sops);
  const walk = (value: unknown, path: string[]): unknown => {
    if (Array.isArray(value)) return value.map((item) => walk(item, path));
    if (value && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...path, k])]));
    if (value === null || value === undefined) return value;
    const isEncrypted = encrypted(path);
    const plain = isEncrypted ? decryptValue(value, dataKey, `${path.join(":")}:`, subject, path) : value;
    if (!sops.mac_only_encrypted || isEncrypted) hash.update(macBytes(plain));
    return plain;
  };
  const decrypted = walk(document, []) as KubeObject;
  const expected = decryptValue(sops.mac, dataKey, sops.lastmodified, subject, ["sops", "mac"]);
  const actual = hash.digest("hex").toUpperCase();
  if (
    typeof expected !== "string" ||
    expected.length !== actual.length ||
    !timingSafeEqual(Buffer.from(expected), Buffer.from(actual))
  ) {
    throw new DecryptionError(`${subject}: SOPS MAC mismatch: the file was altered after it was encrypted`);
  }
  return decrypted;
}

async function decryptDataKey(sops: SopsMetadata, keys: SopsKeys, subject: string): Promise<Buffer> {
  if (keys.ageIdentities.length > 0) {
    const decrypter = new Decrypter();
    for (const identity of keys.ageIdentities) decrypter.addIdentity(identity);
    for (const entry of sops.age ?? []) {
      try {
        return Buffer.from(await decrypter.decrypt(armor.decode(entry.enc)));
      } catch {
        // Not one of our recipients; try the next.
      }
    }
  }
  if (keys.kms) {
    for (const entry of sops.kms ?? []) {
      const key = await keys.kms.decrypt({
        arn: entry.arn,
        ciphertext: Buffer.from(entry.enc, "base64"),
        context: entry.context,
      });
      if (key) return key;
    }
  }
  const tried = [
    ...(sops.age ?? []).map((a) => `age ${a.recipient}`),
    ...(sops.kms ?? []).map((k) => `KMS ${k.arn}`),
    ...(sops.pgp?.length ? ["PGP (not supported)"] : []),
  ];
  throw new DecryptionError(
    `${subject}: no key to decrypt its SOPS data key (tried ${tried.join(", ") || "nothing: the file lists no age or KMS key"}); check spec.decryption.secretRef`,
  );
}

/** Which values SOPS encrypted, from the rule recorded in the file's metadata. */
function encryptionRule(sops: SopsMetadata): (path: string[]) => boolean {
  const ruleSet = sops.unencrypted_suffix ?? sops.encrypted_suffix ?? sops.unencrypted_regex ?? sops.encrypted_regex;
  const unencryptedSuffix = ruleSet === undefined ? "_unencrypted" : sops.unencrypted_suffix;
  const unencryptedRegex = sops.unencrypted_regex ? new RegExp(sops.unencrypted_regex) : undefined;
  const encryptedRegex = sops.encrypted_regex ? new RegExp(sops.encrypted_regex) : undefined;
  return (path) => {
    let encrypted = true;
    if (unencryptedSuffix && path.some((p) => p.endsWith(unencryptedSuffix))) encrypted = false;
    if (sops.encrypted_suffix) encrypted = path.some((p) => p.endsWith(sops.encrypted_suffix!));
    if (unencryptedRegex && path.some((p) => unencryptedRegex.test(p))) encrypted = false;
    if (encryptedRegex) encrypted = path.some((p) => encryptedRegex.test(p));
    return encrypted;
  };
}

function decryptValue(value: unknown, key: Buffer, additionalData: string, subject: string, path: string[]): unknown {
  if (value === "") return "";
  const match = typeof value === "string" ? ENCRYPTED.exec(value) : null;
  if (!match) throw new DecryptionError(`${subject}: ${path.join(".")}: expected a SOPS-encrypted value`);
  const [, data, iv, tag, type] = match as unknown as [string, string, string, string, string];
  let plain: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
    decipher.setAAD(Buffer.from(additionalData));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    plain = Buffer.concat([decipher.update(Buffer.from(data, "base64")), decipher.final()]);
  } catch {
    throw new DecryptionError(
      `${subject}: ${path.join(".")}: does not decrypt with the file's data key (altered, or moved to another key)`,
    );
  }
  const text = plain.toString("utf8");
  if (type === "str" || type === "bytes" || type === "comment") return text;
  if (type === "int" || type === "float") return Number(text);
  if (type === "bool") return text.toLowerCase() === "true";
  throw new DecryptionError(`${subject}: ${path.join(".")}: unknown SOPS value type '${type}'`);
}

/** SOPS's ToBytes: strings as they are, booleans as True/False, numbers in Go's shortest form. */
function macBytes(value: unknown): Buffer {
  if (typeof value === "boolean") return Buffer.from(value ? "True" : "False");
  return Buffer.from(String(value));
}

/**
 * Flux's `spec.decryption` over a rendered set: SOPS-encrypted objects are decrypted with the age
 * identities of `secretRef` (read from the Kustomization's namespace) or KMS; the rest pass as
 * they are. An encrypted object without `spec.decryption` is an error, never applied as it is.
 */
export async function decryptObjects(
  objects: KubeObject[],
  decryption: { secretRef?: string } | undefined,
  readSecret: (name: string) => Promise<Record<string, string> | undefined>,
  kms?: DataKeyDecrypter,
): Promise<KubeObject[]> {
  if (!requiresDecryption(objects, decryption) || !decryption) return objects;
  let ageIdentities: string[] = [];
  if (decryption.secretRef) {
    const data = await readSecret(decryption.secretRef);
    if (!data) throw new DecryptionError(`spec.decryption.secretRef: secret '${decryption.secretRef}' not found`);
    ageIdentities = ageIdentitiesOf(data);
  }
  return Promise.all(
    objects.map((o) => (isSopsEncrypted(o) ? decryptSops(o, { ageIdentities, kms }, subjectOf(o)) : o)),
  );
}

/**
 * Whether a rendered set holds SOPS-encrypted objects; throws when it does and there is no `spec.decryption` (they
 * would be applied as ciphertext).
 */
export function requiresDecryption(objects: KubeObject[], decryption: unknown): boolean {
  const encrypted = objects.find(isSopsEncrypted);
  if (encrypted && !decryption)
    throw new DecryptionError(`${subjectOf(encrypted)} is SOPS-encrypted but spec.decryption is not set`);
  return encrypted !== undefined;
}

function subjectOf(o: KubeObject): string {
  return `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
}

/** `value` with its mapping keys in `template`'s order (recursively); keys the template lacks come last. */
export function orderedLike(value: unknown, template: unknown): unknown {
  if (Array.isArray(value))
    return value.map((item, i) => orderedLike(item, Array.isArray(template) ? template[i] : undefined));
  if (!value || typeof value !== "object") return value;
  const source = value as Record<string, unknown>;
  const order =
    template && typeof template === "object" && !Array.isArray(template)
      ? Object.keys(template).filter((k) => k in source)
      : [];
  const keys = [...order, ...Object.keys(source).filter((k) => !order.includes(k))];
  return Object.fromEntries(
    keys.map((k) => [k, orderedLike(source[k], (template as Record<string, unknown> | undefined)?.[k])]),
  );
}
