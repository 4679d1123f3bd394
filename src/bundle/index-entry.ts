import * as z from "zod/mini";
import { type IndexEntry } from "./channel.js";
import { ownerName, refKey, type BundleOwner } from "./bundle.js";
import { isDnsLabel, isDnsSubdomain } from "../api/dns-names.js";

// The index is not signed: whoever can write the bucket can write it. Its entries only say where to
// look (the bundle itself is verified), but both the agent and the control plane read its fields, so
// each entry is checked here before either trusts its shape. (zod's tree-shakable build: the tick function reads
// the channel and must not load the full one.)

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const digest = () => z.string().check(z.regex(DIGEST, "expected sha256:<64 hex digits>"));
const upTo = (n: number) => z.string().check(z.maxLength(n));

const indexEntry = z.object({
  kustomization: z.object({
    namespace: z.string(),
    name: z.string(),
    kind: z.optional(z.literal("HelmRelease")),
  }),
  digest: digest(),
  contentDigest: digest(),
  sequence: z.int().check(z.nonnegative()),
  revision: upTo(1024),
  publishedAt: upTo(64),
  withdrawn: z.optional(z.literal(true)),
});

/** An index entry the agent can act on, or the reason it cannot (reported under the entry's key). */
export type CheckedEntry =
  { ref: BundleOwner; entry: IndexEntry } | { ref: BundleOwner; digest: string; problem: string };

/**
 * The object an index key names — `<namespace>/<name>` a Kustomization, `HelmRelease/<namespace>/<name>` a
 * HelmRelease —; undefined for anything else (no report can go there).
 */
export function refOfIndexKey(key: string): BundleOwner | undefined {
  const parts = key.split("/");
  const kind = parts.length === 3 && parts[0] === "HelmRelease" ? ("HelmRelease" as const) : undefined;
  const [namespace, name, ...rest] = kind ? parts.slice(1) : parts;
  if (rest.length > 0 || !namespace || !name || !isDnsLabel(namespace) || !isDnsSubdomain(name)) return undefined;
  return { namespace, name, ...(kind && { kind }) };
}

/**
 * Checks one entry of the index: well formed, and about the Kustomization its key names. Undefined when the key
 * itself is malformed.
 */
export function checkIndexEntry(key: string, value: unknown): CheckedEntry | undefined {
  const ref = refOfIndexKey(key);
  if (!ref) return undefined;
  const digest =
    typeof (value as { digest?: unknown } | null)?.digest === "string"
      ? (value as { digest: string }).digest.slice(0, 100)
      : "";
  const parsed = indexEntry.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ref, digest, problem: `index entry ${key}: ${issue.path.join(".") || "entry"}: ${issue.message}` };
  }
  if (refKey(parsed.data.kustomization) !== key)
    return { ref, digest, problem: `index entry ${key} names ${ownerName(parsed.data.kustomization)}` };
  return { ref, entry: parsed.data };
}
