import { createHash } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ArtifactStore, StoredArtifact } from "../artifacts/artifact-store.js";
import { listKeys, statusOf } from "./s3-store.js";

/**
 * Artifacts on S3 under `<prefix><path>`: encrypted with SSE-KMS when a key is given (SSE-S3
 * otherwise), the sha256 digest stored as metadata and checked on read.
 */
export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly options: { prefix?: string; kmsKeyId?: string } = {},
  ) {}

  async put(path: string, data: Buffer): Promise<StoredArtifact> {
    const digest = digestOf(data);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(path),
        Body: data,
        ContentType: "application/gzip",
        Metadata: { digest },
        ...(this.options.kmsKeyId
          ? { ServerSideEncryption: "aws:kms", SSEKMSKeyId: this.options.kmsKeyId }
          : { ServerSideEncryption: "AES256" }),
      }),
    );
    return { path, digest, size: data.length, url: `s3://${this.bucket}/${this.key(path)}` };
  }

  async get(path: string, digest?: string): Promise<Buffer | undefined> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      const data = Buffer.from(await answer.Body!.transformToByteArray());
      if (digest && digestOf(data) !== digest)
        throw new Error(`artifact ${path}: digest ${digestOf(data)} does not match the expected ${digest}`);
      return data;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async delete(path: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
  }

  async list(prefix: string): Promise<string[]> {
    return (await listKeys(this.s3, this.bucket, this.key(prefix)))
      .map((k) => k.slice((this.options.prefix ?? "artifacts/").length))
      .sort();
  }

  private key(path: string): string {
    if (path.startsWith("/") || path.split("/").includes(".."))
      throw new Error(`artifact path '${path}' must be relative`);
    return `${this.options.prefix ?? "artifacts/"}${path}`;
  }
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}
