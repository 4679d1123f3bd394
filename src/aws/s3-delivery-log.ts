import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { DeliveryLog } from "../notify/delivery-log.js";
import { statusOf } from "./s3-store.js";

/** Delivery ids in S3 (`deliveries/<key>`), recorded with If-None-Match; a lifecycle rule expires them. */
export class S3DeliveryLog implements DeliveryLog {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async first(key: string): Promise<boolean> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: `deliveries/${key}`,
          Body: "",
          ContentLength: 0,
          IfNoneMatch: "*",
        }),
      );
      return true;
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 409) return false;
      throw error;
    }
  }

  async forget(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: `deliveries/${key}` }));
  }
}
