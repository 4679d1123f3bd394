import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { HandledLog } from "../notify/queued-delivery.js";
import { statusOf } from "./s3-store.js";

/** Prefix of the notify function's handled records; a lifecycle rule expires them after the dead-letter queue's retention. */
export const HANDLED_PREFIX = "notifications/handled/";

/** Notifications handled (sent, or failed for good), per Alert, as empty objects `notifications/handled/<id>` (ids are hashes, never message text). */
export class S3HandledLog implements HandledLog {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async wasHandled(id: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: `${HANDLED_PREFIX}${id}` }));
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  async markHandled(id: string): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: `${HANDLED_PREFIX}${id}`, Body: "", ContentLength: 0 }),
    );
  }
}
