import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  digestOfPath,
  parseReceiverRecord,
  type ReceiverIndex,
  type ReceiverRecord,
} from "../notify/receiver-index.js";
import { statusOf } from "./s3-store.js";

/**
 * The receiver index on S3: `receivers/<digest>.json`, SSE-KMS with the stack's key when one is
 * given, else SSE-S3 (each record holds a Receiver's token). The webhook function may read only this prefix.
 */
export class S3ReceiverIndex implements ReceiverIndex {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly kmsKeyId?: string,
  ) {}

  async get(digest: string): Promise<ReceiverRecord | undefined> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(digest) }));
      return parseReceiverRecord(await answer.Body!.transformToString(), `s3://${this.bucket}/${this.key(digest)}`);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async put(digest: string, record: ReceiverRecord): Promise<void> {
    const encryption = this.kmsKeyId
      ? { ServerSideEncryption: "aws:kms" as const, SSEKMSKeyId: this.kmsKeyId }
      : { ServerSideEncryption: "AES256" as const };
    const body = JSON.stringify(record);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(digest),
        Body: body,
        ContentType: "application/json",
        ...encryption,
      }),
    );
  }

  async delete(digest: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(digest) }));
  }

  private key(digest: string): string {
    if (!digestOfPath(`/hook/${digest}`))
      throw new Error(`receiver index: '${digest.slice(0, 80)}' is not a webhook path digest`);
    return `receivers/${digest}.json`;
  }
}
