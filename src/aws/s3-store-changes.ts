import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";

/**
 * Tells listeners when the Store in S3 changed, for the web UI's live updates: S3 has no watch, so while anyone
 * listens the Store's keys and ETags are listed every `everyMs` (one LIST per 1,000 objects, no object read) and a
 * difference from the last listing calls every listener. Nothing is listed while no page is open.
 */
export function storeChanges(
  s3: S3Client,
  bucket: string,
  everyMs: number,
  onError: (error: unknown) => void,
  prefix = "store/",
): (listener: () => void) => () => void {
  const listeners = new Set<() => void>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last: string | undefined;
  const poll = async () => {
    try {
      const now = await signature(s3, bucket, prefix);
      if (last !== undefined && now !== last) for (const listener of listeners) listener();
      last = now;
    } catch (error) {
      onError(error);
    }
    if (listeners.size > 0) timer = setTimeout(() => void poll(), everyMs);
  };
  return (listener) => {
    listeners.add(listener);
    if (listeners.size === 1) timer = setTimeout(() => void poll(), 0);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) {
        clearTimeout(timer);
        last = undefined;
      }
    };
  };
}

/** Every key under the prefix with its ETag, page after page: changes when any object is written, made or removed. */
async function signature(s3: S3Client, bucket: string, prefix: string): Promise<string> {
  const parts: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const item of page.Contents ?? []) parts.push(`${item.Key} ${item.ETag}`);
    token = page.NextContinuationToken;
  } while (token);
  return parts.join("\n");
}
