import * as z from "zod/mini";
import { RECEIVER_TYPES } from "../api/receiver-types.js";

// zod's tree-shakable build: the webhook function validates this one record, and the full build would be a third of
// its bundle.

const nonEmpty = () => z.string().check(z.minLength(1));

/** One resource a delivery triggers, namespace resolved; `name: "*"` selects by `matchLabels` in the worker. */
export const receiverTarget = z.strictObject({
  kind: nonEmpty(),
  namespace: nonEmpty(),
  name: nonEmpty(),
  matchLabels: z.optional(z.record(z.string(), z.string())),
});
export type ReceiverTarget = z.infer<typeof receiverTarget>;

/**
 * What a webhook delivery needs to be verified and enqueued, published by the worker when it
 * reconciles a Receiver: the webhook reads this one record and nothing else (no Store, no Secrets).
 * It holds the token because HMAC verification needs it; adapters keep it encrypted or owner-only.
 */
export const receiverRecord = z.strictObject({
  namespace: nonEmpty(),
  name: nonEmpty(),
  type: z.enum(RECEIVER_TYPES),
  events: z.array(z.string()),
  token: nonEmpty(),
  suspend: z.boolean(),
  resources: z.array(receiverTarget),
  /** gcr only: the Secret's `email` and `audience` the ID token must carry (empty when the Secret has none). */
  gcr: z.optional(z.strictObject({ email: z.string(), audience: z.string() })),
});
export type ReceiverRecord = z.infer<typeof receiverRecord>;

/** Receivers by webhook path digest (the 64 hex characters after `/hook/`). */
export interface ReceiverIndex {
  get(digest: string): Promise<ReceiverRecord | undefined>;
  put(digest: string, record: ReceiverRecord): Promise<void>;
  /** No error when already gone. */
  delete(digest: string): Promise<void>;
}

const HOOK_PATH = /^\/hook\/([0-9a-f]{64})$/;

/**
 * The digest of a `/hook/<sha256 hex>` path; undefined for anything else, so no other text reaches a file name or
 * an S3 key.
 */
export function digestOfPath(path: string): string | undefined {
  return HOOK_PATH.exec(path)?.[1];
}

/** Parses a stored record, naming where it came from when it is not one. */
export function parseReceiverRecord(text: string, where: string): ReceiverRecord {
  const parsed = receiverRecord.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(
      `${where}: invalid receiver record: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}
