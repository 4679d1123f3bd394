import { z } from "zod";
import { type IndexEntry } from "./channel.js";
import { refKey, type KustomizationRef } from "./bundle.js";
import { isDnsLabel, isDnsSubdomain } from "../api/meta.js";

// The index is not signed: whoever can write the bucket can write it. Its entries only say where to
// look (the bundle itself is verified), but both the agent and the control plane read its fields, so
// each entry is checked here before either trusts its shape.

const DIGEST = /^sha256:[0-9a-f]{64}$/;

const indexEntry = z.object({
  kustomization: z.object({ namespace: z.string(), name: z.string() }),
  digest: z.string().regex(DIGEST, "expected sha256:<64 hex digits>"),
  contentDigest: z.string().regex(DIGEST, "expected sha256:<64 hex digits>"),
  sequence: z.number().int().nonnegative(),
  revision: z.string().max(1024),
  publishedAt: z.string().max(64),
  withdrawn: z.literal(true).optional(),
});

/** An index entry the agent can act on, or the reason it cannot (reported under the entry's key). */
export type CheckedEntry =
  { ref: KustomizationRef; entry: IndexEntry } | { ref: KustomizationRef; digest: string; problem: string };

/** The Kustomization an index key `<namespace>/<name>` names; undefined for anything else (no report can go there). */
export function refOfIndexKey(key: string): KustomizationRef | undefined {
  const [namespace, name, ...rest] = key.split("/");
  if (rest.length > 0 || !namespace || !name || !isDnsLabel(namespace) || !isDnsSubdomain(name)) return undefined;
  return { namespace, name };
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
    return { ref, digest, problem: `index entry ${key} names Kustomization ${refKey(parsed.data.kustomization)}` };
  return { ref, entry: parsed.data };
}
