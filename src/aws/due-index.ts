import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ReconcileRequest } from "../queue/queue.js";
import { listKeys, statusOf } from "./s3-store.js";

const PREFIX = "due/";
const CURSOR = "due-cursor";
/** How far back a tick looks when it has no cursor (first run, or after an outage). */
const MAX_CATCH_UP_MINUTES = 60;

/**
 * Requeues due later than SQS can delay, in S3 by minute: `due/<YYYY-MM-DDTHH:MM>/<request>`, the
 * request itself (base64url JSON) being the key's last part, so a tick needs only a listing of the
 * minutes since its cursor (no GET per entry, never a listing of every object): its cost follows
 * what is due, not the fleet size.
 */
export class DueIndex {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async schedule(request: ReconcileRequest, dueAt: number): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${PREFIX}${minute(dueAt)}/${Buffer.from(JSON.stringify(request)).toString("base64url")}`,
        Body: "",
        ContentLength: 0,
      }),
    );
  }

  /** Takes every request due up to `now` (inclusive of its minute), oldest first, and advances the cursor. */
  async takeDue(now: number): Promise<ReconcileRequest[]> {
    const cursor = await this.cursor();
    const from = cursor !== undefined ? cursor + 60_000 : now - MAX_CATCH_UP_MINUTES * 60_000;
    const taken: ReconcileRequest[] = [];
    for (let t = Math.floor(from / 60_000) * 60_000; t <= now; t += 60_000) {
      const prefix = `${PREFIX}${minute(t)}/`;
      const keys = await listKeys(this.s3, this.bucket, prefix);
      taken.push(
        ...keys.map(
          (key) => JSON.parse(Buffer.from(key.slice(prefix.length), "base64url").toString("utf8")) as ReconcileRequest,
        ),
      );
      // DeleteObjects takes at most 1,000 keys a call.
      for (let i = 0; i < keys.length; i += 1_000) {
        await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.slice(i, i + 1_000).map((Key) => ({ Key })), Quiet: true },
          }),
        );
      }
    }
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: CURSOR, Body: String(Math.floor(now / 60_000) * 60_000) }),
    );
    return taken;
  }

  private async cursor(): Promise<number | undefined> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: CURSOR }));
      return Number(await answer.Body!.transformToString());
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

/** `2026-11-24T22:35` for a time in ms (UTC). */
function minute(ms: number): string {
  return new Date(Math.floor(ms / 60_000) * 60_000).toISOString().slice(0, 16);
}
