import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SentLog } from "../notify/queued-delivery.js";
import { statusOf } from "./s3-store.js";

/** Prefix of the notify function's sent records; a lifecycle rule expires them after the dead-letter queue's retention. */
export const SENT_PREFIX = "notifications/sent/";

/** Notifications sent, per Alert, as empty objects `notifications/sent/<id>` (ids are hashes, never message text). */
export class S3SentLog implements SentLog {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async wasSent(id: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: `${SENT_PREFIX}${id}` }));
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  async markSent(id: string): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: `${SENT_PREFIX}${id}`, Body: "", ContentLength: 0 }),
    );
  }
}
