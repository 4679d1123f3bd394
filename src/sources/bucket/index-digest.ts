import { createHash } from "node:crypto";

// A bucket's revision as source-controller computes it (internal/index Digester): the keys sorted
// byte-wise (Go's sort.Strings over UTF-8), one `<key> <etag>\n` line each, hashed with SHA-256.

/** Object keys and their ETags (without quotes, as minio-go reports them). */
export type EtagIndex = Map<string, string>;

/** `sha256:<hex>` of the index, equal to Flux's revision for the same listing. */
export function indexDigest(index: EtagIndex): string {
  const hash = createHash("sha256");
  for (const key of sortedKeys(index)) hash.update(`${key} ${index.get(key)}\n`, "utf8");
  return `sha256:${hash.digest("hex")}`;
}

/** Keys in the order of their UTF-8 bytes (JavaScript's default order, by UTF-16 unit, differs past U+FFFF). */
export function sortedKeys(index: EtagIndex): string[] {
  return [...index.keys()]
    .map((key) => ({ key, bytes: Buffer.from(key, "utf8") }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((entry) => entry.key);
}

/** An ETag as minio-go hands it to Flux: one pair of surrounding quotes dropped. */
export function bareEtag(etag: string | undefined): string {
  const text = etag ?? "";
  return text.replace(/^"/, "").replace(/"$/, "");
}
