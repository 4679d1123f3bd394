import { z } from "zod";
import { receiverSpec } from "../api/receiver.js";

/** One resource a delivery triggers, namespace resolved; `name: "*"` selects by `matchLabels` in the worker. */
export const receiverTarget = z.strictObject({
  kind: z.string().min(1),
  namespace: z.string().min(1),
  name: z.string().min(1),
  matchLabels: z.record(z.string(), z.string()).optional(),
});
export type ReceiverTarget = z.infer<typeof receiverTarget>;

/**
 * What a webhook delivery needs to be verified and enqueued, published by the worker when it
 * reconciles a Receiver: the webhook reads this one record and nothing else (no Store, no Secrets).
 * It holds the token because HMAC verification needs it; adapters keep it encrypted or owner-only.
 */
export const receiverRecord = z.strictObject({
  namespace: z.string().min(1),
  name: z.string().min(1),
  type: receiverSpec.shape.type,
  events: z.array(z.string()),
  token: z.string().min(1),
  suspend: z.boolean(),
  resources: z.array(receiverTarget),
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
