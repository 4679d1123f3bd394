import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { MemoryTree } from "../../artifacts/memory-tree.js";
import { bareEtag, type EtagIndex } from "./index-digest.js";
import {
  BucketOperationError,
  describeError,
  errorName,
  IGNORE_FILE,
  printable,
  readBody,
  type BucketLimits,
  type Listing,
} from "./listing.js";

// source-controller's fetchIndexFiles: every indexed object downloaded, in parallel up to a bound,
// into a tree the artifact is archived from. An object that changed since the listing keeps the
// ETag it was downloaded with; one that disappeared leaves the index, as in Flux.

/** Downloads at once: enough to hide S3's per-request latency, few enough to keep memory flat. */
const CONCURRENCY = 64;

/** The downloaded tree and the index as the downloads saw it. */
export interface Download {
  tree: MemoryTree;
  index: EtagIndex;
}

export async function downloadObjects(
  client: S3Client,
  bucketName: string,
  listing: Listing,
  options: { signal: AbortSignal; limits: BucketLimits },
): Promise<Download> {
  const index: EtagIndex = new Map(listing.index);
  const bodies = new Map<string, { body: Buffer }>();
  const keys = [...listing.index.keys()];
  const budget = { total: options.limits.maxBytes, left: options.limits.maxBytes };
  let next = 0;
  // The first failure stops the other downloads instead of letting them run to the end.
  const failed = new AbortController();
  const signal = AbortSignal.any([options.signal, failed.signal]);
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      let answer;
      try {
        answer = await client.send(new GetObjectCommand({ Bucket: bucketName, Key: key }), { abortSignal: signal });
      } catch (error) {
        if (errorName(error) === "NoSuchKey") {
          index.delete(key);
          continue;
        }
        throw fetchFailed(bucketName, `failed to get '${printable(key)}' object: ${describeError(error)}`);
      }
      const body = await readBody(answer.Body, budget, key).catch((error: unknown) => {
        if (error instanceof BucketOperationError) throw fetchFailed(bucketName, error.message);
        throw fetchFailed(bucketName, `failed to get '${printable(key)}' object: ${describeError(error)}`);
      });
      bodies.set(key, { body });
      const etag = bareEtag(answer.ETag);
      if (etag && etag !== index.get(key)) index.set(key, etag);
    }
  };
  const workers = Array.from({ length: Math.min(CONCURRENCY, keys.length) }, () =>
    worker().catch((error: unknown) => {
      failed.abort();
      throw error;
    }),
  );
  await Promise.all(workers);
  const tree = new MemoryTree();
  if (listing.ignoreFile) tree.addFile(IGNORE_FILE, listing.ignoreFile, false);
  for (const key of keys) {
    const found = bodies.get(key);
    if (found) tree.addFile(key, found.body, false);
  }
  return { tree, index };
}

function fetchFailed(bucketName: string, message: string): BucketOperationError {
  return new BucketOperationError(`fetch from bucket '${bucketName}' failed: ${message}`);
}
